import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';

// Worker state changes at INFO drown test output; warnings and errors still show.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  /* already installed in this test file's realm */
}

export interface TestTemporal {
  address: string;
  client: Client;
  nativeConnection: NativeConnection;
  /** A task queue no other suite uses. */
  taskQueue: string;
  close(): Promise<void>;
}

export function testTemporalAddress(): string {
  const address = process.env.EMETH_TEST_TEMPORAL_ADDRESS;
  if (!address) {
    throw new Error('no test Temporal server: the jest global setup starts one (unset EMETH_TEST_NO_TEMPORAL to get it)');
  }
  return address;
}

/** Connections to the run's Temporal server and a fresh task queue for this suite. */
export async function connectTestTemporal(prefix = 'test'): Promise<TestTemporal> {
  const address = testTemporalAddress();
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  return {
    address,
    client: new Client({ connection }),
    nativeConnection,
    taskQueue: `${prefix}-${randomUUID()}`,
    async close() {
      await connection.close();
      await nativeConnection.close();
    },
  };
}

/** Runs `fn` while a worker polls the suite's task queue, then shuts the worker down. */
export async function withWorker<T>(
  t: TestTemporal,
  options: Omit<WorkerOptions, 'connection' | 'taskQueue'>,
  fn: () => Promise<T>,
): Promise<T> {
  const worker = await Worker.create({ ...options, connection: t.nativeConnection, taskQueue: t.taskQueue });
  return worker.runUntil(fn);
}
