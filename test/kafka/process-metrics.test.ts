import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningSystem } from '../e2e/harness.ts';
import { api } from '../e2e/harness.ts';
import { describeKafka } from '../setup/kafka-env.ts';
import { kafkaEnv, resetKafka, startApi, startConsumer, waitUntil, type Proc } from './harness.ts';

/**
 * Kafka mode: every consumer process serves GET /metrics and GET /healthz on its own port
 * (TRIBUTARY_METRICS_PORT; 0 here, the banner names it): its stage's metrics, DLQ counts, embed and
 * index latencies, and freshness per stage (source write → cleaned → embedded → searchable).
 */

const ROOT = resolve(import.meta.dirname, '../..');
const metricsUrlOf = (p: Proc) => /metrics (http:\/\/[^\s]+)\/metrics/.exec(p.output())?.[1];
/** The value of a sample: `labels` like 'stage="clean",outcome="ok"', in any order ('' for none). */
const sample = (text: string, name: string, labels: string) => {
  const want = labels ? labels.split(',') : [];
  const line = text.split('\n').find((l) => (want.length === 0 ? l.startsWith(`${name} `) : l.startsWith(`${name}{`) && want.every((w) => l.includes(w))));
  return line ? Number(line.split(' ').at(-1)) : null;
};

describeKafka('Kafka mode: metrics and health of every consumer process', (brokers) => {
  const dirs: string[] = [];
  const procs: Proc[] = [];
  let apiProc: RunningSystem | null = null;
  const dir = () => { const d = mkdtempSync(join(tmpdir(), 'tributary-kafka-metrics-')); dirs.push(d); return d; };

  beforeAll(async () => { await resetKafka(brokers); });
  afterAll(async () => {
    for (const p of procs) await p.stop();
    await apiProc?.kill9();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('clean, embed and the lag monitor each serve their own metrics and health; freshness per stage is there', async () => {
    const env = kafkaEnv(brokers, { TRIBUTARY_METRICS: 'true' });
    apiProc = await startApi(dir(), { ...env, TRIBUTARY_CONSUMERS: 'none' });
    const embedDir = dir();
    const [clean, embed, monitor] = [await startConsumer('clean', dir(), env), await startConsumer('embed', embedDir, env), await startConsumer('lag-monitor', dir(), env)];
    procs.push(clean, embed, monitor);
    const urls = [clean, embed, monitor].map(metricsUrlOf);
    expect(urls.every((u) => u !== undefined), [clean, embed, monitor].map((p) => p.output()).join('\n')).toBe(true);
    expect(new Set(urls).size).toBe(3);

    for (const [p, url] of [[clean, urls[0]], [embed, urls[1]], [monitor, urls[2]]] as const) {
      const health = await fetch(`${url}/healthz`);
      expect(health.status, p.name).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', process: `consume ${p.name}` });
    }
    expect((await fetch(`${urls[0]}/nope`)).status).toBe(404);
    expect((await fetch(`${urls[0]}/metrics`, { method: 'POST' })).status).toBe(405);

    expect((await api(apiProc.url, 'POST', '/v1/content', { items: [{ category: 'article', author: 'Ada', content: 'Zorblax replicates its ledger with quorum writes.' }] })).status).toBe(202);
    await waitUntil('the embed process reports a searchable document', async () => (sample(await (await fetch(`${urls[1]}/metrics`)).text(), 'tributary_stage_freshness_seconds_count', 'stage="searchable"') ?? 0) >= 1, 60_000);
    const cleanText = await (await fetch(`${urls[0]}/metrics`)).text();
    expect(sample(cleanText, 'tributary_consumer_running', 'consumer="clean"')).toBe(1);
    expect(sample(cleanText, 'tributary_stage_freshness_seconds_count', 'stage="cleaned"')).toBeGreaterThanOrEqual(1);
    expect(sample(cleanText, 'tributary_stage_records_total', 'stage="clean",outcome="ok"')).toBeGreaterThanOrEqual(1);
    expect(cleanText).toContain('tributary_process_cpu_user_seconds_total');
    const embedText = await (await fetch(`${urls[1]}/metrics`)).text();
    expect(sample(embedText, 'tributary_stage_freshness_seconds_count', 'stage="embedded"')).toBeGreaterThanOrEqual(1);
    expect(sample(embedText, 'tributary_embed_seconds_count', '')).toBeGreaterThanOrEqual(1);
    expect(embedText).toMatch(/^tributary_index_write_seconds_count\{index="[a-z]+"\} [1-9]/m);
    // the clean process does not embed: each process exports what it does
    expect(sample(cleanText, 'tributary_stage_freshness_seconds_count', 'stage="searchable"')).toBeNull();

    // stopped, the process takes its server with it
    await clean.stop();
    await expect(fetch(`${urls[0]}/healthz`)).rejects.toThrow();
  }, 180_000);

  it('a port already in use is refused at start-up, naming the setting', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = spawnSync(process.execPath, [join(ROOT, 'cli/main.ts'), 'consume', 'clean'], {
        cwd: ROOT, encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...kafkaEnv(brokers), TRIBUTARY_DATA_DIR: dir(), TRIBUTARY_METRICS_PORT: String(port), NO_COLOR: '1' },
      });
      expect(r.status).toBe(78);
      expect(r.stderr).toMatch(new RegExp(`TRIBUTARY_METRICS_PORT \\(metricsPort\\): port ${port} on 127.0.0.1 is in use`));
    } finally {
      busy.close();
    }
  });
});
