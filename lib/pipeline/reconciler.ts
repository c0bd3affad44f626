/** What the reconciliation Schedule found and settled: Jobs whose workflow closed before their row did. */
export interface ReconciledJob {
  jobId: string;
  /** The row's status before. */
  was: string;
  /** How the Job's workflow ended ('missing' when it never started or was removed). */
  workflow: string;
}

/** The reconciler on `emeth-l2`: no Job stays non-terminal, holding its reservation, behind a closed workflow. */
export interface ReconcilerActivities {
  reconcileJobs(): Promise<{ checked: number; fixed: ReconciledJob[] }>;
}
