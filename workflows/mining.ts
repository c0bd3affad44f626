import { proxyActivities, sleep } from '@temporalio/workflow';

/**
 * The GPU Mining Program's activities on `emeth-l2` (activities/mining). Declared here, beside the
 * one workflow that calls them, because lib/pipeline belongs to the Job pipeline.
 */
export interface MiningActivities {
  /**
   * The lowest finished epoch with verified, ticketed work that is not posted yet, its tree built
   * and stored (a tree stored by an earlier try that did not finish is returned as it is):
   * - `ready`: post it; `wait`: work verified in it may still be ticketed, ask again in
   *   `retryInMs`; `none`: nothing to post; `disabled`: the deployment has no EmethMining.
   */
  prepareNextMiningEpoch(): Promise<
    | { kind: 'ready'; epoch: number; nodes: number; totalFuel: string }
    | { kind: 'wait'; epoch: number; retryInMs: number }
    | { kind: 'none' }
    | { kind: 'disabled' }
  >;
  /** Posts a prepared epoch's root on EmethMining, once (a retry finds it on chain), and records it. */
  postMiningEpoch(input: { epoch: number }): Promise<MiningEpochPosted>;
}

export interface MiningEpochPosted {
  epoch: number;
  root: string;
  totalFuel: string;
  /** Holon the contract allocated to the epoch. */
  pool: string;
  nodes: number;
  txHash: string | null;
}

const { prepareNextMiningEpoch, postMiningEpoch } = proxyActivities<MiningActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5, initialInterval: '1 second' },
});

/** Epochs one run posts at most (an L2 back after a long outage catches up over a few runs). */
const MAX_EPOCHS_PER_RUN = 48;
/** Times one run waits for work still being ticketed before it leaves the epoch to the next run. */
const MAX_WAITS = 10;

/**
 * One run of the mining Schedule (every epoch length): posts every finished epoch that has verified
 * work, oldest first. Decides only; the activities read the database and send the transactions.
 */
export async function miningEpochWorkflow(): Promise<{ posted: MiningEpochPosted[]; waiting?: number }> {
  const posted: MiningEpochPosted[] = [];
  let waits = 0;
  while (posted.length < MAX_EPOCHS_PER_RUN) {
    const next = await prepareNextMiningEpoch();
    if (next.kind === 'none' || next.kind === 'disabled') break;
    if (next.kind === 'wait') {
      if (++waits > MAX_WAITS) return { posted, waiting: next.epoch };
      await sleep(next.retryInMs);
      continue;
    }
    posted.push(await postMiningEpoch({ epoch: next.epoch }));
  }
  return { posted };
}
