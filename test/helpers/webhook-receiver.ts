import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fine-tune webhook receiver for tests: a real HTTP server that records every delivery (its
 * Idempotency-Key, the body's bytes and hash, the signature header) and answers 202 {id}. It keeps
 * one job per key, as a receiver honouring Idempotency-Key would: a repeated key gets the same id.
 * `failEvery` answers every n-th request with 503 (a receiver having a bad moment); `delayMs` waits
 * before answering (so a sender can die while its request is in flight).
 */
export interface Delivery {
  key: string | null;
  body: Buffer;
  sha256: string;
  signature: string | null;
  at: number;
}

export interface WebhookReceiver {
  url: string;
  deliveries: Delivery[];
  /** Distinct keys, in the order first seen. */
  keys(): string[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(opts: { failEvery?: number; port?: number; delayMs?: number } = {}): Promise<WebhookReceiver> {
  const deliveries: Delivery[] = [];
  const ids = new Map<string, string>();
  let n = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void (async () => {
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      n++;
      const body = Buffer.concat(chunks);
      const key = (req.headers['idempotency-key'] as string | undefined) ?? null;
      deliveries.push({ key, body, sha256: createHash('sha256').update(body).digest('hex'), signature: (req.headers['x-tributary-signature'] as string | undefined) ?? null, at: Date.now() });
      if (opts.failEvery && n % opts.failEvery === 0) {
        res.writeHead(503, { 'retry-after': '0' }).end('busy');
        return;
      }
      if (key && !ids.has(key)) ids.set(key, `rcv-${ids.size + 1}`);
      if (!res.destroyed) res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id: key ? ids.get(key) : null }));
    })());
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/finetune`,
    deliveries,
    keys: () => [...new Set(deliveries.map((d) => d.key).filter((k): k is string => k !== null))],
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
