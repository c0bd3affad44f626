/**
 * The requester's Jobs through the gateway: `emeth jobs` (the list), `emeth result` (the result,
 * converted by the gateway to .npy/.npz/.csv or as stored, written atomically) and `emeth cancel`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { EmethConfig } from '../../lib/config';
import { EmethError } from '../../lib/errors';
import { JOB_STATUSES } from '../../lib/types';
import { DEMO_PROGRAMS } from '../../lib/types-chain';
import { readDataset, writeDataset } from '../../lib/tensors';
import { GatewayClient } from '../gateway-client';
import {
  UsageError,
  resultFormat,
  runCommand,
  stringOption,
  RESULT_FORMATS,
  type CommandSpec,
  type Io,
  type Parsed,
} from './args';
import { KEY_OPTIONS, loadSigner } from './keys';

const JOBS: CommandSpec = {
  name: 'jobs',
  summary: 'Your Jobs, newest first, one line each: id, program, status, created, fee.',
  options: {
    ...KEY_OPTIONS,
    status: { type: 'string', value: 's', help: `only Jobs in this status (${JOB_STATUSES.join(', ')})` },
    limit: { type: 'string', value: 'N', help: 'at most N Jobs (default 20, at most 1000)' },
  },
  positionals: { min: 0, max: 0 },
};

const RESULT: CommandSpec = {
  name: 'result',
  args: '<jobId>',
  summary:
    "Downloads a completed Job's result into a file (written whole or not at all). The format is --format,\nelse the file's extension (.npy, .npz, .csv), else the result's bytes as stored.",
  options: {
    ...KEY_OPTIONS,
    output: { type: 'string', short: 'o', value: 'file', help: 'the file to write (required)' },
    format: { type: 'string', value: RESULT_FORMATS.join('|'), help: 'convert the result to this format' },
  },
  positionals: { min: 1, max: 1 },
};

const CANCEL: CommandSpec = {
  name: 'cancel',
  args: '<jobId>',
  summary:
    'Cancels a Job: before processing everything is released; during it, pending SubJobs stop, verified\nwork is paid and the rest is refunded.',
  options: KEY_OPTIONS,
  positionals: { min: 1, max: 1 },
};

interface JobSummary {
  id: string;
  status: string;
  programId: number;
  createdAt: string;
  fees: {
    emeth: { feeLimit: string; verifierFee: string; reserved: string; charged: string; refunded: string };
  };
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

async function client(p: Parsed, config: EmethConfig, io: Io): Promise<GatewayClient> {
  return new GatewayClient(config.gateway.url, await loadSigner(p, config, io), config.chain.chainId);
}

function checkJobId(id: string): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(id))
    throw new UsageError(`"${id}" is not a Job id (0x and 64 hex digits); \`emeth jobs\` lists yours`);
  return id.toLowerCase();
}

function programName(id: number): string {
  return DEMO_PROGRAMS.find((p) => p.programId === id)?.name ?? `program ${id}`;
}

/** One line of `emeth jobs`. */
export function jobLine(j: JobSummary): string {
  const f = j.fees.emeth;
  const fee = TERMINAL.has(j.status)
    ? `${f.charged} EMETH charged`
    : `${f.reserved !== '0' ? f.reserved : f.feeLimit} EMETH reserved`;
  return [j.id, programName(j.programId).padEnd(15), j.status.padEnd(16), j.createdAt, fee].join('  ');
}

export function jobs(argv: string[], config: EmethConfig, io: Io): Promise<number> {
  return runCommand(JOBS, argv, io, async (p) => {
    const status = stringOption(p, 'status');
    if (status !== undefined && !(JOB_STATUSES as readonly string[]).includes(status))
      throw new UsageError(`--status ${status} is not a Job status; use one of ${JOB_STATUSES.join(', ')}`);
    const limitText = stringOption(p, 'limit') ?? '20';
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > 1000)
      throw new UsageError(`--limit ${limitText} is not a whole number from 1 to 1000`);
    const gw = await client(p, config, io);
    const rows: JobSummary[] = [];
    let cursor: string | undefined;
    let more: boolean;
    do {
      const page = await gw.listJobs<{ jobs: JobSummary[]; nextCursor: string | null }>({
        status,
        limit: Math.min(100, limit - rows.length),
        cursor,
      });
      rows.push(...page.jobs);
      cursor = page.nextCursor ?? undefined;
      more = cursor !== undefined;
    } while (more && rows.length < limit);
    if (rows.length === 0) {
      io.out(status ? `no Jobs in status ${status}` : 'no Jobs yet; submit one with `emeth submit`');
      return;
    }
    for (const j of rows) io.out(jobLine(j));
    if (more) io.out(`… more Jobs; raise --limit (now ${limit}) to see them`);
  });
}

/** Writes `bytes` to `file` through a temporary file in the same directory and a rename: whole or not at all. */
export function writeAtomically(file: string, bytes: Uint8Array): void {
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir))
    throw new EmethError('OUTPUT', `the directory ${dir} does not exist; create it first`);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    try {
      fs.writeSync(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new EmethError(
      'OUTPUT',
      `could not write ${file} (${(err as Error).message}); check the path and free space`,
    );
  }
}

export function result(argv: string[], config: EmethConfig, io: Io): Promise<number> {
  return runCommand(RESULT, argv, io, async (p) => {
    const jobId = checkJobId(p.positionals[0]!);
    const out = stringOption(p, 'output');
    if (!out) throw new UsageError('emeth result needs -o <file>: where to write the result');
    const format = resultFormat(stringOption(p, 'format'), out);
    const gw = await client(p, config, io);
    let bytes: Uint8Array;
    let how: string;
    const answer = await gw.jobResult(jobId, format);
    if (format && !answer.contentType.startsWith('application/json')) {
      bytes = answer.bytes;
      how = `${format}, converted by the gateway`;
    } else {
      const meta = JSON.parse(Buffer.from(answer.bytes).toString('utf8')) as {
        result: string;
        download?: string;
      };
      const stored = await gw.download(meta.download ?? `/v1/blobs/${meta.result}`);
      if (format) {
        // A gateway without ?format= answers with the metadata: convert here, with the same readers.
        const ds = await readDataset(stored, undefined, { source: `the result of Job ${jobId}` });
        bytes = writeDataset(format, ds.tensors);
        how = `${format}, converted locally from ${ds.format}: this gateway does not convert results`;
      } else {
        bytes = stored;
        how = 'as stored';
      }
    }
    writeAtomically(out, bytes);
    io.out(`wrote ${bytes.length} bytes to ${out} (${how})`);
  });
}

export function cancel(argv: string[], config: EmethConfig, io: Io): Promise<number> {
  return runCommand(CANCEL, argv, io, async (p) => {
    const jobId = checkJobId(p.positionals[0]!);
    const gw = await client(p, config, io);
    const answer = await gw.cancelJob<{ id: string; status: string; message?: string }>(jobId);
    io.out(`Job ${answer.id} (${answer.status}): ${answer.message ?? 'cancel requested'}`);
  });
}
