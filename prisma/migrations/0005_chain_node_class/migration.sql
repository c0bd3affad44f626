-- EmethCore keeps a node's capability class as a uint32 (the first 4 bytes of keccak256(name)),
-- which does not fit PostgreSQL's signed integer.
ALTER TABLE "ChainNode" ALTER COLUMN "capabilityClass" SET DATA TYPE BIGINT;
