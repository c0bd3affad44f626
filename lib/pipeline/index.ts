/**
 * The contract between the Job workflows and the activities they schedule: one interface per
 * paper component (activities/<component>), and the participants' activities on their own queues.
 */
export * from './workflow';
export * from './splitter';
export * from './dispatcher';
export * from './verification';
export * from './results';
export * from './aggregator';
export * from './ledger';
export * from './signer';
export * from './participants';
export * from './reconciler';
export * from './layer';

import type { SplitterActivities } from './splitter';
import type { DispatcherActivities, StatusActivities } from './dispatcher';
import type { VerificationActivities } from './verification';
import type { ResultsActivities } from './results';
import type { AggregatorActivities } from './aggregator';
import type { LedgerActivities } from './ledger';
import type { SignerActivities } from './signer';
import type { ReconcilerActivities } from './reconciler';
import type { LayerActivities } from './layer';

/** Everything the L2 worker serves on `emeth-l2`: they alone touch the database and the L2 keys. */
export type L2Activities = SplitterActivities &
  DispatcherActivities &
  StatusActivities &
  VerificationActivities &
  ResultsActivities &
  AggregatorActivities &
  LedgerActivities &
  SignerActivities &
  ReconcilerActivities &
  LayerActivities;
export * from './sealing';
