import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FinetuneJob } from '../../../schemas/finetune.ts';
import { freePort } from '../../helpers/free-port.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.ts';

/**
 * Exactly one fine-tune job per window, through crashes: the whole embedded system (`tributary dev`,
 * which runs the finetune trigger) is killed with SIGKILL at random moments, ten times, while waves
 * of content cross the dataset's threshold. The webhook receiver answers slowly and sometimes with
 * 503, so kills land in every phase: counting, between a window and its pin, between the job's
 * record and its launch, and while a launch is in flight.
 *
 * The windows are counted independently of the trigger's own state. Each wave is exactly THRESHOLD
 * net-new items (unique content), and the next wave is published only once the receiver has seen a
 * new key (so the previous wave's window opened). A window opens only at THRESHOLD pending items,
 * and pending is zero when a wave starts, so each wave is due exactly once, whatever the kills did:
 * WAVES windows, and the k-th (from 1) holds exactly k × THRESHOLD documents. The test asserts
 * exactly that many distinct keys at the receiver, each window's document count read from the
 * receiver's own log (the bodies it was sent), and one launched job per window at the API.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const THRESHOLD = 5;
const WAVES = 8;
const KILLS = 10;

// a seeded generator, so a failure can be replayed (the seed is printed)
const seed = Number(process.env['TRIBUTARY_TEST_SEED'] ?? Date.now() % 100_000);
let state = seed;
const random = () => ((state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);

describe('finetune trigger: kill -9 at random moments', () => {
  let dir: string;
  let rx: WebhookReceiver;
  let port: number;
  let child: ChildProcess | null = null;
  let log = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-ft-crash-'));
    rx = await startWebhookReceiver({ failEvery: 4, delayMs: 150 });
    port = await freePort();
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await rx.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const base = () => `http://127.0.0.1:${port}`;
  const env = () => ({
    ...process.env,
    TRIBUTARY_DATA_DIR: dir, PORT: String(port), HOST: '127.0.0.1', TRIBUTARY_EMBEDDER: 'hashing', TRIBUTARY_LLM_GGUF: 'off',
    TRIBUTARY_LOG_LEVEL: 'warn', TRIBUTARY_SQLITE_SYNC: 'normal', TRIBUTARY_RETRY_BASE_MS: '20', TRIBUTARY_RETRY_MAX_MS: '300', TRIBUTARY_PARTITIONS: '2',
    // no cooldown: a window opens as soon as its wave is counted (and settled for 100 ms)
    TRIBUTARY_FINETUNE_DATASETS: JSON.stringify([{ name: 'waves', source: 'content', threshold: THRESHOLD, cooldownMs: 0, settleMs: 100, launcher: { type: 'webhook', url: rx.url, secret: 'crash-test-secret-0123' } }]),
    NO_COLOR: '1',
  });

  async function up(): Promise<boolean> {
    try { return (await fetch(`${base()}/healthz`, { signal: AbortSignal.timeout(1000) })).ok; } catch { return false; }
  }

  async function startProcess(): Promise<void> {
    const c = spawn(process.execPath, ['cli/main.ts', 'dev'], { cwd: ROOT, env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-20_000); });
    child = c;
    const deadline = Date.now() + 30_000;
    while (!(await up())) {
      if (c.exitCode !== null) throw new Error(`tributary dev exited with ${c.exitCode}:\n${log}`);
      if (Date.now() > deadline) throw new Error(`tributary dev did not come up:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function kill(): Promise<void> {
    const c = child;
    if (!c) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
    child = null;
  }

  /** POSTs until the API takes it (the process may be down or restarting); publishing is idempotent by externalId. */
  async function publish(items: unknown[]): Promise<void> {
    for (;;) {
      try {
        const res = await fetch(`${base()}/v1/content`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ items }), signal: AbortSignal.timeout(5000) });
        if (res.status === 202) return;
      } catch { /* down: try again */ }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const get = async <T,>(path: string): Promise<T> => (await (await fetch(`${base()}${path}`)).json()) as T;

  /** Waits until the receiver has seen `n` distinct keys (the process may be down: the killer restarts it). */
  async function receiverKeys(n: number, what: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (rx.keys().length < n) {
      if (Date.now() > deadline) throw new Error(`${what}: the receiver saw ${rx.keys().length} key(s), expected ${n}\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('as many jobs as windows, counted from the items published: one key per window at the receiver, every retry with the same bytes, one launched job each', async () => {
    console.log(`finetune crash test seed: ${seed} (TRIBUTARY_TEST_SEED replays it)`);
    await startProcess();
    let published = 0;
    let kills = 0;
    const producer = (async () => {
      for (let w = 0; w < WAVES; w++) {
        const items = Array.from({ length: THRESHOLD }, (_, i) => ({
          category: 'article', author: 'Wave Writer', source: 'waves', externalId: `w${w}-${i}`, title: `Wave ${w} item ${i}`,
          content: `Wave ${w}, item ${i}: how partition ${i} of topic ${w} keeps its order.\n\nAnd a second paragraph for item ${i} of wave ${w}.`,
        }));
        // in two requests: a kill can land between them, with the wave half counted
        for (let i = 0; i < items.length; i += 3) await publish(items.slice(i, i + 3));
        published += items.length;
        // the wave's window is at the receiver before the next wave starts: waves never merge into one window
        await receiverKeys(w + 1, `wave ${w}`);
        await new Promise((r) => setTimeout(r, random() * 500));
      }
    })();
    const killer = (async () => {
      while (kills < KILLS) {
        await new Promise((r) => setTimeout(r, 200 + random() * 1800));
        await kill();
        kills++;
        await startProcess();
      }
    })();
    await Promise.all([producer, killer]);
    // what the items published and the threshold say (not what the trigger says): one window per wave
    const windows = published / THRESHOLD;
    expect(windows).toBe(WAVES);

    // let it finish: every item counted, every window pinned and launched
    const deadline = Date.now() + 60_000;
    let jobs: FinetuneJob[];
    for (;;) {
      const ds = (await get<{ datasets: Array<{ total: number; lastWindow: { outcome: string } | null; updatedAt: string | null }> }>('/v1/finetune/datasets')).datasets[0]!;
      jobs = (await get<{ jobs: FinetuneJob[] }>('/v1/finetune/jobs')).jobs;
      if (ds.total === published && ds.lastWindow?.outcome !== 'pending' && jobs.length >= windows && jobs.every((j) => j.state === 'launched')) break;
      if (Date.now() > deadline) throw new Error(`did not settle: ${JSON.stringify({ ds, jobs, published })}\n${log}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 1500)); // nothing more arrives after the end
    jobs = (await get<{ jobs: FinetuneJob[] }>('/v1/finetune/jobs')).jobs;

    expect(kills).toBe(KILLS);
    const keys = rx.keys();
    console.log(`finetune crash test: ${published} items, ${kills} kills, ${windows} windows expected, ${keys.length} keys and ${jobs.length} jobs, ${rx.deliveries.length} deliveries`);

    // the receiver's own log: exactly one key per window, never a second launch of a window
    expect(keys).toHaveLength(windows);
    const documents: number[] = [];
    for (const key of keys) {
      const deliveries = rx.deliveries.filter((d) => d.key === key);
      expect(new Set(deliveries.map((d) => d.sha256)).size, `deliveries of ${key}`).toBe(1);
      expect(deliveries.every((d) => d.signature !== null)).toBe(true);
      const body = JSON.parse(deliveries[0]!.body.toString('utf8')) as { datasetVersion: string; manifest: { counts: { documents: number } } };
      expect(body.datasetVersion).toBe(key);
      documents.push(body.manifest.counts.documents);
    }
    // window k holds the first k waves, exactly: each window is one wave, none split, none merged
    expect(documents).toEqual(Array.from({ length: windows }, (_, k) => (k + 1) * THRESHOLD));
    expect(rx.deliveries.every((d) => d.key !== null && keys.includes(d.key))).toBe(true);

    // the API: one launched job per window, under the key the receiver saw
    expect(jobs).toHaveLength(windows);
    expect(jobs.every((j) => j.state === 'launched')).toBe(true);
    expect(jobs.map((j) => j.datasetVersion).sort()).toEqual([...keys].sort());
    await kill();
  }, 240_000);
});
