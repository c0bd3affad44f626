import { checkHealth } from '../../lib/health';

const up = async () => ({ up: true, detail: 'ok' });

describe('checkHealth', () => {
  it('is up only when every part is up', async () => {
    const report = await checkHealth({ gateway: up, database: up, temporal: up, chain: up, worker: up });
    expect(report.status).toBe('up');
    expect(Object.values(report.parts).every((p) => p.up)).toBe(true);
  });

  it('reports a throwing part as down with its message, and the rest as they are', async () => {
    const report = await checkHealth({
      gateway: up,
      database: async () => {
        throw new Error('connection refused');
      },
      temporal: up,
      chain: up,
      worker: up,
    });
    expect(report.status).toBe('down');
    expect(report.parts.database).toEqual({ up: false, error: 'connection refused' });
    expect(report.parts.chain.up).toBe(true);
  });

  it('reports a part that does not answer in time as down', async () => {
    const never = () => new Promise<never>(() => {});
    const report = await checkHealth(
      { gateway: up, database: up, temporal: never, chain: up, worker: up },
      50,
    );
    expect(report.parts.temporal).toEqual({ up: false, error: 'no answer within 50 ms' });
    expect(report.status).toBe('down');
  });
});
