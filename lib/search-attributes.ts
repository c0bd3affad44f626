import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * The custom search attributes every EMETH workflow carries, so the Temporal UI can filter Jobs
 * and SubJobs by job, requester, node, program and status. `emeth up` registers them on the
 * embedded dev server; on a cluster an operator registers the same list (see README).
 */
export const EmethJobId = defineSearchAttributeKey('EmethJobId', SearchAttributeType.KEYWORD);
export const EmethRequester = defineSearchAttributeKey('EmethRequester', SearchAttributeType.KEYWORD);
export const EmethNode = defineSearchAttributeKey('EmethNode', SearchAttributeType.KEYWORD);
export const EmethStatus = defineSearchAttributeKey('EmethStatus', SearchAttributeType.KEYWORD);
export const EmethProgramId = defineSearchAttributeKey('EmethProgramId', SearchAttributeType.INT);
/** 'l1' or 'l2': where the Job's money moves (issue 13). */
export const EmethLayer = defineSearchAttributeKey('EmethLayer', SearchAttributeType.KEYWORD);

/** name → Temporal CLI type, for `temporal server start-dev --search-attribute name=Type`. */
export const SEARCH_ATTRIBUTES: Readonly<Record<string, 'Keyword' | 'Int'>> = {
  EmethJobId: 'Keyword',
  EmethRequester: 'Keyword',
  EmethNode: 'Keyword',
  EmethStatus: 'Keyword',
  EmethProgramId: 'Int',
  EmethLayer: 'Keyword',
};
