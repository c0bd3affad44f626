// Types for scripts/pg-adapter.cjs (plain CommonJS so the Prisma CLI and the app share it).
import type { PrismaPg } from '@prisma/adapter-pg';
import type { PoolConfig } from 'pg';

export interface EmbeddedServerHandle {
  url: string;
  stop(): Promise<void>;
}
export type StartShadowServer = (opts: { port: number }) => Promise<EmbeddedServerHandle>;

export function parseDatabaseUrl(
  databaseUrl: string,
): PoolConfig & { host: string; port: number; user: string; password: string; database: string };
export function createPgAdapterFactory(databaseUrl: string, extra?: PoolConfig): PrismaPg;
export function withMemoryShadow(factory: PrismaPg, startServer: StartShadowServer): PrismaPg;
export function patchPerformIO<T>(adapter: T): T;
