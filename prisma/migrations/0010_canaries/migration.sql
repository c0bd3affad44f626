-- Canary attempts (issue 12 item 1): a verified SubJob re-issued to another node, its answer known.
ALTER TABLE "Attempt" ADD COLUMN "canary" BOOLEAN NOT NULL DEFAULT false;
