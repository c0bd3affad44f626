// The embedded PostgreSQL: PGlite (PostgreSQL 18 in WASM) behind a small Postgres wire-protocol
// server on 127.0.0.1, so every process (L2 server, CLI, tests) talks to it like to a real
// PostgreSQL through @prisma/adapter-pg. See shared/notes/embedded-postgres.md.
//
// PGlite is ONE backend session. Connections therefore take turns: a connection owns the session
// from the first message of an extended-protocol cycle through its Sync (or a simple Query), and
// for as long as the session is inside a transaction block it opened. Forwarding single messages
// instead (as pglite-socket does) interleaves cycles and hands rows to the wrong caller.
// Not supported: COPY FROM STDIN, LISTEN/NOTIFY, cancel requests, and per-connection session state
// (SET, temp tables, advisory locks are shared by all connections).
import net from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { acquireDataDirLock, type DataDirLock } from './lock';

export interface EmbeddedPostgresOptions {
  /** Data directory; undefined = in memory (gone on stop). Created when missing. */
  dataDir?: string;
  /** Interface to listen on. Default 127.0.0.1: the embedded server accepts any password. */
  host?: string;
  /** TCP port; 0 = an ephemeral one (read it back from the result). */
  port: number;
  /**
   * A connection that owns the session (inside a transaction or a half-sent cycle) and sends
   * nothing for this long is disconnected and its transaction rolled back, so that one frozen
   * client cannot stall every other one. Default 30 000 ms.
   */
  idleInTransactionMs?: number;
}

export interface EmbeddedPostgres {
  host: string;
  port: number;
  /** postgresql:// URL for Prisma/pg (any user, password and database name are accepted). */
  url: string;
  /** Closes all connections, flushes and closes PGlite, and releases the data-dir lock. */
  stop(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const PROTO_V3 = 196608;
const MSG_SYNC = 0x53; // 'S'
const MSG_QUERY = 0x51; // 'Q'
const MSG_PASSWORD = 0x70; // 'p'
const MSG_FLUSH = 0x48; // 'H'
const MSG_TERMINATE = 0x58; // 'X'
const SYNC = new Uint8Array([MSG_SYNC, 0, 0, 0, 4]);
const ROLLBACK = simpleQuery('ROLLBACK');

interface Conn {
  socket: net.Socket;
  buf: Buffer;
  started: boolean;
  /** Messages of the cycle being received, sent to PGlite together once the cycle ends. */
  pending: Buffer[];
  closed: boolean;
}

interface Unit {
  conn: Conn;
  bytes: Uint8Array;
  /** False for a Flush: the connection keeps the session until its Sync. */
  endsCycle: boolean;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const host = opts.host ?? '127.0.0.1';
  const idleMs = opts.idleInTransactionMs ?? 30_000;
  const lock: DataDirLock | undefined = opts.dataDir ? acquireDataDirLock(opts.dataDir) : undefined;
  let db: PGlite;
  try {
    db = await PGlite.create(opts.dataDir ? { dataDir: opts.dataDir } : {});
  } catch (err) {
    lock?.release();
    throw new Error(
      `could not open the embedded PostgreSQL in ${opts.dataDir ?? 'memory'}: ${(err as Error).message}`,
      { cause: err },
    );
  }

  const queue: Unit[] = [];
  const conns = new Set<Conn>();
  let owner: Conn | null = null;
  let idleTimer: NodeJS.Timeout | null = null;
  let pumping: Promise<void> | null = null;

  const exec = async (bytes: Uint8Array, onData: (d: Uint8Array) => void): Promise<void> => {
    await db.runExclusive(() => db.execProtocolRawStream(bytes, { onRawData: onData }));
  };

  const clearIdle = (): void => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = null;
  };
  // Armed whenever the session is left waiting on its owner (open transaction or unfinished cycle).
  const armIdle = (conn: Conn): void => {
    clearIdle();
    idleTimer = setTimeout(() => {
      if (owner === conn && !conn.closed) {
        conn.socket.destroy(
          new Error(`idle in transaction for more than ${idleMs} ms: disconnected and rolled back`),
        );
      }
    }, idleMs);
    idleTimer.unref();
  };

  /** Ends what a vanished owner left behind: a half-sent cycle and an open transaction. */
  const cleanUpAfter = async (): Promise<void> => {
    try {
      await exec(SYNC, () => {});
      if (db.isInTransaction()) await exec(ROLLBACK, () => {});
    } catch {
      // The session is unusable only if PGlite itself failed; the next client will see that error.
    }
  };

  const drain = async (): Promise<void> => {
    for (;;) {
      if (owner?.closed) {
        clearIdle();
        await cleanUpAfter();
        owner = null;
        continue;
      }
      const i = owner ? queue.findIndex((u) => u.conn === owner) : 0;
      if (i < 0 || queue.length === 0) {
        if (owner) armIdle(owner);
        return;
      }
      const unit = queue.splice(i, 1)[0] as Unit;
      if (unit.conn.closed) continue;
      clearIdle();
      owner = unit.conn;
      const out: Buffer[] = [];
      try {
        await exec(unit.bytes, (d) => out.push(Buffer.from(d)));
      } catch (err) {
        drop(unit.conn); // the next turn rolls back what it left open
        unit.conn.socket.destroy(err as Error);
        continue;
      }
      if (out.length && !unit.conn.closed) unit.conn.socket.write(Buffer.concat(out));
      if (unit.endsCycle && !db.isInTransaction()) owner = null;
    }
  };

  const pump = (): Promise<void> => {
    pumping ??= drain().finally(() => {
      pumping = null;
    });
    return pumping;
  };

  /** Forgets a connection; if it owned the session, drain() rolls back what it left open. */
  const drop = (conn: Conn): void => {
    if (conn.closed) return;
    conn.closed = true;
    conns.delete(conn);
    for (let i = queue.length - 1; i >= 0; i--) if (queue[i]?.conn === conn) queue.splice(i, 1);
    void pump();
  };

  const onData = (conn: Conn, data: Buffer): void => {
    conn.buf = conn.buf.length ? Buffer.concat([conn.buf, data]) : data;
    for (;;) {
      const b = conn.buf;
      if (!conn.started) {
        // Startup-phase packets carry no type byte: int32 length, int32 code.
        if (b.length < 8) break;
        const len = b.readInt32BE(0);
        const code = b.readInt32BE(4);
        if (b.length < len) break;
        const pkt = b.subarray(0, len);
        conn.buf = b.subarray(len);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          conn.socket.write('N'); // no TLS on loopback; the client goes on in plain text
          continue;
        }
        if (code === PROTO_V3) {
          conn.started = true;
          queue.push({ conn, bytes: new Uint8Array(pkt), endsCycle: true });
          continue;
        }
        conn.socket.end(); // CancelRequest or an unknown protocol
        return;
      }
      if (b.length < 5) break;
      const len = 1 + b.readInt32BE(1);
      if (b.length < len) break;
      const type = b[0];
      const msg = b.subarray(0, len);
      conn.buf = b.subarray(len);
      if (type === MSG_TERMINATE) {
        conn.socket.end(); // never forward: it would end the session shared by everyone
        return;
      }
      conn.pending.push(msg);
      if (type === MSG_SYNC || type === MSG_QUERY || type === MSG_PASSWORD || type === MSG_FLUSH) {
        queue.push({
          conn,
          bytes: new Uint8Array(Buffer.concat(conn.pending)),
          endsCycle: type !== MSG_FLUSH,
        });
        conn.pending = [];
      }
    }
    void pump();
  };

  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    const conn: Conn = { socket, buf: Buffer.alloc(0), started: false, pending: [], closed: false };
    conns.add(conn);
    socket.on('data', (d: Buffer) => {
      if (owner === conn) clearIdle();
      onData(conn, d);
    });
    const gone = (): void => drop(conn);
    socket.on('close', gone);
    socket.on('error', gone);
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await db.close();
    lock?.release();
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') {
      throw new Error(
        `cannot start the embedded PostgreSQL: ${host}:${opts.port} is already in use. ` +
          `Stop what listens there, or choose another port (EMETH_PGLITE_PORT).`,
        { cause: err },
      );
    }
    throw err;
  }

  const address = server.address() as net.AddressInfo;
  let stopped: Promise<void> | null = null;
  return {
    host,
    port: address.port,
    url: `postgresql://postgres:postgres@${host}:${address.port}/postgres`,
    stop() {
      stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const c of conns) c.socket.destroy();
        await closed;
        clearIdle();
        while (pumping) await pumping; // let a rollback of a dropped transaction finish first
        try {
          await db.close();
        } finally {
          lock?.release();
        }
      })();
      return stopped;
    },
  };
}

/** A simple-query ('Q') protocol message. */
function simpleQuery(sql: string): Uint8Array {
  const body = Buffer.from(`${sql}\0`, 'utf8');
  const msg = Buffer.alloc(5 + body.length);
  msg[0] = MSG_QUERY;
  msg.writeInt32BE(4 + body.length, 1);
  body.copy(msg, 5);
  return new Uint8Array(msg);
}
