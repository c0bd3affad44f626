-- Inference deployments and GPU rental (issue 14): deployments and their replicas, every answered request, leases and the nodes they hold.
-- CreateTable
CREATE TABLE "Deployment" (
    "id" TEXT NOT NULL,
    "workflowId" TEXT NOT NULL,
    "requester" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "capabilityClass" TEXT NOT NULL,
    "pricing" TEXT NOT NULL,
    "price" DECIMAL(78,0) NOT NULL,
    "minReplicas" INTEGER NOT NULL,
    "maxReplicas" INTEGER NOT NULL,
    "targetReplicas" INTEGER NOT NULL,
    "maxRowsPerRequest" INTEGER NOT NULL,
    "workPerRow" INTEGER NOT NULL,
    "graphNodes" INTEGER NOT NULL,
    "budget" DECIMAL(78,0) NOT NULL,
    "commitSignature" TEXT NOT NULL,
    "commitDeadline" BIGINT NOT NULL,
    "leaseId" TEXT,
    "status" TEXT NOT NULL,
    "reason" TEXT,
    "charged" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "refunded" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "stoppedAt" TIMESTAMP(3),

    CONSTRAINT "Deployment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Replica" (
    "id" TEXT NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "nodeId" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "reason" TEXT,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" TIMESTAMP(3),

    CONSTRAINT "Replica_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "InferenceRequest" (
    "id" TEXT NOT NULL,
    "deploymentId" TEXT NOT NULL,
    "nodeId" TEXT NOT NULL,
    "rows" INTEGER NOT NULL,
    "fuel" DECIMAL(78,0) NOT NULL,
    "amount" DECIMAL(78,0) NOT NULL,
    "inputDigest" TEXT NOT NULL,
    "outputDigest" TEXT NOT NULL,
    "canary" BOOLEAN NOT NULL DEFAULT false,
    "sampled" BOOLEAN NOT NULL DEFAULT false,
    "sampleBlob" TEXT,
    "valid" BOOLEAN,
    "window" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "InferenceRequest_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Lease" (
    "id" TEXT NOT NULL,
    "workflowId" TEXT NOT NULL,
    "requester" TEXT NOT NULL,
    "capabilityClass" TEXT NOT NULL,
    "nodeCount" INTEGER NOT NULL,
    "hourlyPrice" DECIMAL(78,0) NOT NULL,
    "periodSeconds" INTEGER NOT NULL,
    "periods" INTEGER NOT NULL,
    "budget" DECIMAL(78,0) NOT NULL,
    "commitSignature" TEXT NOT NULL,
    "commitDeadline" BIGINT NOT NULL,
    "status" TEXT NOT NULL,
    "reason" TEXT,
    "startsAt" TIMESTAMP(3),
    "endsAt" TIMESTAMP(3),
    "charged" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "refunded" DECIMAL(78,0) NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Lease_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "LeaseNode" (
    "leaseId" TEXT NOT NULL,
    "nodeId" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "paidPeriods" INTEGER NOT NULL DEFAULT 0,
    "joinedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "leftAt" TIMESTAMP(3),

    CONSTRAINT "LeaseNode_pkey" PRIMARY KEY ("leaseId","nodeId")
);

-- CreateIndex
CREATE UNIQUE INDEX "Deployment_workflowId_key" ON "Deployment"("workflowId");

-- CreateIndex
CREATE INDEX "Deployment_requester_idx" ON "Deployment"("requester");

-- CreateIndex
CREATE INDEX "Replica_deploymentId_status_idx" ON "Replica"("deploymentId", "status");

-- CreateIndex
CREATE INDEX "Replica_nodeId_idx" ON "Replica"("nodeId");

-- CreateIndex
CREATE INDEX "InferenceRequest_deploymentId_window_idx" ON "InferenceRequest"("deploymentId", "window");

-- CreateIndex
CREATE INDEX "InferenceRequest_deploymentId_sampled_valid_idx" ON "InferenceRequest"("deploymentId", "sampled", "valid");

-- CreateIndex
CREATE UNIQUE INDEX "Lease_workflowId_key" ON "Lease"("workflowId");

-- CreateIndex
CREATE INDEX "Lease_requester_idx" ON "Lease"("requester");

-- CreateIndex
CREATE INDEX "Lease_status_idx" ON "Lease"("status");

-- CreateIndex
CREATE INDEX "LeaseNode_nodeId_status_idx" ON "LeaseNode"("nodeId", "status");

-- AddForeignKey
ALTER TABLE "Replica" ADD CONSTRAINT "Replica_deploymentId_fkey" FOREIGN KEY ("deploymentId") REFERENCES "Deployment"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "LeaseNode" ADD CONSTRAINT "LeaseNode_leaseId_fkey" FOREIGN KEY ("leaseId") REFERENCES "Lease"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

