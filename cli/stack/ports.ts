import net from 'node:net';
import { PortInUseError } from '../../lib/errors';

/** Resolves true when nothing listens on host:port (checked by binding it for a moment). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

export async function assertPortFree(
  port: number,
  what: string,
  variable: string,
  host = '127.0.0.1',
): Promise<void> {
  if (!(await isPortFree(port, host))) throw new PortInUseError(port, what, variable);
}

// Linux hands out ephemeral ports at random, so two quick calls can return the same one; a
// process that asks for several ports at once (a dev server's gRPC, HTTP, metrics and UI ports)
// must not be given the same port twice.
const handedOut = new Set<number>();

/** A port the OS considers free right now. Racy by nature; callers retry on EADDRINUSE where it matters. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = await osFreePort(host);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function osFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
