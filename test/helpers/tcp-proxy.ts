import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './free-port.ts';

/**
 * A TCP proxy on loopback in front of a real server, that a test can cut (every connection reset,
 * new ones refused — the server looks down) and restore on the same port: an outage of a real
 * dependency without stopping it for everyone else.
 */
export interface TcpProxy {
  readonly url: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: URL): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  const listen = () => new Promise<void>((resolve, reject) => {
    const s = createServer((client) => {
      const upstream = connect(Number(target.port || 80), target.hostname);
      for (const sock of [client, upstream]) { sockets.add(sock); sock.once('close', () => sockets.delete(sock)); }
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => { server = s; resolve(); });
  });
  const stop = () => new Promise<void>((resolve) => {
    for (const s of sockets) s.resetAndDestroy();
    if (!server) return resolve();
    server.close(() => resolve());
    server = null;
  });
  await listen();
  return { url: `${target.protocol}//127.0.0.1:${port}`, cut: stop, restore: listen, close: stop };
}
