-- CreateTable
CREATE TABLE "Program" (
    "id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "subProgramId" INTEGER,
    "minFuelPrice" DECIMAL(78,0) NOT NULL,
    "defaultFuelLimit" DECIMAL(78,0) NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Program_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ApiKey" (
    "id" TEXT NOT NULL,
    "requester" TEXT NOT NULL,
    "keyHash" TEXT NOT NULL,
    "label" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "ApiKey_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Node" (
    "id" TEXT NOT NULL,
    "capabilityClass" TEXT NOT NULL,
    "encryptionKey" TEXT,
    "status" TEXT NOT NULL DEFAULT 'online',
    "lastSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed" INTEGER NOT NULL DEFAULT 0,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "registeredAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Node_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Job" (
    "id" TEXT NOT NULL,
    "workflowId" TEXT NOT NULL,
    "requester" TEXT NOT NULL,
    "programId" INTEGER NOT NULL,
    "dataset" TEXT NOT NULL,
    "params" JSONB NOT NULL,
    "numParallel" INTEGER NOT NULL,
    "numEpoch" INTEGER NOT NULL DEFAULT 1,
    "splitAllowed" BOOLEAN NOT NULL DEFAULT true,
    "capabilityClass" TEXT NOT NULL,
    "fuelLimit" DECIMAL(78,0) NOT NULL,
    "fuelPrice" DECIMAL(78,0) NOT NULL,
    "verifierFee" DECIMAL(78,0) NOT NULL,
    "deadline" TIMESTAMP(3) NOT NULL,
    "status" TEXT NOT NULL,
    "result" TEXT,
    "reserved" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "charged" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "refunded" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Job_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SubJob" (
    "id" TEXT NOT NULL,
    "jobId" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "epoch" INTEGER NOT NULL DEFAULT 0,
    "programId" INTEGER NOT NULL,
    "shard" TEXT NOT NULL,
    "rowStart" INTEGER NOT NULL,
    "rows" INTEGER NOT NULL,
    "fuelLimit" DECIMAL(78,0) NOT NULL,
    "verifierFee" DECIMAL(78,0) NOT NULL,
    "status" TEXT NOT NULL,
    "nodeId" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "fuelUsed" DECIMAL(78,0),
    "output" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "SubJob_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Attempt" (
    "id" TEXT NOT NULL,
    "subJobId" TEXT NOT NULL,
    "nodeId" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "outcome" TEXT,
    "reason" TEXT,
    "penalty" DECIMAL(78,0),
    "penaltyTx" TEXT,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" TIMESTAMP(3),

    CONSTRAINT "Attempt_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Result" (
    "id" TEXT NOT NULL,
    "subJobId" TEXT NOT NULL,
    "nodeId" TEXT NOT NULL,
    "output" TEXT NOT NULL,
    "fuelUsed" DECIMAL(78,0) NOT NULL,
    "signature" TEXT NOT NULL,
    "executionProvider" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Result_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Verification" (
    "id" TEXT NOT NULL,
    "subJobId" TEXT NOT NULL,
    "verifier" TEXT NOT NULL,
    "valid" BOOLEAN NOT NULL,
    "rowsChecked" INTEGER NOT NULL,
    "maxDiff" DOUBLE PRECISION NOT NULL,
    "fuelUsed" DECIMAL(78,0) NOT NULL,
    "reason" TEXT,
    "signature" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Verification_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Ticket" (
    "id" TEXT NOT NULL,
    "jobId" TEXT NOT NULL,
    "subJobId" TEXT NOT NULL,
    "node" TEXT NOT NULL,
    "requester" TEXT NOT NULL,
    "amount" DECIMAL(78,0) NOT NULL,
    "verifier" TEXT NOT NULL,
    "verifierFee" DECIMAL(78,0) NOT NULL,
    "batchId" INTEGER,
    "leafIndex" INTEGER,
    "proof" JSONB,
    "redeemedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Ticket_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Batch" (
    "id" INTEGER NOT NULL,
    "root" TEXT NOT NULL,
    "total" DECIMAL(78,0) NOT NULL,
    "signer" TEXT NOT NULL,
    "signature" TEXT NOT NULL,
    "ticketCount" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Batch_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "LedgerEntry" (
    "id" TEXT NOT NULL,
    "requester" TEXT NOT NULL,
    "jobId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "amount" DECIMAL(78,0) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "LedgerEntry_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Blob" (
    "id" TEXT NOT NULL,
    "uploader" TEXT NOT NULL,
    "size" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Blob_pkey" PRIMARY KEY ("id","uploader")
);

-- CreateIndex
CREATE UNIQUE INDEX "Program_name_key" ON "Program"("name");

-- CreateIndex
CREATE UNIQUE INDEX "ApiKey_keyHash_key" ON "ApiKey"("keyHash");

-- CreateIndex
CREATE INDEX "ApiKey_requester_idx" ON "ApiKey"("requester");

-- CreateIndex
CREATE INDEX "Node_capabilityClass_status_idx" ON "Node"("capabilityClass", "status");

-- CreateIndex
CREATE UNIQUE INDEX "Job_workflowId_key" ON "Job"("workflowId");

-- CreateIndex
CREATE INDEX "Job_requester_createdAt_idx" ON "Job"("requester", "createdAt");

-- CreateIndex
CREATE INDEX "Job_status_idx" ON "Job"("status");

-- CreateIndex
CREATE INDEX "SubJob_status_idx" ON "SubJob"("status");

-- CreateIndex
CREATE UNIQUE INDEX "SubJob_jobId_epoch_index_key" ON "SubJob"("jobId", "epoch", "index");

-- CreateIndex
CREATE INDEX "Attempt_nodeId_idx" ON "Attempt"("nodeId");

-- CreateIndex
CREATE INDEX "Result_subJobId_idx" ON "Result"("subJobId");

-- CreateIndex
CREATE INDEX "Verification_subJobId_idx" ON "Verification"("subJobId");

-- CreateIndex
CREATE UNIQUE INDEX "Ticket_subJobId_key" ON "Ticket"("subJobId");

-- CreateIndex
CREATE INDEX "Ticket_node_idx" ON "Ticket"("node");

-- CreateIndex
CREATE INDEX "Ticket_batchId_idx" ON "Ticket"("batchId");

-- CreateIndex
CREATE INDEX "Ticket_requester_idx" ON "Ticket"("requester");

-- CreateIndex
CREATE INDEX "LedgerEntry_requester_idx" ON "LedgerEntry"("requester");

-- CreateIndex
CREATE INDEX "Blob_uploader_idx" ON "Blob"("uploader");

-- AddForeignKey
ALTER TABLE "SubJob" ADD CONSTRAINT "SubJob_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Attempt" ADD CONSTRAINT "Attempt_subJobId_fkey" FOREIGN KEY ("subJobId") REFERENCES "SubJob"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

