import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { issueDetails } from '../../common/zod-issues.ts';
import { contentRequestSchema, type ContentItem } from '../../schemas/content.ts';
import { documentIdFor } from '../../schemas/ids.ts';

/**
 * A stand-in for the Tributary API with the same routes and response shapes (api/routes), backed
 * by an in-memory list. It records every request, and can be told to answer the next requests
 * with an error, so the CLI's retries, splitting and error messages can be tested in-process.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

export interface FakeApi {
  url: string;
  requests: RecordedRequest[];
  documents: Map<string, ContentItem>;
  /** Answers the next `times` requests to `path` with `status` and an error body. */
  failNext(path: string, status: number, code: string, times?: number, headers?: Record<string, string>): void;
  /** Documents become searchable only after this many search calls (simulates the pipeline). */
  searchableAfterCalls: number;
  /** Forgets requests, documents and pending failures. */
  reset(): void;
  close(): Promise<void>;
}

const errorBody = (code: string, message: string, details?: unknown) => ({ error: { code, message, ...(details !== undefined ? { details } : {}) } });

export async function startFakeApi(): Promise<FakeApi> {
  const requests: RecordedRequest[] = [];
  const documents = new Map<string, ContentItem>();
  const failures: Array<{ path: string; status: number; code: string; times: number; headers: Record<string, string> }> = [];
  let searchCalls = 0;

  const api: FakeApi = {
    url: '',
    requests,
    documents,
    searchableAfterCalls: 0,
    failNext(path, status, code, times = 1, headers = {}) { failures.push({ path, status, code, times, headers }); },
    reset() {
      requests.length = 0;
      documents.clear();
      failures.length = 0;
      searchCalls = 0;
      api.searchableAfterCalls = 0;
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = undefined;
    if (text) {
      try { body = JSON.parse(text); } catch { send(res, 400, errorBody('INVALID_INPUT', 'request body is not valid JSON')); return; }
    }
    requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body });

    const failure = failures.find((f) => f.path === url.pathname && f.times > 0);
    if (failure) {
      failure.times--;
      send(res, failure.status, errorBody(failure.code, `injected ${failure.code}`), failure.headers);
      return;
    }

    const route = `${req.method} ${url.pathname}`;
    if (route === 'POST /v1/content') {
      const parsed = contentRequestSchema.safeParse(body);
      if (!parsed.success) {
        send(res, 400, errorBody('INVALID_INPUT', 'invalid request body', issueDetails(parsed.error.issues)));
        return;
      }
      const items = 'items' in parsed.data ? parsed.data.items : [parsed.data];
      const ids = items.map((it) => {
        const id = documentIdFor(it.source ?? 'api', it.externalId ?? crypto.randomUUID());
        documents.set(id, it);
        return id;
      });
      send(res, 202, { ids });
      return;
    }
    if (route === 'POST /v1/search' || route === 'POST /v1/rag/query') {
      const b = body as { query: string; k?: number; stream?: boolean; filter?: { category?: string | string[]; author?: string | string[] } };
      searchCalls++;
      const ready = searchCalls > api.searchableAfterCalls;
      const words = b.query.toLowerCase().split(/\W+/).filter((w) => w.length > 2);
      const match = (v: string, f?: string | string[]) => f === undefined || ([] as string[]).concat(f).includes(v);
      const hits = !ready ? [] : [...documents.entries()]
        .filter(([, d]) => match(d.category, b.filter?.category) && match(d.author, b.filter?.author))
        .map(([id, d]) => ({ id, d, score: words.filter((w) => `${d.title ?? ''} ${d.content}`.toLowerCase().includes(w)).length / Math.max(1, words.length) }))
        .filter((h) => h.score > 0)
        .sort((a, z) => z.score - a.score)
        .slice(0, b.k ?? 10)
        .map(({ id, d, score }) => ({ docId: id, chunkIndex: 0, score, text: d.content.slice(0, 400), category: d.category, author: d.author, title: d.title ?? null, url: d.url ?? null }));
      if (url.pathname === '/v1/search') { send(res, 200, { hits }); return; }
      const sources = hits.map(({ docId, chunkIndex, text, score, title, url: u }) => ({ docId, chunkIndex, text, score, title, url: u }));
      const answer = hits.length ? `Extractive answer: ${hits[0]!.text.slice(0, 80)} [1]` : 'I could not find this in the indexed content.';
      const steps = { selfQuery: { status: 'skipped', reason: 'no LLM' }, expansion: { status: 'skipped', reason: 'no LLM' }, search: { variants: 1, candidates: hits.length }, rerank: { status: 'skipped', reason: 'no LLM' } };
      if (!b.stream) { send(res, 200, { answer, mode: 'extractive', sources, steps }); return; }
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      res.write(`event: sources\ndata: ${JSON.stringify({ sources })}\n\n`);
      for (const part of answer.match(/.{1,12}/gs) ?? []) res.write(`event: delta\ndata: ${JSON.stringify({ text: part })}\n\n`);
      if (b.query.includes('fail mid-stream')) {
        res.end(`event: error\ndata: ${JSON.stringify(errorBody('LLM_UNAVAILABLE', 'upstream went away'))}\n\n`);
        return;
      }
      res.end(`event: done\ndata: ${JSON.stringify({ answer, mode: 'extractive', steps })}\n\n`);
      return;
    }
    if (route === 'GET /v1/ops/lag') {
      send(res, 200, { groups: [
        { group: 'clean', topic: 'tributary.cdc.tributary.documents', partition: 0, committed: 10, end: 12, lag: 2 },
        { group: 'clean', topic: 'tributary.cdc.tributary.documents', partition: 1, committed: 7, end: 7, lag: 0 },
        { group: 'embed', topic: 'tributary.content.cleaned', partition: 0, committed: 5, end: 5, lag: 0 },
      ] });
      return;
    }
    if (route === 'GET /v1/ops/dlq') {
      const entries = [
        { offset: 0, partition: 0, stage: 'clean', code: 'MALFORMED_EVENT', message: 'after is not valid extended JSON', sourceTopic: 'tributary.cdc.tributary.documents', sourcePartition: 1, sourceOffset: 42, attempts: 1, firstSeenMs: 1_750_000_000_000, key: 'doc-1', valuePreview: '{', valueBytes: 1, pending: true },
        { offset: 1, partition: 0, stage: 'embed', code: 'EMBEDDER_REJECTED', message: 'input too long', sourceTopic: 'tributary.content.cleaned', sourcePartition: 0, sourceOffset: 7, attempts: 5, firstSeenMs: 1_750_000_100_000, key: 'doc-2', valuePreview: '{}', valueBytes: 2, pending: false },
      ];
      const stage = url.searchParams.get('stage');
      send(res, 200, { entries: entries.filter((e) => !stage || e.stage === stage).slice(0, Number(url.searchParams.get('limit') ?? 100)) });
      return;
    }
    if (route === 'POST /v1/ops/dlq/replay') {
      send(res, 200, { replayed: 1, skipped: 0 });
      return;
    }
    send(res, 404, errorBody('NOT_FOUND', `Route ${req.method}:${url.pathname} not found`));
  };

  const server: Server = createServer((req, res) => { handle(req, res).catch((e: Error) => send(res, 500, errorBody('INTERNAL', e.message))); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return api;
}
