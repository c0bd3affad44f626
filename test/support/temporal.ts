import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { CodecKeyring } from '../../lib/payload-codec';
import { parseCodecKeys } from '../../workers/shared/codec-keys';
import { dataConverter } from '../../workers/shared/data-converter';

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
    throw new Error(
      'no test Temporal server: the jest global setup starts one (unset EMETH_TEST_NO_TEMPORAL to get it)',
    );
  }
  return address;
}

/** The run's payload keys: the global setup puts one random key in EMETH_CODEC_KEYS for every process. */
export function testKeyring(): CodecKeyring {
  const keys = process.env.EMETH_CODEC_KEYS;
  if (!keys) throw new Error('EMETH_CODEC_KEYS is unset: the jest global setup sets it for the whole run');
  return parseCodecKeys(keys, process.env.EMETH_CODEC_KEY_ID || undefined);
}

/** The data converter of EMETH's clients and workers, with the run's keys. */
export function testDataConverter(): DataConverter {
  return dataConverter(testKeyring());
}

/** Connections to the run's Temporal server and a fresh task queue for this suite. */
export async function connectTestTemporal(prefix = 'test'): Promise<TestTemporal> {
  const address = testTemporalAddress();
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  return {
    address,
    client: new Client({ connection, dataConverter: testDataConverter() }),
    nativeConnection,
    taskQueue: `${prefix}-${randomUUID()}`,
    async close() {
      await connection.close();
      await nativeConnection.close();
    },
  };
}

/** Runs `fn` while a worker (with the codec unless `options` names another converter) polls the suite's task queue, then shuts the worker down. */
export async function withWorker<T>(
  t: TestTemporal,
  options: Omit<WorkerOptions, 'connection' | 'taskQueue'>,
  fn: () => Promise<T>,
): Promise<T> {
  const worker = await Worker.create({
    dataConverter: testDataConverter(),
    ...options,
    connection: t.nativeConnection,
    taskQueue: t.taskQueue,
  });
  return worker.runUntil(fn);
}
