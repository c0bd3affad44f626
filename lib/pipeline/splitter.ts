import type { JobPlan, SubJobPlan } from './workflow';

/** The Splitter (paper §2) on `emeth-l2`: plans a Job and cuts it into SubJobs, epoch by epoch. */
export interface SplitterActivities {
  planJob(jobId: string): Promise<Omit<JobPlan, 'subJobs'>>;
  /** The SubJobs of an epoch (training repeats the epoch-0 shards every epoch). */
  splitJob(jobId: string, epoch?: number): Promise<SubJobPlan[]>;
}
