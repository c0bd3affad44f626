/**
 * Everything the L2 worker serves on `emeth-l2`: one factory per paper component (activities/…),
 * each over only the dependencies it needs.
 */
import type { VerificationPolicy } from '../../lib/verification-policy';
import type { TypedDataDomain } from 'ethers';
import type { PrismaClient } from '../../prisma/client';
import type { Logger } from '../../lib/logger';
import type { DispatchSettings, L2Activities } from '../../lib/pipeline';
import type { L2Metrics } from './metrics';
import type { FeeParams } from '../../lib/fees';
import type { ProgramModule } from '../../lib/programs';
import type { TypedDataSigner } from '../../lib/tickets';
import type { BlobStore } from '../../activities/storage';
import type { L2Chain } from '../../activities/chain';
import { createSplitterActivities } from '../../activities/splitter';
import { createDispatcherActivities } from '../../activities/dispatcher';
import { createStatusActivities } from '../../activities/status';
import { createVerificationActivities } from '../../activities/verification';
import { createResultsActivities } from '../../activities/results';
import { createAggregatorActivities } from '../../activities/aggregator';
import { createLedgerActivities } from '../../activities/ledger';
import { createSignerActivities } from '../../activities/signer';
import { createReconcilerActivities } from '../../activities/reconciler';
import { createMiningActivities, type MiningChain } from '../../activities/mining';
import { createLayerActivities, type LayerDeps } from '../../activities/layer';

export interface L2Deps {
  prisma: PrismaClient;
  store: BlobStore;
  programFor(programId: number): ProgramModule;
  chain: L2Chain;
  signer: TypedDataSigner & { getAddress(): Promise<string> };
  domain: TypedDataDomain;
  verifiers: readonly string[];
  nodesOnline(nodeIds: string[]): Promise<Set<string>>;
  /** Which of these verifiers have a worker polling their own queue (auditors and referees). */
  verifiersOnline(addresses: string[]): Promise<Set<string>>;
  logger: Logger;
  feeParams?: FeeParams;
  maxAttempts?: number;
  window?: number;
  dispatch: DispatchSettings;
  chainCache?: { syncOnce(): Promise<unknown> };
  /** How the workflow of `workflowId` stands: 'running', its close status, or 'missing'. */
  workflowState(workflowId: string): Promise<string>;
  /** Rows younger than this are left to their workflow by the reconciler. */
  reconcileGraceMs?: number;
  /** EMETH_VERIFY_* overrides of the verification policies. */
  verification?: Partial<VerificationPolicy>;
  metrics?: L2Metrics;
  /** The X25519 key a participant vouched for in its node-edge token, if it has connected. */
  participantKey(role: 'verifier' | 'keyholder', address: string): string | undefined;
  /** EmethMining, sending with the L2 key (EPOCH_POSTER_ROLE); absent: the deployment has none. */
  mining?: MiningChain;
  /** EmethCore's L1 market with the L2's key (L1_SERVER_ROLE): L1 Jobs (activities/layer). */
  l1?: LayerDeps['l1'];
}

/** When this process started: the dispatcher forgives timeouts of attempts opened before it. */
const STARTED_AT = new Date();

export function createL2Activities(deps: L2Deps): L2Activities {
  const logger = (component: string) => deps.logger.child({ component });
  const ledger = createLedgerActivities({ ...deps, l1: deps.l1?.tx, logger: logger('ledger') });
  return {
    ...createSplitterActivities({ ...deps, logger: logger('splitter') }),
    ...createDispatcherActivities({
      ...deps,
      startedAt: STARTED_AT,
      onAttemptClosed: deps.metrics?.attemptClosed,
      logger: logger('dispatcher'),
    }),
    ...createStatusActivities(deps),
    ...createVerificationActivities({ ...deps, logger: logger('verification') }),
    ...createResultsActivities({ ...deps, logger: logger('results') }),
    ...createAggregatorActivities({ ...deps, logger: logger('aggregator') }),
    ...ledger,
    ...createSignerActivities({ ...deps, logger: logger('signer') }),
    ...createReconcilerActivities({
      ...deps,
      settleJob: ledger.settleJob,
      graceMs: deps.reconcileGraceMs,
      onFixed: deps.metrics?.reconciled,
      logger: logger('reconciler'),
    }),
    ...createMiningActivities({ ...deps, logger: logger('mining') }),
    ...createLayerActivities({ ...deps, logger: logger('layer') }),
  };
}
