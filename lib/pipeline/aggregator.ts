import type { BlobId } from '../types';

/** The Aggregator on `emeth-l2`: merges verified outputs, sums encrypted updates, records checkpoints. */
export interface AggregatorActivities {
  aggregateJob(jobId: string): Promise<{ result: BlobId }>;
  /** Training: Σ rows × encrypted update of the epoch, without any secret key. */
  aggregateEpoch(jobId: string, epoch: number): Promise<{ sum: BlobId; weight: number; globalModel: BlobId }>;
  recordCheckpoint(input: {
    jobId: string;
    epoch: number;
    model: BlobId;
    accuracy?: number;
    loss?: number;
  }): Promise<void>;
  /** Lets the Job's requester (its keyholder) read a blob, e.g. one update it decrypts for the verifier. */
  shareWithRequester(input: { jobId: string; blob: BlobId }): Promise<void>;
  /** Training: the blobs the keyholder needs besides the aggregate. */
  trainingParams(jobId: string): Promise<{ trainGraph: BlobId; testSet?: BlobId }>;
}
