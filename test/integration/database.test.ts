// The checked-in migrations on a real PostgreSQL through createTestDatabase (TEST_DATABASE_URL,
// DATABASE_URL, or a local server on 127.0.0.1:5432; the embedded PGlite only when none answers).
import { Prisma } from '../../prisma/client';
import { createTestDatabase, type TestDatabase } from '../support/db';

describe('database: migrations and client on PostgreSQL', () => {
  let db: TestDatabase;
  let other: TestDatabase;

  beforeAll(async () => {
    const t0 = Date.now();
    [db, other] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    process.stderr.write(`[database] two test databases (${db.kind}) in ${Date.now() - t0} ms\n`);
  });
  afterAll(async () => {
    await Promise.allSettled([db?.drop(), other?.drop()]);
  });

  it('gives each suite a fresh database with the migrations applied', async () => {
    expect(db.url).not.toBe(other.url);
    const applied = await db.prisma.$queryRaw<
      { migration_name: string; finished: boolean; rolled_back: boolean }[]
    >`
      SELECT migration_name, finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back
      FROM _prisma_migrations ORDER BY migration_name`;
    expect(applied[0]).toEqual({ migration_name: '0001_init', finished: true, rolled_back: false });
    expect(await db.prisma.wiringCheck.count()).toBe(0);
    if (db.kind === 'postgres') {
      const [{ v }] = await db.prisma.$queryRaw<[{ v: string }]>`SELECT version() AS v`;
      expect(v).toMatch(/^PostgreSQL \d+/);
      expect(v).not.toContain('PGlite');
    }
  });

  it('creates and reads a WiringCheck row, big numbers intact', async () => {
    const supply = (10n ** 27n).toString(); // a uint256-sized token supply
    const created = await db.prisma.wiringCheck.create({
      data: {
        id: 'wf-1',
        chainId: 31337,
        blockNumber: 2n ** 53n + 1n, // beyond Number's exact range
        tokenAddress: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
        tokenSupply: supply,
      },
    });
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(created.createdAt.getTime() - Date.now())).toBeLessThan(60_000);

    const row = await db.prisma.wiringCheck.findUniqueOrThrow({ where: { id: 'wf-1' } });
    expect(row).toEqual({
      id: 'wf-1',
      chainId: 31337,
      blockNumber: 2n ** 53n + 1n,
      tokenAddress: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
      tokenSupply: supply,
      createdAt: created.createdAt,
    });
    // the other suite's database does not see it
    expect(await other.prisma.wiringCheck.findUnique({ where: { id: 'wf-1' } })).toBeNull();
  });

  it('rejects a duplicate id with P2002 and keeps the first row', async () => {
    const dup = db.prisma.wiringCheck.create({
      data: { id: 'wf-1', chainId: 1, blockNumber: 1n, tokenAddress: '0x0', tokenSupply: '1' },
    });
    await expect(dup).rejects.toBeInstanceOf(Prisma.PrismaClientKnownRequestError);
    await expect(dup).rejects.toMatchObject({ code: 'P2002' });
    const row = await db.prisma.wiringCheck.findUniqueOrThrow({ where: { id: 'wf-1' } });
    expect(row.chainId).toBe(31337);
    expect(await db.prisma.wiringCheck.count()).toBe(1);
  });

  it('rolls back an interactive transaction that throws', async () => {
    await expect(
      db.prisma.$transaction(async (tx) => {
        await tx.wiringCheck.create({
          data: { id: 'wf-tx', chainId: 1, blockNumber: 1n, tokenAddress: '0x0', tokenSupply: '1' },
        });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await db.prisma.wiringCheck.findUnique({ where: { id: 'wf-tx' } })).toBeNull();
  });
});
