import { isIP, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { TributaryError } from '../ports/errors.ts';
import { LogEvents } from '../observability/metrics.ts';
import type { ApiContext } from './context.ts';
import { buildApp } from './app.ts';

export interface RunningServer {
  app: FastifyInstance;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  /** Stops accepting connections and waits for in-flight requests. Does not close what it was built on. */
  close(): Promise<void>;
}

/** 127.0.0.0/8, ::1, ::ffff:127.x and "localhost". */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/**
 * Builds the app and listens on config.host:config.port (port 0 picks a free port). Without API keys
 * the API is open, so it may only listen on loopback: any other HOST is refused.
 */
export async function startServer(ctx: ApiContext): Promise<RunningServer> {
  const { settings: config, logger } = ctx;
  const open = config.apiKeys.length === 0;
  if (open && !isLoopbackHost(config.host)) {
    throw new TributaryError('INVALID_CONFIG', `HOST=${config.host} would expose the API without access control: configure API keys `
      + '(TRIBUTARY_API_KEYS or TRIBUTARY_API_KEYS_FILE, each {"name","sha256","scopes"}) or listen on loopback (HOST=127.0.0.1)');
  }
  const app = await buildApp(ctx, { logger: true });
  // connections that never sent a request: Node's close() leaves them until headersTimeout (60 s),
  // which would hold a shutdown that long (clients such as undici open spare connections)
  const unused = new Set<Socket>();
  app.server.on('connection', (s: Socket) => {
    unused.add(s);
    s.once('close', () => unused.delete(s));
  });
  app.server.on('request', (req: { socket: Socket }) => { unused.delete(req.socket); });
  const url = await app.listen({ host: config.host, port: config.port });
  if (open) logger.warn({ event: LogEvents.authOpen, url }, 'no API keys configured: the API is open to every local user (listening on loopback only)');
  return {
    app, url,
    async close() {
      const closing = app.close();
      const reap = setInterval(() => { for (const s of unused) s.destroy(); }, 50);
      for (const s of unused) s.destroy();
      try {
        await closing;
      } finally {
        clearInterval(reap);
      }
    },
  };
}
