import { Wallet } from 'ethers';
import {
  declineClaimOf,
  declineSigner,
  inputDigestOf,
  replicaCommitment,
  resultBindingProblem,
  resultClaimOf,
  signDecline,
  signResult,
} from '../../lib/attestations';
import { emethDomain } from '../../lib/tickets';
import type { NodeResult, NodeTask } from '../../lib/pipeline';

const domain = emethDomain(31337, '0x' + '11'.repeat(20));
const node = Wallet.createRandom();
const other = Wallet.createRandom();
const task: NodeTask = {
  jobId: '0x' + 'aa'.repeat(32),
  subJobId: '0x' + 'bb'.repeat(32),
  programId: 11,
  shard: { index: 0, blobId: 'cc'.repeat(32), rowStart: 0, rowEnd: 10, rows: 10, cols: 4, bytes: 200 },
  modelBlobId: 'dd'.repeat(32),
  fuelLimit: '1000',
  attempt: 2,
};
const output = 'ee'.repeat(32);

async function honestResult(signer = node, as: NodeTask = task): Promise<NodeResult> {
  const claim = resultClaimOf(as, node.address, output, '7');
  return {
    jobId: as.jobId,
    subJobId: as.subJobId,
    attempt: as.attempt,
    nodeId: node.address.toLowerCase(),
    inputDigest: inputDigestOf(as),
    output,
    fuelUsed: '7',
    signature: await signResult(signer, domain, claim),
    executionProvider: 'cpu',
  };
}

describe('a result is bound to its assignment', () => {
  it('accepts the assigned node’s signed answer to exactly this task', async () => {
    expect(resultBindingProblem(domain, task, node.address, await honestResult())).toBeUndefined();
  });

  it.each<[string, (r: NodeResult) => NodeResult, RegExp]>([
    ['a sibling SubJob', (r) => ({ ...r, subJobId: '0x' + '01'.repeat(32) }), /names subJobId/],
    ['another attempt', (r) => ({ ...r, attempt: 3 }), /names attempt/],
    ['another Job', (r) => ({ ...r, jobId: '0x' + '02'.repeat(32) }), /names jobId/],
    ['another node', (r) => ({ ...r, nodeId: other.address.toLowerCase() }), /names node/],
    ['other inputs', (r) => ({ ...r, inputDigest: '0x' + '03'.repeat(32) }), /names inputDigest/],
    ['an altered output', (r) => ({ ...r, output: 'ff'.repeat(32) }), /signed by 0x/],
    ['an altered fuel', (r) => ({ ...r, fuelUsed: '8' }), /signed by 0x/],
    ['a garbage signature', (r) => ({ ...r, signature: '0x1234' }), /malformed/],
  ])('refuses %s', async (_what, alter, problem) => {
    expect(resultBindingProblem(domain, task, node.address, alter(await honestResult()))).toMatch(problem);
  });

  it('refuses a result signed by any key but the assigned node’s', async () => {
    expect(resultBindingProblem(domain, task, node.address, await honestResult(other))).toMatch(
      /not by the assigned node/,
    );
  });

  it('refuses a properly signed answer to another assignment (a sibling’s task)', async () => {
    const sibling = { ...task, subJobId: '0x' + '04'.repeat(32) };
    const forged = await honestResult(node, sibling);
    expect(resultBindingProblem(domain, task, node.address, forged)).toMatch(/names subJobId/);
  });

  it('changes the input digest with any input', () => {
    const base = inputDigestOf(task);
    expect(inputDigestOf({ ...task, fuelLimit: '1001' })).not.toBe(base);
    expect(inputDigestOf({ ...task, modelBlobId: '00'.repeat(32) })).not.toBe(base);
    expect(inputDigestOf({ ...task, params: { bins: '10' } })).not.toBe(base);
    expect(inputDigestOf({ ...task, params: { a: '1', b: '2' } })).toBe(
      inputDigestOf({ ...task, params: { b: '2', a: '1' } }),
    );
  });
});

describe('a decline counts only when the assigned node signed it for this attempt', () => {
  it('recovers the node from its own decline, and no one else from a decline of another attempt', async () => {
    const sig = await signDecline(node, domain, declineClaimOf(task, node.address));
    expect(declineSigner(domain, declineClaimOf(task, node.address), sig)).toBe(node.address.toLowerCase());
    expect(declineSigner(domain, declineClaimOf({ ...task, attempt: 3 }, node.address), sig)).not.toBe(
      node.address.toLowerCase(),
    );
    const forged = await signDecline(other, domain, declineClaimOf(task, node.address));
    expect(declineSigner(domain, declineClaimOf(task, node.address), forged)).not.toBe(
      node.address.toLowerCase(),
    );
  });
});

describe('replica commitments (commit–reveal)', () => {
  const r = {
    subJobId: '0x' + '11'.repeat(32),
    attempt: 2,
    nodeId: '0x' + '22'.repeat(20),
    output: 'ab'.repeat(32),
    fuelUsed: '288',
    signature: '0x' + '33'.repeat(65),
  };
  const salt = '0x' + '44'.repeat(32);

  it('opens only with the same result and salt', () => {
    const c = replicaCommitment(r, salt);
    expect(replicaCommitment({ ...r }, salt)).toBe(c);
    for (const other of [
      { ...r, output: 'cd'.repeat(32) },
      { ...r, fuelUsed: '289' },
      { ...r, attempt: 3 },
      { ...r, nodeId: '0x' + '55'.repeat(20) },
      { ...r, signature: '0x' + '66'.repeat(65) },
    ])
      expect(replicaCommitment(other, salt)).not.toBe(c);
    expect(replicaCommitment(r, '0x' + '45'.repeat(32))).not.toBe(c);
  });
});
