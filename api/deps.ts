import type { InferenceRouter } from '../activities/inference/router';
import type { Client } from '@temporalio/client';
import type { TypedDataDomain } from 'ethers';
import type { PayloadCodec } from '@temporalio/common';
import type { Logger } from '../lib/logger';
import type { PrismaClient } from '../prisma/client';
import type { SealedBlobStore } from '../activities/storage-sealed';
import type { InspectInput, InspectReport } from '../lib/programs';
import type { RequestScope } from '../lib/request-auth';

/**
 * What the gateway reads from EmethCore (through the L2 server's chain reader or EMETH Cache). An
 * interface, so the gateway never holds a provider or keys, and tests can answer from a map.
 */
export interface ChainView {
  /** Holon of the requester's L2 deposit not locked by a pending withdrawal (EmethCore.freeDeposit). */
  freeDeposit(requester: string): Promise<bigint>;
  /** Holon a node has staked on EmethCore; 0 for an unregistered node. */
  stakeOf(node: string): Promise<bigint>;
}

/** The dependencies of the `/v1` API; the L2 server builds them once and passes them in. */
export interface ApiDeps {
  prisma: PrismaClient;
  /** EMETH Storage, sealed to the L2's storage key: programs see plaintext, the disk ciphertext. */
  store: SealedBlobStore;
  /** A client on the namespace below; the gateway starts, signals and queries Job workflows with it. */
  temporal: Client;
  chain: ChainView;
  /** Base URL of the Temporal UI (e.g. http://127.0.0.1:8233), for the per-Job link. */
  temporalUiUrl: string;
  namespace: string;
  /** Verifier addresses: they may read every blob (they re-run shards). */
  verifiers: string[];
  /** The L2 server's own address: it may read every blob. */
  l2Address: string;
  /**
   * The task queue Job workflows start on: `taskQueues(prefix).l2` of the deployment (default
   * `emeth-l2`). Must match the queue the L2 worker polls, or Jobs wait forever.
   */
  l2TaskQueue?: string;
  /**
   * The chain id and origin (config `gateway.url`) signed requests must name: a request signed for
   * another deployment or another gateway is refused.
   */
  requestScope: RequestScope;
  /** Milliseconds since the epoch; tests move the clock to expire signed requests. */
  now?: () => number;
  /** How long GET /v1/jobs/:id waits for the workflow's progress query before deriving it from rows (default 2000). */
  progressQueryTimeoutMs?: number;
  /**
   * The deployment's payload codec: served at /codec so the Temporal UI (`--ui-codec-endpoint`) can
   * show decoded payloads. Without it /codec answers 404 and the UI sees ciphertext.
   */
  codec?: PayloadCodec;
  /** An operator token /codec accepts as `Authorization: Bearer <token>` besides API keys (EMETH_CODEC_TOKEN). */
  codecToken?: string;
  /** Let loopback callers use /codec without a token (embedded stack; see api/codec.ts). */
  codecAllowLoopback?: boolean;
  /**
   * The program's own inspection of a Job at submit (ProgramModule.inspect): throws an
   * InspectionError naming the field when the Job cannot run. Absent: Jobs are not inspected.
   */
  inspectJob?: (programId: number, input: InspectInput) => Promise<InspectReport>;
  /** EmethCore's EIP-712 domain: a Job's Commit signature is checked at submit against it. */
  commitDomain?: TypedDataDomain;
  /** The inference service's request path (activities/inference/router). Absent: /v1/deployments answers 503. */
  inference?: InferenceRouter;
  /** GPU rental: seconds per paid lease period (config l2.leasePeriodSeconds; default 3600). */
  leasePeriodSeconds?: number;
}

/** ApiDeps with the defaults filled in, as the routes see them. */
export interface ApiContext
  extends
    Required<
      Omit<
        ApiDeps,
        | 'verifiers'
        | 'l2Address'
        | 'codec'
        | 'codecToken'
        | 'codecAllowLoopback'
        | 'inspectJob'
        | 'commitDomain'
        | 'inference'
        | 'leasePeriodSeconds'
      >
    >,
    Pick<ApiDeps, 'inspectJob' | 'commitDomain' | 'inference' | 'leasePeriodSeconds'> {
  logger: Logger;
  /** Lower-case verifier and L2 addresses. */
  readAll: ReadonlySet<string>;
}
