import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** The ways a marker could show up in bytes: raw, base64 and hex (JSON payloads carry the latter two). */
function spellings(marker: Buffer): Buffer[] {
  return [marker, Buffer.from(marker.toString('base64')), Buffer.from(marker.toString('hex'))];
}

export function storageFilesContaining(
  storageDir: string,
  markers: Buffer[],
): { files: number; hits: string[] } {
  const files = filesUnder(storageDir);
  const hits: string[] = [];
  for (const f of files) {
    const bytes = fs.readFileSync(f);
    for (const [i, m] of markers.entries())
      if (spellings(m).some((s) => bytes.includes(s))) hits.push(`marker ${i} in ${f}`);
  }
  return { files: files.length, hits };
}

/**
 * Raw histories (no codec) of every workflow of a Job, found by its EmethJobId: each run of the Job
 * workflow (epochs continue as new) and every SubJob child, encoded as the server stores them.
 */
export async function rawHistoriesOfJob(
  client: Client,
  namespace: string,
  jobId: string,
): Promise<{ workflows: number; bytes: Buffer; encodings: Set<string> }> {
  const parts: Buffer[] = [];
  const encodings = new Set<string>();
  let workflows = 0;
  for await (const w of client.workflow.list({ query: `EmethJobId='${jobId}'` })) {
    workflows += 1;
    let nextPageToken: Uint8Array | undefined;
    do {
      const res = await client.workflowService.getWorkflowExecutionHistory({
        namespace,
        execution: { workflowId: w.workflowId, runId: w.runId },
        nextPageToken,
      });
      parts.push(
        Buffer.from(temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse.encode(res).finish()),
      );
      for (const event of res.history?.events ?? []) collectEncodings(event, encodings);
      nextPageToken = res.nextPageToken?.length ? res.nextPageToken : undefined;
    } while (nextPageToken);
  }
  return { workflows, bytes: Buffer.concat(parts), encodings };
}

/**
 * Paths whose payloads are plain by design and carry no user data: search attributes (the server
 * indexes them: ids and statuses such as EmethJobId) and the SDK's own local-activity marker data
 * (activity type, sequence number, attempt); the marker's result is a payload like any other.
 */
const PLAIN_BY_DESIGN = [/searchAttributes$/i, /markerRecordedEventAttributes\.details\.data$/];

/** The `encoding` metadata of every payload in an event, outside the paths above. */
function collectEncodings(node: unknown, into: Set<string>, where = ''): void {
  if (!node || typeof node !== 'object' || PLAIN_BY_DESIGN.some((re) => re.test(where))) return;
  const o = node as Record<string, unknown>;
  if (o.metadata && typeof o.metadata === 'object' && 'data' in o) {
    const enc = (o.metadata as Record<string, Uint8Array>).encoding;
    if (enc) into.add(Buffer.from(enc).toString());
  }
  for (const [k, v] of Object.entries(o)) {
    if (v instanceof Uint8Array) continue;
    if (Array.isArray(v)) v.forEach((x) => collectEncodings(x, into, `${where}.${k}`));
    else collectEncodings(v, into, `${where}.${k}`);
  }
}

export function markersIn(bytes: Buffer, markers: Buffer[]): number[] {
  return markers.flatMap((m, i) => (spellings(m).some((s) => bytes.includes(s)) ? [i] : []));
}
