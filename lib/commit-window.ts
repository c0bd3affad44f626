/**
 * How long after a Job's deadline its commitment must stay open on EmethCore: nodes redeem the
 * Job's tickets within it (their redeemer waits at most an hour), after it the requester may
 * reclaim what was not redeemed. Clients sign Commits `COMMIT_REDEEM_WINDOW_S` past the deadline;
 * the gateway refuses less than `MIN_COMMIT_WINDOW_S`.
 */
export const COMMIT_REDEEM_WINDOW_S = 7 * 24 * 3600;
export const MIN_COMMIT_WINDOW_S = 24 * 3600;
