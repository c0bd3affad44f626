-- CreateTable
CREATE TABLE "Checkpoint" (
    "id" TEXT NOT NULL,
    "jobId" TEXT NOT NULL,
    "epoch" INTEGER NOT NULL,
    "model" TEXT NOT NULL,
    "accuracy" DOUBLE PRECISION,
    "loss" DOUBLE PRECISION,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Checkpoint_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Checkpoint_jobId_idx" ON "Checkpoint"("jobId");

