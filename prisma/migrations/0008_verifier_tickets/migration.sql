-- A verified SubJob earns one ticket per payee: the node's (its fuel) and the verifier's (its fee),
-- each redeemed by the party it pays. Rows from before are the node's (role 'node').
ALTER TABLE "Ticket" ADD COLUMN "role" TEXT NOT NULL DEFAULT 'node';

-- DropIndex
DROP INDEX "Ticket_subJobId_key";

-- CreateIndex
CREATE UNIQUE INDEX "Ticket_subJobId_role_key" ON "Ticket"("subJobId", "role");

-- CreateIndex
CREATE INDEX "Ticket_verifier_idx" ON "Ticket"("verifier");
