import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildApp } from '../api/app.ts';
import { StreamMasker } from '../streams/clean/mask-stream.ts';
import { loadConfig } from '../wiring/config.ts';
import { createSystem } from '../wiring/system.ts';
import { percentile } from './pipeline-bench.ts';

/**
 * What masking a streamed RAG answer costs (`npm run bench -- --only masking`): an OpenAI-compatible
 * HTTP LLM streams the same answer (prose with e-mails, a phone number, a password and a Bearer
 * token) in sub-word tokens of 1–5 characters, one every `spacingMs`; a client reads
 * `/v1/rag/query` with `stream: true` over HTTP and times every `delta` event. TRIBUTARY_GUARD_PII
 * mask vs off, interleaved, same run: the time between deltas (p50/p99), the time to the first
 * delta and to the end; and, from the masker itself on the same tokens, how many characters and
 * tokens it holds back after each token (p50/p99/max) and its CPU per token.
 */

export interface MaskingBenchResult {
  spacingMs: number;
  tokens: number;
  queriesPerRound: number;
  rounds: Array<{ pii: 'mask' | 'off'; gapP50Ms: number; gapP99Ms: number; firstDeltaMs: number; totalMs: number; deltas: number }>;
  /** mask / off, medians over rounds */
  ratios: { gapP50: number; gapP99: number; firstDelta: number; total: number };
  /** the masker alone on the answer's tokens */
  hold: { charsP50: number; charsP99: number; charsMax: number; tokensP50: number; tokensP99: number; tokensMax: number; cpuMicrosPerToken: number };
}

const ANSWER = [
  'Kafka keeps the records of one key in order because every record with that key goes to the same partition [1].',
  'The consumer group commits its offsets only after the sink acknowledged, so a crash replays at most one batch [1].',
  'For access, write to ops.team@example.com or call +44 20 7946 0958; the service account uses password: Gr33n-hunter2',
  'and clients send Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi1234567890abc with every request.',
  'Rebalancing moves partitions between consumers; a cooperative assignor keeps the others running while one joins [1].',
  'Retention deletes old segments by time or size, and compaction keeps the latest value of every key [1].',
].join(' ');

/** Sub-word tokens of 1–5 characters, deterministic. */
function tokenize(text: string): string[] {
  const out: string[] = [];
  let x = 12345;
  for (let i = 0; i < text.length;) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const n = 1 + (x % 5);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

/** p-th percentile (pipeline-bench's rule), in ms to two decimals. */
const pct = (xs: number[], p: number) => Math.round(percentile([...xs].sort((a, b) => a - b), p) * 100) / 100;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** An OpenAI-compatible chat server that streams `tokens`, one every `spacingMs`. */
async function startLlm(tokens: readonly string[], spacingMs: number): Promise<{ baseUrl: string; close: () => Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (c: Buffer) => { raw += c.toString('utf8'); });
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as { stream?: boolean };
      const chunk = (delta: Record<string, unknown>, finish: string | null) => `data: ${JSON.stringify({ id: 'b', object: 'chat.completion.chunk', created: 0, model: 'bench', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'b', object: 'chat.completion', created: 0, model: 'bench', choices: [{ index: 0, message: { role: 'assistant', content: tokens.join('') }, finish_reason: 'stop' }] }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk({ role: 'assistant', content: '' }, null));
      let i = 0;
      const tick = () => {
        if (res.destroyed) return;
        if (i < tokens.length) { res.write(chunk({ content: tokens[i++] }, null)); setTimeout(tick, spacingMs); return; }
        res.write(chunk({}, 'stop'));
        res.end('data: [DONE]\n\n');
      };
      setTimeout(tick, spacingMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}/v1`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

async function startApi(pii: 'mask' | 'off', llmBaseUrl: string) {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-masking-'));
  const config = loadConfig({}, { dataDir: dir, logLevel: 'silent', metricsEnabled: false, freshnessProbeMs: 0, embedder: 'hashing', sqliteSync: 'normal', llmBaseUrl, llmModel: 'bench', guardPii: pii, ragTraces: 'off' });
  const system = await createSystem(config, { logger: pino({ level: 'silent' }) });
  const app = await buildApp(system);
  await system.start();
  await app.inject({ method: 'POST', url: '/v1/content', payload: { items: [{ category: 'article', author: 'Ada', title: 'Kafka ordering', content: 'Kafka orders records within a partition; one key always maps to one partition.' }] } });
  while ((await system.index.count()) < 1) await new Promise((r) => setTimeout(r, 20));
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, close: async () => { await app.close(); await system.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/** One streamed answer over HTTP: when each delta event arrived (ms after the request), and when the stream ended. */
async function timedAnswer(url: string): Promise<{ deltas: number[]; totalMs: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/rag/query`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'How does Kafka keep records in order?', stream: true, expand: false, selfQuery: false, rerank: false, cache: false }),
  });
  const deltas: number[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    const at = performance.now() - t0;
    buf += decoder.decode(part, { stream: true });
    for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
      if (buf.slice(0, end).startsWith('event: delta')) deltas.push(at);
      buf = buf.slice(end + 2);
    }
  }
  return { deltas, totalMs: performance.now() - t0 };
}

export async function runMaskingBench(opts: { quick: boolean; log: (l: string) => void }): Promise<MaskingBenchResult> {
  const spacingMs = 5;
  const tokens = tokenize(ANSWER);
  const queriesPerRound = opts.quick ? 3 : 10;
  const llm = await startLlm(tokens, spacingMs);
  const apis = { off: await startApi('off', llm.baseUrl), mask: await startApi('mask', llm.baseUrl) };
  const rounds: MaskingBenchResult['rounds'] = [];
  try {
    for (let r = 0; r < (opts.quick ? 1 : 3); r++) {
      for (const pii of (r % 2 === 0 ? ['off', 'mask'] : ['mask', 'off']) as Array<'mask' | 'off'>) {
        const gaps: number[] = []; const first: number[] = []; const total: number[] = []; let count = 0;
        for (let q = 0; q < queriesPerRound; q++) {
          const a = await timedAnswer(apis[pii].url);
          for (let i = 1; i < a.deltas.length; i++) gaps.push(a.deltas[i]! - a.deltas[i - 1]!);
          first.push(a.deltas[0] ?? a.totalMs); total.push(a.totalMs); count += a.deltas.length;
        }
        const row = { pii, gapP50Ms: pct(gaps, 50), gapP99Ms: pct(gaps, 99), firstDeltaMs: Math.round(median(first) * 10) / 10, totalMs: Math.round(median(total) * 10) / 10, deltas: Math.round(count / queriesPerRound) };
        rounds.push(row);
        opts.log(`round ${r + 1}, pii ${pii}: gap p50 ${row.gapP50Ms} ms, p99 ${row.gapP99Ms} ms, first delta ${row.firstDeltaMs} ms, total ${row.totalMs} ms, ${row.deltas} deltas`);
      }
    }
  } finally {
    await apis.off.close();
    await apis.mask.close();
    await llm.close();
  }
  // the masker alone on the same tokens: what it holds after each token, and its CPU per token
  const heldChars: number[] = []; const heldTokens: number[] = [];
  const m = new StreamMasker();
  for (const t of tokens) {
    m.push(t);
    heldChars.push(m.holding);
    let n = 0; let c = 0;
    for (let i = heldTokens.length; i >= 0 && c < m.holding; i--) { c += tokens[i]!.length; n++; }
    heldTokens.push(m.holding === 0 ? 0 : n);
  }
  const reps = opts.quick ? 200 : 2000;
  const c0 = process.cpuUsage();
  for (let r = 0; r < reps; r++) { const mm = new StreamMasker(); for (const t of tokens) mm.push(t); mm.end(); }
  const cpu = process.cpuUsage(c0);
  const med = (pii: 'mask' | 'off', f: (x: MaskingBenchResult['rounds'][number]) => number) => median(rounds.filter((x) => x.pii === pii).map(f));
  const ratio = (f: (x: MaskingBenchResult['rounds'][number]) => number) => Math.round((med('mask', f) / med('off', f)) * 100) / 100;
  return {
    spacingMs, tokens: tokens.length, queriesPerRound, rounds,
    ratios: { gapP50: ratio((x) => x.gapP50Ms), gapP99: ratio((x) => x.gapP99Ms), firstDelta: ratio((x) => x.firstDeltaMs), total: ratio((x) => x.totalMs) },
    hold: {
      charsP50: pct(heldChars, 50), charsP99: pct(heldChars, 99), charsMax: Math.max(...heldChars),
      tokensP50: pct(heldTokens, 50), tokensP99: pct(heldTokens, 99), tokensMax: Math.max(...heldTokens),
      cpuMicrosPerToken: Math.round(((cpu.user + cpu.system) / (reps * tokens.length)) * 100) / 100,
    },
  };
}

export function maskingTable(r: MaskingBenchResult): string {
  const med = (pii: 'mask' | 'off', f: (x: MaskingBenchResult['rounds'][number]) => number) => median(r.rounds.filter((x) => x.pii === pii).map(f));
  const line = (name: string, f: (x: MaskingBenchResult['rounds'][number]) => number, ratio: number) => `| ${name} | ${med('off', f)} | ${med('mask', f)} | ${ratio}× |`;
  return [
    `Streamed RAG answer, ${r.tokens} tokens of 1–5 characters ${r.spacingMs} ms apart, TRIBUTARY_GUARD_PII off vs mask (medians of ${r.rounds.length / 2} interleaved rounds of ${r.queriesPerRound} answers)`,
    '| metric | off | mask | mask/off |', '|---|---|---|---|',
    line('time between deltas p50 (ms)', (x) => x.gapP50Ms, r.ratios.gapP50),
    line('time between deltas p99 (ms)', (x) => x.gapP99Ms, r.ratios.gapP99),
    line('first delta (ms)', (x) => x.firstDeltaMs, r.ratios.firstDelta),
    line('whole answer (ms)', (x) => x.totalMs, r.ratios.total),
    line('deltas per answer', (x) => x.deltas, Math.round((med('mask', (x) => x.deltas) / med('off', (x) => x.deltas)) * 100) / 100),
    `Held back after each token: p50 ${r.hold.charsP50} / p99 ${r.hold.charsP99} / max ${r.hold.charsMax} characters (p50 ${r.hold.tokensP50} / p99 ${r.hold.tokensP99} / max ${r.hold.tokensMax} tokens); masker CPU ${r.hold.cpuMicrosPerToken} µs per token`,
  ].join('\n');
}
