-- L1 Jobs (issue 13 item 1): the layer a Job settles on, and the chain events of its L1 steps.
ALTER TABLE "Job" ADD COLUMN "layer" TEXT NOT NULL DEFAULT 'l2';
ALTER TABLE "Job" ADD COLUMN "l1Signature" TEXT;

CREATE TABLE "ChainStep" (
    "id" TEXT NOT NULL,
    "jobId" TEXT NOT NULL,
    "subJobIndex" INTEGER,
    "event" TEXT NOT NULL,
    "actor" TEXT,
    "amount" DECIMAL(78,0),
    "txHash" TEXT NOT NULL,
    "blockNumber" INTEGER NOT NULL,
    "logIndex" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ChainStep_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "ChainStep_jobId_blockNumber_logIndex_idx" ON "ChainStep"("jobId", "blockNumber", "logIndex");
