import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TributaryError } from '../ports/errors.ts';
import type { Metrics } from './metrics.ts';

/**
 * The metrics and health endpoints of a process that serves no API (`tributary consume …`,
 * `tributary cdc`): GET /metrics (Prometheus text: stage metrics, DLQ counts, embed and index
 * latencies, freshness per stage) and GET /healthz (200 while the process does its work, 503 with
 * the reason when it does not). A plain node:http server: two routes need no framework.
 */

export interface ProcessHealth {
  ok: boolean;
  /** What the process reports about itself (its consumer's status, its relay's). */
  detail: Record<string, unknown>;
}

export interface MetricsServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(opts: { host: string; port: number; metrics: Metrics; process: string; health: () => ProcessHealth }): Promise<MetricsServer> {
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' && path !== '/healthz') {
      json(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${path}: this ${opts.process} process serves GET /metrics and GET /healthz` } });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, { error: { code: 'INVALID_INPUT', message: `${req.method} is not allowed on ${path}; use GET` } }, { allow: 'GET, HEAD' });
      return;
    }
    if (path === '/healthz') {
      let h: ProcessHealth;
      try { h = opts.health(); } catch (e) { h = { ok: false, detail: { error: (e as Error).message } }; }
      json(res, h.ok ? 200 : 503, { status: h.ok ? 'ok' : 'unhealthy', process: opts.process, ...h.detail });
      return;
    }
    opts.metrics.registry.metrics().then(
      (text) => { res.writeHead(200, { 'content-type': opts.metrics.registry.contentType }); res.end(req.method === 'HEAD' ? undefined : text); },
      (e: unknown) => json(res, 500, { error: { code: 'INTERNAL', message: `metrics could not be collected: ${(e as Error).message}` } }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new TributaryError('INVALID_CONFIG', e.code === 'EADDRINUSE'
      ? `TRIBUTARY_METRICS_PORT (metricsPort): port ${opts.port} on ${opts.host} is in use; give each process on a host its own port (0 picks a free one)`
      : `TRIBUTARY_METRICS_PORT (metricsPort): cannot listen on ${opts.host}:${opts.port}: ${e.message}`, { cause: e })));
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
