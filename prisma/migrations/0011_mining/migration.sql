-- GPU Mining Program (paper §3-4): the epochs the L2 posts on EmethMining and each node's share
-- (verified fuel and Merkle proof) in them.
CREATE TABLE "MiningEpoch" (
    "epoch" INTEGER NOT NULL,
    "root" TEXT NOT NULL,
    "totalFuel" DECIMAL(78,0) NOT NULL,
    "pool" DECIMAL(78,0),
    "claimDeadline" TIMESTAMP(3),
    "txHash" TEXT,
    "postedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "MiningEpoch_pkey" PRIMARY KEY ("epoch")
);

-- CreateTable
CREATE TABLE "MiningShare" (
    "epoch" INTEGER NOT NULL,
    "node" TEXT NOT NULL,
    "fuel" DECIMAL(78,0) NOT NULL,
    "proof" JSONB NOT NULL,

    CONSTRAINT "MiningShare_pkey" PRIMARY KEY ("epoch","node")
);

-- CreateIndex
CREATE INDEX "MiningEpoch_postedAt_idx" ON "MiningEpoch"("postedAt");

-- CreateIndex
CREATE INDEX "MiningShare_node_idx" ON "MiningShare"("node");

-- AddForeignKey
ALTER TABLE "MiningShare" ADD CONSTRAINT "MiningShare_epoch_fkey" FOREIGN KEY ("epoch") REFERENCES "MiningEpoch"("epoch") ON DELETE RESTRICT ON UPDATE CASCADE;
