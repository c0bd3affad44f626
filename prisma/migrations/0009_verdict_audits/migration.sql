-- Verdicts re-checked by a second verifier, refereed by a third on a disagreement (issue 12 item 5).
CREATE TABLE "VerdictAudit" (
    "id" TEXT NOT NULL,
    "subJobId" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "node" TEXT NOT NULL,
    "verifier" TEXT NOT NULL,
    "valid" BOOLEAN NOT NULL,
    "auditor" TEXT NOT NULL,
    "auditValid" BOOLEAN NOT NULL,
    "referee" TEXT,
    "refereeValid" BOOLEAN,
    "upheld" BOOLEAN NOT NULL,
    "wrongVerifier" TEXT,
    "fine" DECIMAL(78,0),
    "fineTx" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "VerdictAudit_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "VerdictAudit_subJobId_idx" ON "VerdictAudit"("subJobId");

-- CreateIndex
CREATE INDEX "VerdictAudit_wrongVerifier_idx" ON "VerdictAudit"("wrongVerifier");
