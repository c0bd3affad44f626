-- Why a Job ended failed (a split that threw, a keyholder that never came, a requester's input
-- that fails on every executor), shown in its view.
ALTER TABLE "Job" ADD COLUMN "reason" TEXT;
