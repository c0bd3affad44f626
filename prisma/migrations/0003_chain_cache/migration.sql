-- CreateTable
CREATE TABLE "ChainCursor" (
    "id" TEXT NOT NULL,
    "lastBlock" BIGINT NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ChainCursor_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ChainEvent" (
    "id" BIGSERIAL NOT NULL,
    "chainId" INTEGER NOT NULL,
    "contract" TEXT NOT NULL,
    "blockNumber" BIGINT NOT NULL,
    "blockHash" TEXT NOT NULL,
    "txHash" TEXT NOT NULL,
    "logIndex" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "args" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ChainEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ChainJob" (
    "jobId" TEXT NOT NULL,
    "requester" TEXT NOT NULL,
    "programId" INTEGER NOT NULL,
    "fuelLimit" DECIMAL(78,0) NOT NULL,
    "fuelPrice" DECIMAL(78,0) NOT NULL,
    "verifierFee" DECIMAL(78,0) NOT NULL,
    "deadline" BIGINT NOT NULL,
    "dataset" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "subJobCount" INTEGER NOT NULL DEFAULT 0,
    "verifiedCount" INTEGER NOT NULL DEFAULT 0,
    "failedCount" INTEGER NOT NULL DEFAULT 0,
    "updatedBlock" BIGINT NOT NULL,

    CONSTRAINT "ChainJob_pkey" PRIMARY KEY ("jobId")
);

-- CreateTable
CREATE TABLE "ChainSubJob" (
    "id" TEXT NOT NULL,
    "jobId" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "node" TEXT,
    "retries" INTEGER NOT NULL DEFAULT 0,
    "fuelLimit" DECIMAL(78,0) NOT NULL,
    "verifierFee" DECIMAL(78,0) NOT NULL,
    "deposit" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "fuelUsed" DECIMAL(78,0),
    "resultDigest" TEXT,
    "deadline" BIGINT,
    "updatedBlock" BIGINT NOT NULL,

    CONSTRAINT "ChainSubJob_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ChainNode" (
    "address" TEXT NOT NULL,
    "capabilityClass" INTEGER NOT NULL,
    "encryptionKey" TEXT NOT NULL,
    "stake" DECIMAL(78,0) NOT NULL,
    "locked" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "unstaking" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "penalties" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "updatedBlock" BIGINT NOT NULL,

    CONSTRAINT "ChainNode_pkey" PRIMARY KEY ("address")
);

-- CreateTable
CREATE TABLE "ChainDeposit" (
    "requester" TEXT NOT NULL,
    "balance" DECIMAL(78,0) NOT NULL,
    "pendingWithdrawal" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "withdrawableAt" BIGINT NOT NULL DEFAULT 0,
    "updatedBlock" BIGINT NOT NULL,

    CONSTRAINT "ChainDeposit_pkey" PRIMARY KEY ("requester")
);

-- CreateTable
CREATE TABLE "ChainTicketRedemption" (
    "id" TEXT NOT NULL,
    "root" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "jobId" TEXT NOT NULL,
    "subJobId" TEXT NOT NULL,
    "node" TEXT NOT NULL,
    "requester" TEXT NOT NULL,
    "amount" DECIMAL(78,0) NOT NULL,
    "verifier" TEXT NOT NULL,
    "verifierFee" DECIMAL(78,0) NOT NULL,
    "txHash" TEXT NOT NULL,
    "blockNumber" BIGINT NOT NULL,

    CONSTRAINT "ChainTicketRedemption_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ChainEvent_name_idx" ON "ChainEvent"("name");

-- CreateIndex
CREATE INDEX "ChainEvent_blockNumber_idx" ON "ChainEvent"("blockNumber");

-- CreateIndex
CREATE UNIQUE INDEX "ChainEvent_txHash_logIndex_key" ON "ChainEvent"("txHash", "logIndex");

-- CreateIndex
CREATE INDEX "ChainJob_requester_idx" ON "ChainJob"("requester");

-- CreateIndex
CREATE INDEX "ChainSubJob_jobId_idx" ON "ChainSubJob"("jobId");

-- CreateIndex
CREATE INDEX "ChainSubJob_node_idx" ON "ChainSubJob"("node");

-- CreateIndex
CREATE INDEX "ChainTicketRedemption_subJobId_idx" ON "ChainTicketRedemption"("subJobId");

-- CreateIndex
CREATE INDEX "ChainTicketRedemption_node_idx" ON "ChainTicketRedemption"("node");

-- CreateIndex
CREATE INDEX "ChainTicketRedemption_requester_idx" ON "ChainTicketRedemption"("requester");

