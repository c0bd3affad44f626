#!/bin/sh
# The Prisma CLI, offline: `npm run prisma -- <args>` (e.g. `migrate deploy`, `generate`).
# - The engine variables point at any existing file, so the CLI does not try to download native
#   engines; with `engine: "js"` (prisma.config.ts) it never runs them anyway.
# - The preload unrefs the long timers that otherwise keep the CLI alive after it is done.
# - DATABASE_URL defaults to the embedded PGlite server (`tsx prisma/embedded/main.ts`).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-$ROOT/package.json}"
export PRISMA_QUERY_ENGINE_LIBRARY="${PRISMA_QUERY_ENGINE_LIBRARY:-$ROOT/package.json}"
export CHECKPOINT_DISABLE=1 PRISMA_HIDE_UPDATE_MESSAGE=1 PRISMA_HIDE_PREVIEW_FLAG_WARNINGS=1
export DATABASE_URL="${DATABASE_URL:-postgresql://postgres:postgres@127.0.0.1:${EMETH_PGLITE_PORT:-5433}/postgres}"
cd "$ROOT"
exec node -r "$ROOT/scripts/unref-timers.cjs" "$ROOT/node_modules/prisma/build/index.js" "$@"
