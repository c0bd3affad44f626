import { emethToken } from '../../contracts/typed';
import { wiringWorkflow } from '../../workflows/wiring';
import { createWiringActivities } from '../../activities/wiring';
import { EmethJobId, EmethStatus } from '../../lib/search-attributes';
import { createTestDatabase } from '../support/db';
import { startTestChain, type TestChain } from '../support/chain';
import { connectTestTemporal, withWorker, type TestTemporal } from '../support/temporal';

// Real Temporal server, real PostgreSQL (or the embedded one), real anvil: nothing here is faked.
describe('wiring workflow through Temporal, the database and the chain', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let chain: TestChain;
  let temporal: TestTemporal;

  beforeAll(async () => {
    [db, chain, temporal] = await Promise.all([
      createTestDatabase(),
      startTestChain(),
      connectTestTemporal('wiring'),
    ]);
  });
  afterAll(async () => {
    await Promise.allSettled([db?.drop(), chain?.stop(), temporal?.close()]);
  });

  it('writes a row holding what it read from the chain, and marks itself done', async () => {
    const activities = createWiringActivities({
      prisma: db.prisma,
      provider: chain.provider,
      tokenAddress: chain.deployment.token,
    });
    const workflowId = `wiring-test-${Date.now()}`;
    const result = await withWorker(
      temporal,
      { workflowsPath: require.resolve('../../workflows'), activities },
      () =>
        temporal.client.workflow.execute(wiringWorkflow, {
          taskQueue: temporal.taskQueue,
          workflowId,
          typedSearchAttributes: [
            { key: EmethJobId, value: workflowId },
            { key: EmethStatus, value: 'running' },
          ],
        }),
    );

    const supply = await emethToken(chain.deployment.token, chain.provider).totalSupply();
    expect(result).toMatchObject({
      checkId: workflowId,
      chainId: 31337,
      tokenAddress: chain.deployment.token,
      tokenSupply: supply.toString(),
    });
    expect(result.blockNumber).toBeGreaterThanOrEqual(chain.deployment.blockNumber);

    const row = await db.prisma.wiringCheck.findUniqueOrThrow({ where: { id: workflowId } });
    expect(row.tokenAddress).toBe(chain.deployment.token);
    expect(row.tokenSupply).toBe(supply.toString());
    expect(Number(row.blockNumber)).toBe(result.blockNumber);

    const description = await temporal.client.workflow.getHandle(workflowId).describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(description.typedSearchAttributes.get(EmethJobId)).toBe(workflowId);
    expect(description.typedSearchAttributes.get(EmethStatus)).toBe('done');
  });

  it('records a check once even when the activity is retried', async () => {
    const activities = createWiringActivities({
      prisma: db.prisma,
      provider: chain.provider,
      tokenAddress: chain.deployment.token,
    });
    const snapshot = await activities.readChain();
    const first = await activities.recordWiringCheck('retry-check', snapshot);
    const second = await activities.recordWiringCheck('retry-check', {
      ...snapshot,
      blockNumber: snapshot.blockNumber + 5,
    });
    expect(second).toEqual(first);
    expect(await db.prisma.wiringCheck.count({ where: { id: 'retry-check' } })).toBe(1);
  });
});
