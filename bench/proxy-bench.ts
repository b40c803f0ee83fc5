import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { freePort } from '../test/helpers/free-port.ts';

/**
 * Added latency of the inference proxy, measured against calling the same upstream directly in the
 * same run. Three processes on loopback: a fake GPU upstream (streams `tokens` SSE chunks
 * `tokenIntervalMs` apart after a `prefillMs` wait), Tributary's API in front of it, and this
 * process as the load generator. For each concurrency (streams in flight at once) it runs the same
 * number of streaming requests directly and through the proxy, alternating in rounds, and reports
 * p50/p99 of time to first token and of total time, and their differences. Then maximum
 * requests/s with small non-streaming completions. If a LiteLLM proxy binary is given (or found),
 * the same load runs through it too.
 *
 *   node bench/proxy-bench.ts [--quick] [--json] [--rounds N] [--requests N] [--litellm /path/to/litellm]
 *
 * On a machine shared with other work the tail percentiles move with the background load; each
 * level therefore also reports the median over rounds of the per-round p99 difference, and how much
 * the direct p99 itself varied between rounds (the resolution of the figure).
 */

export interface ProxyBenchOptions {
  concurrency?: number[];
  /** Streaming requests per concurrency level and target (split over `rounds`). */
  requestsPerLevel?: number;
  rounds?: number;
  tokens?: number;
  tokenIntervalMs?: number;
  prefillMs?: number;
  /** Duration of each max-throughput phase. */
  throughputSeconds?: number;
  throughputConcurrency?: number;
  /** Path to LiteLLM's `litellm` executable; null to skip. Default: TRIBUTARY_BENCH_LITELLM if set. */
  litellm?: string | null;
  log?: (msg: string) => void;
}

export interface Percentiles { p50: number; p99: number; mean: number; n: number }
export interface TargetStats { ttftMs: Percentiles; totalMs: Percentiles; errors: number }
export interface LevelResult {
  concurrency: number;
  direct: TargetStats;
  proxy: TargetStats;
  /** proxy minus direct, per percentile (ms). */
  added: { ttftP50: number; ttftP99: number; totalP50: number; totalP99: number };
  /** CPU time the proxy process spent per streamed request (user + system). */
  proxyCpuMsPerRequest: number;
  /** Median over rounds of (proxy p99 − direct p99) within the same round: less sensitive to bursts of background load. */
  roundsAddedP99: { ttftMedian: number; totalMedian: number };
  /** max − min of the direct p99 total time across rounds: differences smaller than this are within the noise of this machine. */
  directP99SpreadMs: number;
  litellm?: TargetStats;
  litellmAdded?: { ttftP50: number; ttftP99: number; totalP50: number; totalP99: number };
}
export interface ProxyBenchResult {
  machine: { cpus: number; model: string; node: string };
  params: Required<Omit<ProxyBenchOptions, 'litellm' | 'log'>>;
  streams: LevelResult[];
  maxRequestsPerSecond: { direct: number; proxy: number; litellm?: number };
  /** Target: p99 added ≤ 2 ms at 200 concurrent streams (total time). */
  target: { p99AddedMsAt200: number | null; limitMs: 2; met: boolean | null };
  /** 1/5/15-minute load average at the end of the run (> CPU count: other work competed for the CPUs). */
  loadAverage: number[];
  litellm: string;
}

const SELF = fileURLToPath(import.meta.url);
const MODEL = 'bench-model';
/** Both proxies check a key, as they would in production (Tributary: hashed key with the inference scope; LiteLLM: master key). */
const BENCH_KEY = `sk-bench-${randomBytes(16).toString('hex')}`;

export async function runProxyBench(o: ProxyBenchOptions = {}): Promise<ProxyBenchResult> {
  const params = {
    concurrency: o.concurrency ?? [50, 200],
    requestsPerLevel: o.requestsPerLevel ?? 1200,
    rounds: o.rounds ?? 6,
    tokens: o.tokens ?? 32,
    tokenIntervalMs: o.tokenIntervalMs ?? 20,
    prefillMs: o.prefillMs ?? 20,
    throughputSeconds: o.throughputSeconds ?? 3,
    throughputConcurrency: o.throughputConcurrency ?? 64,
  };
  const log = o.log ?? (() => undefined);
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  try {
    const upstream = await startChild(['--role', 'upstream', '--tokens', String(params.tokens), '--interval', String(params.tokenIntervalMs), '--prefill', String(params.prefillMs)], children);
    log(`upstream at ${upstream}`);
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-proxy-bench-'));
    dirs.push(dataDir);
    const proxy = await startChild(['--role', 'proxy', '--upstream', upstream, '--data', dataDir, '--key-sha256', createHash('sha256').update(BENCH_KEY).digest('hex')], children);
    const proxyPid = children.at(-1)!.pid;
    log(`proxy at ${proxy}`);

    const litellmBin = o.litellm === undefined ? (process.env['TRIBUTARY_BENCH_LITELLM'] ?? null) : o.litellm;
    let litellm: string | null = null;
    let litellmNote = 'not run: no LiteLLM binary given (--litellm or TRIBUTARY_BENCH_LITELLM)';
    if (litellmBin) {
      if (!existsSync(litellmBin)) litellmNote = `not run: ${litellmBin} does not exist`;
      else {
        try {
          litellm = await startLiteLlm(litellmBin, upstream, children, dirs);
          litellmNote = `ran: ${litellmBin}`;
          log(`litellm at ${litellm}`);
        } catch (e) {
          litellmNote = `not run: LiteLLM did not start (${(e as Error).message})`;
        }
      }
    }

    const targets: Array<[keyof Pick<LevelResult, 'direct' | 'proxy' | 'litellm'>, string]> = [['direct', upstream], ['proxy', proxy]];
    if (litellm) targets.push(['litellm', litellm]);
    // warm-up: connections, JIT
    for (const [, url] of targets) await runStreams(url, 50, 200);

    const streams: LevelResult[] = [];
    for (const c of params.concurrency) {
      const samples: Record<string, { ttft: number[]; total: number[]; errors: number }> = {};
      for (const [name] of targets) samples[name] = { ttft: [], total: [], errors: 0 };
      const perRound = Math.max(c, Math.ceil(params.requestsPerLevel / params.rounds));
      const streamMs = params.prefillMs + params.tokens * params.tokenIntervalMs;
      let proxyCpu = 0;
      const perRoundP99: Record<string, { ttft: number[]; total: number[] }> = {};
      for (const [name] of targets) perRoundP99[name] = { ttft: [], total: [] };
      for (let r = 0; r < params.rounds; r++) {
        // alternate the order so drift and background load fall on both sides alike
        const order = r % 2 === 0 ? targets : [...targets].reverse();
        for (const [name, url] of order) {
          // LiteLLM is far slower: fewer requests keep the run bounded
          const n = name === 'litellm' ? Math.max(c, Math.ceil(perRound / 4)) : perRound;
          log(`${c} streams, round ${r + 1}/${params.rounds}: ${name} (${n} requests)`);
          const cpu0 = cpuMs(proxyPid);
          const s = await runStreams(url, c, n, streamMs);
          if (name === 'proxy') proxyCpu += cpuMs(proxyPid) - cpu0;
          samples[name]!.ttft.push(...s.ttft);
          samples[name]!.total.push(...s.total);
          samples[name]!.errors += s.errors;
          perRoundP99[name]!.ttft.push(pct(s.ttft).p99);
          perRoundP99[name]!.total.push(pct(s.total).p99);
        }
      }
      const stats = (name: string): TargetStats => ({ ttftMs: pct(samples[name]!.ttft), totalMs: pct(samples[name]!.total), errors: samples[name]!.errors });
      const diff = (a: TargetStats, b: TargetStats) => ({
        ttftP50: r3(a.ttftMs.p50 - b.ttftMs.p50), ttftP99: r3(a.ttftMs.p99 - b.ttftMs.p99), totalP50: r3(a.totalMs.p50 - b.totalMs.p50), totalP99: r3(a.totalMs.p99 - b.totalMs.p99),
      });
      const level: LevelResult = {
        concurrency: c, direct: stats('direct'), proxy: stats('proxy'), added: { ttftP50: 0, ttftP99: 0, totalP50: 0, totalP99: 0 },
        proxyCpuMsPerRequest: r3(proxyCpu / (perRound * params.rounds)),
        roundsAddedP99: {
          ttftMedian: r3(median(perRoundP99['proxy']!.ttft.map((x, i) => x - perRoundP99['direct']!.ttft[i]!))),
          totalMedian: r3(median(perRoundP99['proxy']!.total.map((x, i) => x - perRoundP99['direct']!.total[i]!))),
        },
        directP99SpreadMs: r3(Math.max(...perRoundP99['direct']!.total) - Math.min(...perRoundP99['direct']!.total)),
      };
      level.added = diff(level.proxy, level.direct);
      if (litellm) {
        level.litellm = stats('litellm');
        level.litellmAdded = diff(level.litellm, level.direct);
      }
      streams.push(level);
    }

    const maxRequestsPerSecond: ProxyBenchResult['maxRequestsPerSecond'] = { direct: 0, proxy: 0 };
    for (const [name, url] of targets) {
      log(`max requests/s: ${name}`);
      maxRequestsPerSecond[name] = await maxRps(url, params.throughputConcurrency, params.throughputSeconds * 1000);
    }
    const at200 = streams.find((s) => s.concurrency === 200);
    return {
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
      params, streams, maxRequestsPerSecond,
      target: { p99AddedMsAt200: at200 ? at200.added.totalP99 : null, limitMs: 2, met: at200 ? at200.added.totalP99 <= 2 : null },
      loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
      litellm: litellmNote,
    };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => { c.once('exit', r); setTimeout(r, 3000).unref(); }))));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

/**
 * `n` streaming chat completions, `concurrency` at a time. Workers start `rampMs / concurrency` apart,
 * so arrivals are spread over one stream's duration as in steady traffic, not one burst of `concurrency`.
 */
async function runStreams(url: string, concurrency: number, n: number, rampMs = 0): Promise<{ ttft: number[]; total: number[]; errors: number }> {
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
  const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Say something about rivers.' }], stream: true, max_tokens: 64 });
  const ttft: number[] = [];
  const total: number[] = [];
  let errors = 0;
  let next = 0;
  const worker = async (w: number) => {
    if (rampMs > 0) await new Promise((r) => setTimeout(r, (w * rampMs) / concurrency));
    while (next < n) {
      next++;
      const t0 = performance.now();
      let first = 0;
      try {
        const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_KEY}` }, body });
        let tail = '';
        for await (const chunk of res.body) {
          if (first === 0) first = performance.now();
          tail = (tail + (chunk as Buffer).toString('latin1')).slice(-32);
        }
        const end = performance.now();
        if (res.statusCode !== 200 || !tail.includes('[DONE]')) errors++;
        else {
          ttft.push(first - t0);
          total.push(end - t0);
        }
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  await pool.close();
  return { ttft, total, errors };
}

/** Completed small non-streaming completions per second, `concurrency` at a time, for `ms`. */
async function maxRps(url: string, concurrency: number, ms: number): Promise<number> {
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
  const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 });
  const deadline = performance.now() + ms;
  let done = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (performance.now() < deadline) {
      try {
        const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_KEY}` }, body });
        await res.body.dump();
        if (res.statusCode === 200) done++;
      } catch { /* counted as not done */ }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const rps = done / ((performance.now() - t0) / 1000);
  await pool.close();
  return Math.round(rps);
}

/** CPU time (user + system) of a process, from /proc; 0 where /proc is not available. */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function pct(xs: number[]): Percentiles {
  if (xs.length === 0) return { p50: NaN, p99: NaN, mean: NaN, n: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  return { p50: r3(at(0.5)), p99: r3(at(0.99)), mean: r3(s.reduce((a, b) => a + b, 0) / s.length), n: s.length };
}

function r3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Spawns this file in another role; resolves with the URL it prints. */
function startChild(args: string[], children: ChildProcess[]): Promise<string> {
  const child = spawn(process.execPath, [SELF, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`child ${args[1]} did not start in 30 s`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`child ${args[1]} exited with ${code}`)); });
  });
}

async function startLiteLlm(bin: string, upstream: string, children: ChildProcess[], dirs: string[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-litellm-'));
  dirs.push(dir);
  const port = await freePort();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, [
    'model_list:',
    `  - model_name: ${MODEL}`,
    '    litellm_params:',
    `      model: openai/${MODEL}`,
    `      api_base: ${upstream}/v1`,
    '      api_key: none',
    'litellm_settings:',
    '  telemetry: false',
    '  drop_params: false',
    '',
  ].join('\n'));
  const child = spawn(bin, ['--config', config, '--host', '127.0.0.1', '--port', String(port), '--num_workers', '1'], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, LITELLM_MASTER_KEY: BENCH_KEY, LITELLM_LOG: 'ERROR', LITELLM_TELEMETRY: 'False', NO_DOCS: 'True', DISABLE_ADMIN_UI: 'True' },
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/health/liveliness`);
      if (res.ok) return url;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('no answer on /health/liveliness within 120 s');
}

// ---- child roles ----

/** A fake GPU upstream: SSE chunks at a fixed interval; a non-streaming request is answered at once (throughput phase). */
async function upstreamRole(tokens: number, intervalMs: number, prefillMs: number): Promise<void> {
  const chunk = (i: number) => `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"${MODEL}","choices":[{"index":0,"delta":{"content":"tok${i} "},"finish_reason":null}]}\n\n`;
  const last = `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"${MODEL}","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":${tokens},"total_tokens":${12 + tokens}}}\n\ndata: [DONE]\n\n`;
  const plain = JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: MODEL, choices: [{ index: 0, message: { role: 'assistant', content: 'pong' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 } });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"object":"list","data":[{"id":"${MODEL}","object":"model"}]}`);
        return;
      }
      const stream = Buffer.concat(parts).includes('"stream":true');
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(plain) });
        res.end(plain);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let i = 0;
      const tick = () => {
        if (res.destroyed) return;
        if (i < tokens) {
          res.write(chunk(i++));
          setTimeout(tick, intervalMs);
        } else {
          res.end(last);
        }
      };
      setTimeout(tick, prefillMs);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
  process.once('SIGTERM', () => process.exit(0));
}

/** Tributary's API (embedded system, no consumers) with the upstream as its only inference upstream. */
async function proxyRole(upstream: string, dataDir: string, keySha256: string): Promise<void> {
  const { loadConfig } = await import('../wiring/config.ts');
  const { createSystem } = await import('../wiring/system.ts');
  const { startServer } = await import('../api/server.ts');
  const config = loadConfig({}, {
    dataDir, embedder: 'hashing', logLevel: 'silent', host: '127.0.0.1', port: 0,
    inferenceUpstreams: [{ name: 'bench', url: upstream, models: [MODEL], maxConcurrency: 1024, maxQueue: 1024 }],
    apiKeys: [{ name: 'bench', sha256: keySha256, scopes: ['inference'] }],
  });
  const system = await createSystem(config, { consumers: false });
  await system.start(); // the system owns the inference gateway: its health checks run as in production
  const server = await startServer(system);
  process.stdout.write(`READY ${server.url}\n`);
  process.once('SIGTERM', () => {
    void server.close().then(() => system.close()).finally(() => process.exit(0));
  });
}

function table(r: ProxyBenchResult): string {
  const rows: string[][] = [['streams', 'target', 'TTFT p50', 'TTFT p99', 'total p50', 'total p99', 'errors']];
  for (const s of r.streams) {
    const add = (name: string, t: TargetStats) => rows.push([String(s.concurrency), name, ms(t.ttftMs.p50), ms(t.ttftMs.p99), ms(t.totalMs.p50), ms(t.totalMs.p99), String(t.errors)]);
    add('direct', s.direct);
    add('tributary', s.proxy);
    rows.push([String(s.concurrency), '  added', ms(s.added.ttftP50), ms(s.added.ttftP99), ms(s.added.totalP50), ms(s.added.totalP99), `(proxy CPU ${s.proxyCpuMsPerRequest.toFixed(2)} ms/request)`]);
    rows.push([String(s.concurrency), '  added, median of rounds', '', ms(s.roundsAddedP99.ttftMedian), '', ms(s.roundsAddedP99.totalMedian), `(direct p99 spread ${s.directP99SpreadMs.toFixed(1)} ms)`]);
    if (s.litellm && s.litellmAdded) {
      add('litellm', s.litellm);
      rows.push([String(s.concurrency), '  added', ms(s.litellmAdded.ttftP50), ms(s.litellmAdded.ttftP99), ms(s.litellmAdded.totalP50), ms(s.litellmAdded.totalP99), '']);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) => row.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  const rps = r.maxRequestsPerSecond;
  lines.push('', `max requests/s (non-streaming, ${r.params.throughputConcurrency} at a time): direct ${rps.direct}, tributary ${rps.proxy}${rps.litellm !== undefined ? `, litellm ${rps.litellm}` : ''}`);
  lines.push(`target p99 added ≤ 2 ms at 200 streams: ${r.target.p99AddedMsAt200 === null ? 'not measured' : `${r.target.p99AddedMsAt200} ms — ${r.target.met ? 'met' : 'NOT met'}`}`);
  lines.push(`LiteLLM: ${r.litellm}`);
  lines.push(`machine: ${r.machine.cpus} × ${r.machine.model}, node ${r.machine.node}, load average ${r.loadAverage.join(' ')}; ${r.params.tokens} tokens/stream every ${r.params.tokenIntervalMs} ms after ${r.params.prefillMs} ms prefill`);
  return lines.join('\n');
}

function ms(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)} ms` : '—';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      role: { type: 'string' }, tokens: { type: 'string' }, interval: { type: 'string' }, prefill: { type: 'string' },
      upstream: { type: 'string' }, data: { type: 'string' }, 'key-sha256': { type: 'string' }, quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false },
      litellm: { type: 'string' }, rounds: { type: 'string' }, requests: { type: 'string' },
    },
  });
  if (values.role === 'upstream') await upstreamRole(Number(values.tokens), Number(values.interval), Number(values.prefill));
  else if (values.role === 'proxy') await proxyRole(values.upstream!, values.data!, values['key-sha256']!);
  else {
    const result = await runProxyBench({
      ...(values.quick ? { requestsPerLevel: 400, rounds: 2, throughputSeconds: 1 } : {}),
      ...(values.rounds ? { rounds: Number(values.rounds) } : {}),
      ...(values.requests ? { requestsPerLevel: Number(values.requests) } : {}),
      ...(values.litellm ? { litellm: values.litellm } : {}),
      log: (m) => process.stderr.write(`[proxy-bench] ${m}\n`),
    });
    process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${table(result)}\n`);
  }
}
