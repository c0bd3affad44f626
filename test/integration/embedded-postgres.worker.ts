// A database workload shared by embedded-postgres.test.ts (in-process) and by the second process
// it spawns (`tsx test/integration/embedded-postgres.worker.ts <mode> <url> ...`). Every operation
// checks its own answer, so rows handed to the wrong caller show up as `wrong`.
import { Client } from 'pg';
import { createPrismaClient, Prisma, type PrismaClient } from '../../prisma/client';

export interface WorkloadResult {
  ok: number;
  wrong: string[];
  errors: string[];
  /** Rows this workload committed (ids start with its tag). */
  committed: number;
}

/** `loops` concurrent loops of `iterations` mixed reads/writes/transactions, all under `tag`. */
export async function runWorkload(
  prisma: PrismaClient,
  tag: string,
  loops: number,
  iterations: number,
): Promise<WorkloadResult> {
  const res: WorkloadResult = { ok: 0, wrong: [], errors: [], committed: 0 };
  const loop = async (l: number): Promise<void> => {
    for (let i = 0; i < iterations; i++) {
      const id = `${tag}-${l}-${i}`;
      try {
        // a write, then a read of exactly that row
        await prisma.wiringCheck.create({
          data: { id, chainId: l, blockNumber: BigInt(i), tokenAddress: tag, tokenSupply: String(i * 7) },
        });
        res.committed++;
        const row = await prisma.wiringCheck.findUnique({ where: { id } });
        if (row?.id !== id || row.blockNumber !== BigInt(i) || row.tokenSupply !== String(i * 7)) {
          res.wrong.push(`findUnique(${id}) -> ${row?.id}`);
        } else res.ok++;

        // a raw query echoing its own parameters
        const echo = await prisma.$queryRaw<
          { a: string; b: number }[]
        >`SELECT ${id}::text AS a, ${i}::int AS b`;
        if (echo[0]?.a !== id || echo[0]?.b !== i)
          res.wrong.push(`echo(${id},${i}) -> ${JSON.stringify(echo)}`);
        else res.ok++;

        // an interactive transaction that must see its own two rows and nobody else's
        const prefix = `${id}-tx`;
        const seen = await prisma.$transaction(async (tx) => {
          for (const k of [0, 1]) {
            await tx.wiringCheck.create({
              data: { id: `${prefix}${k}`, chainId: l, blockNumber: 0n, tokenAddress: tag, tokenSupply: '0' },
            });
          }
          return tx.wiringCheck.count({ where: { id: { startsWith: prefix } } });
        });
        if (seen !== 2) res.wrong.push(`tx(${prefix}) saw ${seen} rows`);
        else {
          res.ok++;
          res.committed += 2;
        }

        // a duplicate must fail with P2002, and only for this caller
        try {
          await prisma.wiringCheck.create({
            data: { id, chainId: l, blockNumber: 0n, tokenAddress: tag, tokenSupply: '0' },
          });
          res.wrong.push(`duplicate ${id} was accepted`);
        } catch (err) {
          if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') res.ok++;
          else res.wrong.push(`duplicate ${id} -> ${(err as Error).message}`);
        }
      } catch (err) {
        res.errors.push(`${id}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: loops }, (_, l) => loop(l)));
  return res;
}

/** Opens a transaction, writes `id`, says so on stdout and then waits to be killed. */
async function holdTransaction(url: string, id: string): Promise<void> {
  const c = new Client({ connectionString: url });
  await c.connect();
  await c.query('BEGIN');
  await c.query(
    `INSERT INTO "WiringCheck" (id, "chainId", "blockNumber", "tokenAddress", "tokenSupply") VALUES ($1, 1, 1, 'x', '1')`,
    [id],
  );
  process.stdout.write('in-transaction\n');
  await new Promise(() => {}); // until SIGKILL
}

async function main(): Promise<void> {
  const [mode, url, a, b, c] = process.argv.slice(2);
  if (mode === 'workload' && url && a && b && c) {
    const prisma = createPrismaClient(url, { max: 5 });
    const res = await runWorkload(prisma, a, Number(b), Number(c));
    await prisma.$disconnect();
    process.stdout.write(`RESULT ${JSON.stringify(res)}\n`);
  } else if (mode === 'hold-tx' && url && a) {
    await holdTransaction(url, a);
  } else {
    throw new Error(
      'usage: embedded-postgres.worker.ts workload <url> <tag> <loops> <iterations> | hold-tx <url> <id>',
    );
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
