-- The requester's EIP-712 Commit for a Job: the L2 sends it to EmethCore at reservation, so the
-- Job's feeLimit + verifierFee is committed where a withdrawal cannot take it.
ALTER TABLE "Job" ADD COLUMN "commitSignature" TEXT;
ALTER TABLE "Job" ADD COLUMN "commitDeadline" BIGINT;
