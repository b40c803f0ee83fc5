import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A small OpenAI-compatible GPU server stand-in on 127.0.0.1:0, for the inference proxy tests:
 * chat completions and completions (JSON or SSE streaming, `tokens` deltas `tokenDelayMs` apart),
 * embeddings, models and a health check. Failures are scripted per request (`failNext`) or held
 * (`down`). It records every request (raw body bytes included) and when a stream's client went away.
 */
export type Failure =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: unknown }
  /** Destroy the socket before answering (connection reset, nothing sent). */
  | { kind: 'reset' }
  /** Send headers, then destroy the socket before the first body byte. */
  | { kind: 'reset-after-headers' }
  /** Stream `afterChunks` data events, then destroy the socket. */
  | { kind: 'cut'; afterChunks: number }
  /** Stream `afterChunks` data events, then end cleanly without [DONE]. */
  | { kind: 'end-early'; afterChunks: number }
  /** Wait this long before answering. */
  | { kind: 'hang'; ms: number };

export interface UpstreamRequest {
  path: string;
  method: string;
  headers: IncomingMessage['headers'];
  raw: string;
  body: Record<string, unknown> | null;
  at: number;
}

export interface FakeUpstream {
  readonly name: string;
  readonly url: string;
  readonly requests: UpstreamRequest[];
  /** performance.now() when a client (the proxy) abandoned a stream before it ended. */
  readonly aborts: number[];
  tokens: number;
  tokenDelayMs: number;
  /** Delay before the first token (prefill). */
  firstTokenDelayMs: number;
  /** While true, every request (health checks too) answers 503. */
  down: boolean;
  failNext(...f: Failure[]): void;
  /** Requests to `path` (default: every non-health request). */
  count(path?: string): number;
  /** Resolves at the next abandoned stream. */
  nextAbort(): Promise<number>;
  /** Streams being sent right now. */
  readonly activeStreams: number;
  /** Destroys every open connection (a crash), keeps listening unless `stop`. */
  kill(opts?: { stop?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export const HEALTH = '/v1/models';

export async function startFakeUpstream(name: string, opts: { tokens?: number; tokenDelayMs?: number; firstTokenDelayMs?: number } = {}): Promise<FakeUpstream> {
  const sockets = new Set<Socket>();
  const failures: Failure[] = [];
  const requests: UpstreamRequest[] = [];
  const aborts: number[] = [];
  const abortWaiters: Array<(t: number) => void> = [];
  let active = 0;

  const server: Server = createServer((req, res) => { void handle(req, res); });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const api: FakeUpstream = {
    name,
    url: '',
    requests,
    aborts,
    tokens: opts.tokens ?? 5,
    tokenDelayMs: opts.tokenDelayMs ?? 1,
    firstTokenDelayMs: opts.firstTokenDelayMs ?? 0,
    down: false,
    failNext: (...f) => { failures.push(...f); },
    count: (path) => requests.filter((r) => (path ? r.path === path : r.path !== HEALTH)).length,
    nextAbort: () => new Promise((r) => abortWaiters.push(r)),
    get activeStreams() { return active; },
    kill: async (o = {}) => {
      for (const s of sockets) s.destroy();
      if (o.stop) await new Promise<void>((r) => server.close(() => r()));
    },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
      if (!server.listening) resolve();
    }),
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: Record<string, unknown> | null;
    try { body = raw ? (JSON.parse(raw) as Record<string, unknown>) : null; } catch { body = null; }
    const path = (req.url ?? '/').split('?')[0]!;
    requests.push({ path, method: req.method ?? 'GET', headers: req.headers, raw, body, at: performance.now() });

    if (api.down) return json(res, 503, { error: { message: `${name} is down`, type: 'server_error' } });
    if (path === HEALTH && req.method === 'GET') return json(res, 200, { object: 'list', data: [{ id: 'm', object: 'model', created: 0, owned_by: name }] });
    const f = failures.shift();
    if (f?.kind === 'hang') await sleep(f.ms);
    if (f?.kind === 'status') {
      res.writeHead(f.status, { 'content-type': 'application/json', ...f.headers });
      res.end(JSON.stringify(f.body ?? { error: { message: `${name} scripted ${f.status}`, type: 'server_error' } }));
      return;
    }
    if (f?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    const model = String(body?.['model'] ?? 'unknown');
    if (path === '/v1/embeddings') {
      const input = body?.['input'];
      const n = Array.isArray(input) ? input.length : 1;
      return json(res, 200, { object: 'list', model, data: Array.from({ length: n }, (_, index) => ({ object: 'embedding', index, embedding: [0.1, 0.2, 0.3] })), usage: { prompt_tokens: 3 * n, total_tokens: 3 * n } });
    }
    if (path !== '/v1/chat/completions' && path !== '/v1/completions') return json(res, 404, { error: { message: `no route ${path}` } });
    const chat = path === '/v1/chat/completions';
    const words = Array.from({ length: api.tokens }, (_, i) => `${name}-t${i} `);
    const usage = { prompt_tokens: 10, completion_tokens: api.tokens, total_tokens: 10 + api.tokens };
    if (body?.['stream'] !== true) {
      if (api.firstTokenDelayMs) await sleep(api.firstTokenDelayMs);
      const text = words.join('');
      return json(res, 200, chat
        ? { id: `chatcmpl-${name}`, object: 'chat.completion', created: 1, model, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage, echo_unknown: body?.['x_unknown_field'] ?? null }
        : { id: `cmpl-${name}`, object: 'text_completion', created: 1, model, choices: [{ index: 0, text, finish_reason: 'stop' }], usage });
    }
    const includeUsage = (body?.['stream_options'] as { include_usage?: boolean } | undefined)?.include_usage === true;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    if (f?.kind === 'reset-after-headers') {
      setTimeout(() => res.socket?.destroy(), 5);
      return;
    }
    active++;
    let finished = false;
    res.on('close', () => {
      active--;
      if (!finished) {
        const t = performance.now();
        aborts.push(t);
        for (const w of abortWaiters.splice(0)) w(t);
      }
    });
    const chunk = (delta: Record<string, unknown>, finish: string | null) => chat
      ? { id: `chatcmpl-${name}`, object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] }
      : { id: `cmpl-${name}`, object: 'text_completion', created: 1, model, choices: [{ index: 0, text: (delta['content'] as string | undefined) ?? '', finish_reason: finish }] };
    const cutAt = f && 'afterChunks' in f ? f.afterChunks : Infinity;
    if (api.firstTokenDelayMs) await sleep(api.firstTokenDelayMs);
    for (let i = 0; i <= words.length; i++) {
      if (res.destroyed) return;
      if (i >= cutAt) {
        if (f?.kind === 'cut') res.socket?.destroy();
        else { finished = true; res.end(); }
        return;
      }
      const data = i < words.length ? chunk(i === 0 && chat ? { role: 'assistant', content: words[i] } : { content: words[i] }, null) : chunk({}, 'stop');
      if (includeUsage) (data as Record<string, unknown>)['usage'] = null;
      res.write(`data: ${JSON.stringify(data)}\n\n`);
      if (i < words.length && api.tokenDelayMs) await sleep(api.tokenDelayMs);
    }
    if (includeUsage) res.write(`data: ${JSON.stringify({ id: `chatcmpl-${name}`, object: 'chat.completion.chunk', created: 1, model, choices: [], usage })}\n\n`);
    res.write('data: [DONE]\n\n');
    finished = true;
    res.end();
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  (api as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return api;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
