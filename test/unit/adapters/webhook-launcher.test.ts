import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyWebhookSignature, webhookBody, WebhookLauncher, type WebhookLauncherConfig } from '../../../adapters/finetune-launcher/webhook/webhook-launcher.ts';
import { findTributaryError } from '../../../ports/errors.ts';
import type { LaunchRequest } from '../../../ports/finetune-launcher.ts';
import { failure } from '../../helpers/failure.ts';

/** What the receiver does with the next request. */
type Answer = { status: number; headers?: Record<string, string>; body?: string } | { hang: true };

interface Received { method: string; url: string; headers: IncomingHttpHeaders; body: Buffer }

let server: Server;
let url: string;
const sockets = new Set<Socket>();
const received: Received[] = [];
const answers: Answer[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      const a = answers.shift() ?? { status: 200, body: JSON.stringify({ id: `job-${received.length}` }) };
      if ('hang' in a) return; // never answers: the client must time out
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(a.body ?? '');
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/finetune?token=abc`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  received.length = 0;
  answers.length = 0;
});

const SECRET = 'a-secret-of-at-least-16-chars';

function launcher(overrides: Partial<WebhookLauncherConfig> = {}): WebhookLauncher {
  return new WebhookLauncher({ type: 'webhook', url, timeoutMs: 2_000, inlineMaxBytes: 1024 * 1024, ...overrides });
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function request(): LaunchRequest {
  const train = Buffer.from(`${JSON.stringify({ messages: [{ role: 'user', content: 'what is CDC — ünïcode' }, { role: 'assistant', content: 'change data capture' }] })}\n`
    + `${JSON.stringify({ messages: [{ role: 'user', content: 'q2' }, { role: 'assistant', content: 'a2' }] })}\n`);
  const valid = Buffer.from(`${JSON.stringify({ messages: [{ role: 'user', content: 'q3' }, { role: 'assistant', content: 'a3' }] })}\n`);
  const files = [
    { name: 'train.jsonl', content: train, sha256: sha256(train), bytes: train.byteLength, records: 2 },
    { name: 'validation.jsonl', content: valid, sha256: sha256(valid), bytes: valid.byteLength, records: 1 },
  ];
  return {
    jobId: 'docs-0123456789abcdef0123', dataset: 'docs', datasetVersion: '0123456789abcdef0123', format: 'chat-sft', items: 3,
    manifest: {
      dataset: 'docs', version: '0123456789abcdef0123', format: 'chat-sft', createdAtMs: 1_700_000_000_000,
      counts: { items: 3, documents: 2 }, sources: { offsets: { 0: 41 } },
      files: files.map(({ name, bytes, sha256: h, records }) => ({ name, bytes, sha256: h, records })),
    },
    files,
    workDir: '/nonexistent/not-used-by-the-webhook',
  };
}

const signal = (): AbortSignal => new AbortController().signal;

describe('WebhookLauncher against a real HTTP receiver', () => {
  it('POSTs the version with its files inline, in a fixed shape, and returns the receiver id', async () => {
    const req = request();
    const status = await launcher().launch(req, signal());
    expect(status).toEqual({ state: 'launched', externalId: 'job-1' });
    expect(received).toHaveLength(1);
    const r = received[0]!;
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/hooks/finetune?token=abc');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['idempotency-key']).toBe('0123456789abcdef0123');
    expect(r.headers['user-agent']).toBe('tributary');
    expect(r.headers['x-tributary-dataset']).toBe('docs');
    expect(r.headers['x-tributary-signature']).toBeUndefined();
    const text = r.body.toString('utf8');
    const expected = {
      jobId: req.jobId, dataset: 'docs', datasetVersion: req.datasetVersion, format: 'chat-sft', items: 3, manifest: req.manifest,
      files: req.files.map((f) => ({ name: f.name, sha256: f.sha256, bytes: f.bytes, records: f.records, content: Buffer.from(f.content).toString('utf8') })),
    };
    // exactly these keys in this order, serialised without spaces
    expect(text).toBe(JSON.stringify(expected));
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['jobId', 'dataset', 'datasetVersion', 'format', 'items', 'manifest', 'files']);
    const files = body.files as Array<{ content: string; sha256: string }>;
    // the receiver can check each inline file against its hash
    for (const f of files) expect(sha256(Buffer.from(f.content, 'utf8'))).toBe(f.sha256);
    expect(Object.keys(files[0]!)).toEqual(['name', 'sha256', 'bytes', 'records', 'content']);
    expect(r.body.equals(webhookBody(req, 1024 * 1024))).toBe(true);
  });

  it('sends identical bytes on every retry of one version, from one launcher or another', async () => {
    const a = launcher({ secret: SECRET });
    await a.launch(request(), signal());
    await a.launch(request(), signal());
    await launcher({ secret: SECRET }).launch(request(), signal());
    expect(received).toHaveLength(3);
    expect(received[1]!.body.equals(received[0]!.body)).toBe(true);
    expect(received[2]!.body.equals(received[0]!.body)).toBe(true);
    expect(new Set(received.map((r) => r.headers['x-tributary-signature'])).size).toBe(1);
    expect(new Set(received.map((r) => r.headers['idempotency-key'])).size).toBe(1);
  });

  it('signs the exact body with HMAC-SHA256 (GitHub convention); another secret or a changed body does not verify', async () => {
    await launcher({ secret: SECRET }).launch(request(), signal());
    const r = received[0]!;
    const header = r.headers['x-tributary-signature'] as string;
    expect(header).toBe(`sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`);
    expect(verifyWebhookSignature(SECRET, r.body, header)).toBe(true);
    expect(verifyWebhookSignature('another-secret-of-16-chars', r.body, header)).toBe(false);
    const tampered = Buffer.from(r.body.toString('utf8').replace('"items":3', '"items":4'));
    expect(tampered.equals(r.body)).toBe(false);
    expect(verifyWebhookSignature(SECRET, tampered, header)).toBe(false);
    expect(verifyWebhookSignature(SECRET, r.body, undefined)).toBe(false);
    expect(verifyWebhookSignature(SECRET, r.body, 'sha256=00')).toBe(false);
  });

  it('omits the contents when the files exceed inlineMaxBytes, and says why', async () => {
    const req = request();
    const total = req.files.reduce((n, f) => n + f.bytes, 0);
    await launcher({ inlineMaxBytes: total - 1 }).launch(req, signal());
    const body = JSON.parse(received[0]!.body.toString('utf8')) as { files: Array<Record<string, unknown>>; contentOmitted: string };
    expect(Object.keys(body).at(-1)).toBe('contentOmitted');
    expect(body.contentOmitted).toContain(String(total));
    expect(body.files.map((f) => f.content)).toEqual([null, null]);
    expect(body.files.map((f) => f.sha256)).toEqual(req.files.map((f) => f.sha256));
    // exactly at the limit, the contents are inline
    await launcher({ inlineMaxBytes: total }).launch(req, signal());
    const inline = JSON.parse(received[1]!.body.toString('utf8')) as { files: Array<{ content: unknown }>; contentOmitted?: string };
    expect(inline.contentOmitted).toBeUndefined();
    expect(inline.files.every((f) => typeof f.content === 'string')).toBe(true);
  });

  it('2xx answers: jobId, a state, a model and an error are honoured; a non-JSON answer is "launched" without id', async () => {
    answers.push(
      { status: 201, body: JSON.stringify({ jobId: 'recv-7' }) },
      { status: 200, body: JSON.stringify({ id: 'recv-8', state: 'succeeded', model: 'ft:docs:1' }) },
      { status: 200, body: JSON.stringify({ id: 9, state: 'failed', error: 'bad data' }) },
      { status: 202, body: 'accepted' },
      { status: 200, body: JSON.stringify({ id: 'recv-10', state: 'exploded' }) },
    );
    const l = launcher();
    expect(await l.launch(request(), signal())).toEqual({ state: 'launched', externalId: 'recv-7' });
    expect(await l.launch(request(), signal())).toEqual({ state: 'succeeded', externalId: 'recv-8', model: 'ft:docs:1' });
    expect(await l.launch(request(), signal())).toEqual({ state: 'failed', externalId: null, error: 'bad data' });
    expect(await l.launch(request(), signal())).toEqual({ state: 'launched', externalId: null });
    expect(await l.launch(request(), signal())).toEqual({ state: 'launched', externalId: 'recv-10' });
  });

  it('409 (in progress) and 503 with Retry-After are LAUNCHER_UNAVAILABLE, retryable, with the delay and status', async () => {
    answers.push(
      { status: 409, headers: { 'retry-after': '7' }, body: '{"error":"in progress"}' },
      { status: 503, headers: { 'retry-after': new Date(Date.now() + 30_000).toUTCString() }, body: 'down' },
      { status: 429, body: 'slow down' },
      { status: 500, body: 'boom' },
    );
    const l = launcher();
    const conflict = await failure(l.launch(request(), signal()));
    expect(conflict.code).toBe('LAUNCHER_UNAVAILABLE');
    expect(conflict.retryable).toBe(true);
    expect(conflict.retryAfterMs).toBe(7_000);
    expect(conflict.upstreamStatus).toBe(409);
    expect(conflict.message).toContain('in progress');
    const down = await failure(l.launch(request(), signal()));
    expect(down.code).toBe('LAUNCHER_UNAVAILABLE');
    expect(down.upstreamStatus).toBe(503);
    expect(down.retryAfterMs).toBeGreaterThan(25_000);
    expect(down.retryAfterMs).toBeLessThanOrEqual(30_000);
    const limited = await failure(l.launch(request(), signal()));
    expect([limited.code, limited.retryable, limited.upstreamStatus, limited.retryAfterMs]).toEqual(['LAUNCHER_UNAVAILABLE', true, 429, undefined]);
    const boom = await failure(l.launch(request(), signal()));
    expect([boom.code, boom.retryable, boom.upstreamStatus]).toEqual(['LAUNCHER_UNAVAILABLE', true, 500]);
  });

  it('400 and redirects are LAUNCH_REJECTED, not retryable, naming the URL, the status and the start of the body', async () => {
    answers.push(
      { status: 400, body: `{"error":"unknown format"}${'x'.repeat(1000)}` },
      { status: 302, headers: { location: 'http://elsewhere.example/' }, body: '' },
    );
    const l = launcher();
    const bad = await failure(l.launch(request(), signal()));
    expect(bad.code).toBe('LAUNCH_REJECTED');
    expect(bad.retryable).toBe(false);
    expect(bad.upstreamStatus).toBe(400);
    expect(bad.message).toContain('400');
    expect(bad.message).toContain('unknown format');
    expect(bad.message).toContain(url.split('?')[0]);
    expect(bad.message).not.toContain('token=abc'); // the query string may hold a token
    expect(bad.message).not.toContain('x'.repeat(300)); // only the first 300 characters of the body
    const moved = await failure(l.launch(request(), signal()));
    expect([moved.code, moved.upstreamStatus]).toEqual(['LAUNCH_REJECTED', 302]);
    expect(received).toHaveLength(2); // the redirect was not followed
  });

  it('a receiver that hangs times out as LAUNCHER_UNAVAILABLE', async () => {
    answers.push({ hang: true });
    const t0 = Date.now();
    const err = await failure(launcher({ timeoutMs: 300 }).launch(request(), signal()));
    expect(err.code).toBe('LAUNCHER_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('timed out after 300 ms');
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('a receiver that cannot be reached is LAUNCHER_UNAVAILABLE', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await failure(launcher({ url: `http://127.0.0.1:${port}/` }).launch(request(), signal()));
    expect([err.code, err.retryable, err.upstreamStatus]).toEqual(['LAUNCHER_UNAVAILABLE', true, undefined]);
  });

  it("the caller's abort is rethrown as the abort, not as a launcher error", async () => {
    answers.push({ hang: true });
    const ac = new AbortController();
    const p = launcher({ timeoutMs: 10_000 }).launch(request(), ac.signal);
    setTimeout(() => ac.abort(), 100);
    const err = await p.then(() => null, (e: unknown) => e);
    expect(findTributaryError(err)).toBeUndefined();
    expect((err as Error).name).toBe('AbortError');
  });

  it('poll returns the status unchanged', async () => {
    const current = { state: 'launched' as const, externalId: 'x' };
    expect(await launcher().poll(request(), current, signal())).toBe(current);
    expect(received).toHaveLength(0);
  });
});
