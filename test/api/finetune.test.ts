import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';
import { verifyWebhookSignature } from '../../adapters/finetune-launcher/webhook/webhook-launcher.ts';
import type { FinetuneJob } from '../../schemas/finetune.ts';
import { startOpenAiFinetuneServer } from '../fixtures/openai-finetune-server.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../cli/helpers.ts';

/**
 * The finetune trigger in the embedded system, end to end: content and feedback through the API,
 * the trigger counting them, pinning versions and launching through a real webhook receiver; what
 * the API serves about it.
 */

type DatasetView = { name: string; pending: number; threshold: number; total: number; lastVersion: string | null; lastLaunchAt: string | null; updatedAt: string | null; lastWindow: { outcome: string; message: string | null } | null };

const SECRET = 'a-webhook-secret-of-some-length';
const SETTLE = 150;

describe('continuous training: the finetune trigger in the embedded system', () => {
  let h: ApiHarness | null = null;
  let rx: WebhookReceiver | null = null;
  afterEach(async () => {
    await h?.close();
    await rx?.close();
    h = null;
    rx = null;
  });

  async function start(datasets: (url: string) => unknown[], opts: { dir?: string } = {}) {
    rx ??= await startWebhookReceiver();
    const url = rx.url;
    h = await startApiHarness({ config: { finetuneDatasets: datasets(url) as never, ...(opts.dir ? { dataDir: opts.dir } : {}) } });
    await h.system.start();
    return h;
  }
  const articles = (threshold: number, extra: Record<string, unknown> = {}) => (url: string) => [{
    name: 'articles', source: 'content', filter: { category: 'article' }, threshold, settleMs: SETTLE, launcher: { type: 'webhook', url, secret: SECRET }, ...extra,
  }];
  const publish = async (items: Array<Record<string, unknown>>) => {
    const res = await h!.app.inject({ method: 'POST', url: '/v1/content', payload: { items: items.map((i) => ({ category: 'article', author: 'Alice', ...i })) } });
    expect(res.statusCode).toBe(202);
    return (res.json() as { ids: string[] }).ids;
  };
  const doc = (n: number, over: Record<string, unknown> = {}) => ({ source: 'blog', externalId: `p-${n}`, title: `Post ${n}`, content: `Post number ${n} explains partition ${n} in detail.\n\nA second paragraph about offsets ${n}.`, ...over });
  const datasets = async () => ((await h!.app.inject({ method: 'GET', url: '/v1/finetune/datasets' })).json() as { datasets: DatasetView[] }).datasets;
  const dataset = async (name = 'articles') => (await datasets()).find((d) => d.name === name)!;
  const jobs = async () => ((await h!.app.inject({ method: 'GET', url: '/v1/finetune/jobs' })).json() as { jobs: FinetuneJob[] }).jobs;
  /** Waits until the trigger has counted `pending` (it reports after each change). */
  const pendingIs = (n: number, name = 'articles') => waitFor(`pending = ${n}`, async () => (await dataset(name)).pending === n && (await dataset(name)).updatedAt !== null, 10_000);
  /** Lets the trigger settle and the runner run (several settle periods and a runner pass). */
  const quiet = () => new Promise((r) => setTimeout(r, SETTLE * 4 + 1200));

  it('threshold − 1 items never fire; the item that crosses it fires once; the job and version are served and signed', async () => {
    await start(articles(3));
    await publish([doc(1), doc(2)]);
    await pendingIs(2);
    await quiet();
    expect(rx!.deliveries).toHaveLength(0);
    expect(await jobs()).toEqual([]);

    await publish([doc(3), { ...doc(4), category: 'post' }]); // the post is not in the dataset
    await waitFor('a delivery', async () => rx!.deliveries.length > 0);
    await quiet();
    expect(rx!.keys()).toHaveLength(1);
    const d = rx!.deliveries[0]!;
    expect(verifyWebhookSignature(SECRET, d.body, d.signature ?? '')).toBe(true);
    const body = JSON.parse(d.body.toString()) as { dataset: string; datasetVersion: string; items: number; manifest: { counts: Record<string, number>; sources: { documents: Array<{ docId: string }> } }; files: Array<{ name: string; content: string; sha256: string }> };
    expect(body.dataset).toBe('articles');
    expect(d.key).toBe(body.datasetVersion);
    expect(body.manifest.counts).toMatchObject({ documents: 3 });
    expect(body.manifest.sources.documents).toHaveLength(3);
    const lines = body.files[0]!.content.trim().split('\n').map((l) => JSON.parse(l) as { messages: Array<{ role: string; content: string }> });
    expect(lines.length).toBe(body.items);
    expect(lines.every((l) => l.messages[2]!.role === 'assistant' && /Post number \d|second paragraph/.test(l.messages[2]!.content))).toBe(true);
    expect(lines.some((l) => l.messages[1]!.content.includes('"Post 3" by Alice'))).toBe(true);
    expect(lines.some((l) => l.messages[2]!.content.includes('Post number 4'))).toBe(false);

    const [job] = await waitFor('the job launched', async () => { const j = await jobs(); return j[0]?.state === 'launched' ? j : null; });
    expect(job).toMatchObject({ dataset: 'articles', datasetVersion: body.datasetVersion, items: body.items, launcher: 'webhook', externalId: 'rcv-1', trigger: 'threshold' });
    const ds = await dataset();
    expect(ds).toMatchObject({ pending: 0, total: 3, lastVersion: body.datasetVersion });
    expect(ds.lastLaunchAt).not.toBeNull();

    // the pinned bytes, served byte for byte with their hash
    const file = await h!.app.inject({ method: 'GET', url: `/v1/finetune/datasets/articles/versions/${body.datasetVersion}/files/train.jsonl` });
    expect(file.statusCode).toBe(200);
    expect(file.headers['x-tributary-sha256']).toBe(body.files[0]!.sha256);
    expect(createHash('sha256').update(file.rawPayload).digest('hex')).toBe(body.files[0]!.sha256);
    expect(file.rawPayload.toString()).toBe(body.files[0]!.content);
  });

  it('re-publishes and duplicates under another id do not count; an update with new text does; a burst of several thresholds fires once', async () => {
    await start(articles(3));
    await publish([doc(1), doc(2)]);
    await pendingIs(2);
    await publish([doc(1), { ...doc(2), externalId: 'copy-of-2' }]); // same text again; the same text under another id
    await quiet();
    expect((await dataset()).pending).toBe(2);
    expect((await dataset()).total).toBe(3); // the copy is in the dataset, but not new
    expect(rx!.deliveries).toHaveLength(0);
    await publish([doc(1, { content: 'Post number 1, rewritten: partitions and their leaders.' })]);
    await waitFor('the first window', async () => rx!.keys().length === 1);

    // a burst of 10 (more than three thresholds) → one more window
    await publish(Array.from({ length: 10 }, (_, i) => doc(100 + i)));
    await waitFor('the second window', async () => rx!.keys().length === 2);
    await quiet();
    expect(rx!.keys()).toHaveLength(2);
    expect(await jobs()).toHaveLength(2);
    const second = JSON.parse(rx!.deliveries.at(-1)!.body.toString()) as { manifest: { counts: { documents: number } } };
    expect(second.manifest.counts.documents).toBe(13); // the whole dataset, not only the new items
  });

  it('the cooldown holds: a second crossing inside it waits, then fires once when it ends', async () => {
    await start(articles(2, { cooldownMs: 2500 }));
    await publish([doc(1), doc(2)]);
    await waitFor('the first window', async () => rx!.keys().length === 1);
    const first = Date.now();
    await publish([doc(3), doc(4), doc(5)]);
    await pendingIs(3);
    await new Promise((r) => setTimeout(r, 1000));
    expect(rx!.keys()).toHaveLength(1);
    await waitFor('the window after the cooldown', async () => rx!.keys().length === 2, 10_000);
    expect(Date.now() - first).toBeGreaterThanOrEqual(2000);
    await quiet();
    expect(rx!.keys()).toHaveLength(2);
  });

  it('a manual trigger is exactly-once: nothing new gives the existing job back; new items give one new job', async () => {
    await start(articles(100));
    await publish([doc(1), doc(2)]);
    await pendingIs(2);
    const trigger = () => h!.app.inject({ method: 'POST', url: '/v1/finetune/trigger', payload: { dataset: 'articles', waitMs: 10_000 } });
    const first = await trigger();
    expect(first.statusCode).toBe(200);
    const a = first.json() as { outcome: string; job: FinetuneJob; message: string | null };
    expect(a.outcome).toBe('job');
    expect(a.job.trigger).toBe('manual');
    const again = (await trigger()).json() as { outcome: string; job: FinetuneJob; message: string };
    expect(again.outcome).toBe('job');
    expect(again.job.id).toBe(a.job.id);
    expect(again.message).toMatch(/nothing new since version/);
    await publish([doc(3)]);
    await pendingIs(1);
    const third = (await trigger()).json() as { job: FinetuneJob };
    expect(third.job.id).not.toBe(a.job.id);
    await waitFor('two keys delivered', async () => rx!.keys().length === 2);
    await quiet();
    expect(rx!.keys()).toEqual([a.job.datasetVersion, third.job.datasetVersion]);
    expect(await jobs()).toHaveLength(2);

    const unknown = await h!.app.inject({ method: 'POST', url: '/v1/finetune/trigger', payload: { dataset: 'nope' } });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: { code: 'NOT_FOUND', message: expect.stringContaining('known: articles') } });
  });

  it('feedback becomes dpo pairs; a window with no pair launches nothing and says why; a receiver reports the model', async () => {
    await start((url) => [{ name: 'prefs', source: 'feedback', threshold: 2, settleMs: SETTLE, launcher: { type: 'webhook', url } }]);
    const fb = (payload: Record<string, unknown>) => h!.app.inject({ method: 'POST', url: '/v1/feedback', payload });
    await fb({ query: 'What keeps order?', rating: 'up' });
    await fb({ query: 'What keeps order?', rating: 5 });
    await waitFor('an empty window', async () => (await dataset('prefs')).lastWindow?.outcome === 'empty');
    expect((await dataset('prefs')).lastWindow!.message).toMatch(/no preference pairs in 2 feedback/);
    expect(rx!.deliveries).toHaveLength(0);

    await fb({ query: 'What keeps order?', answer: 'Nothing does.', rating: 'down', correction: 'Partitions keep order per key.' });
    await fb({ query: 'Who leads?', answer: 'The leader replica.', rating: 'up' });
    await waitFor('a delivery', async () => rx!.deliveries.length > 0);
    const body = JSON.parse(rx!.deliveries[0]!.body.toString()) as { format: string; files: Array<{ content: string }> };
    expect(body.format).toBe('dpo');
    const pairs = body.files[0]!.content.trim().split('\n').map((l) => JSON.parse(l) as { input: { messages: Array<{ content: string }> }; preferred_output: Array<{ content: string }>; non_preferred_output: Array<{ content: string }> });
    expect(pairs).toEqual([{ input: { messages: [{ role: 'user', content: 'What keeps order?' }] }, preferred_output: [{ role: 'assistant', content: 'Partitions keep order per key.' }], non_preferred_output: [{ role: 'assistant', content: 'Nothing does.' }] }]);

    const [job] = await waitFor('the job', async () => { const j = await jobs(); return j[0]?.state === 'launched' ? j : null; });
    const report = await h!.app.inject({ method: 'POST', url: `/v1/finetune/jobs/${job!.id}/status`, payload: { state: 'succeeded', model: 'ft:small:prefs-1' } });
    expect(report.statusCode).toBe(202);
    await waitFor('the model recorded', async () => (await jobs())[0]?.model === 'ft:small:prefs-1');
    expect((await jobs())[0]).toMatchObject({ state: 'succeeded', model: 'ft:small:prefs-1' });
    const late = await h!.app.inject({ method: 'POST', url: `/v1/finetune/jobs/${job!.id}/status`, payload: { state: 'failed' } });
    expect(late.statusCode).toBe(409);
    expect(late.json()).toMatchObject({ error: { code: 'CONFLICT', message: expect.stringContaining('already succeeded') } });
  });

  it('counts survive a restart, and a dataset configured later gathers what was already published', async () => {
    await start(articles(5));
    await publish([doc(1), doc(2), doc(3)]);
    await pendingIs(3);
    const dir = h!.dir;
    await h!.system.close();
    await h!.app.close();
    const reopened = await startApiHarness({ config: { dataDir: dir, finetuneDatasets: [
      ...articles(5)(rx!.url),
      { name: 'all-content', source: 'content', threshold: 100, launcher: { type: 'webhook', url: rx!.url } },
    ] as never } });
    h = reopened;
    await h.system.start();
    await waitFor('the later dataset gathered', async () => (await dataset('all-content')).total === 3);
    expect((await dataset()).pending).toBe(3);
    expect((await dataset('all-content')).pending).toBe(3);
    await publish([doc(4), doc(5)]);
    await waitFor('the window', async () => rx!.keys().length === 1);
  });

  it('the OpenAI launcher through the trigger: upload, create (a create whose answer is lost is found by its key), poll to success, the model recorded', async () => {
    const server = await startOpenAiFinetuneServer({ retrievalsToFinish: 2 });
    process.env['TRIBUTARY_TEST_OPENAI_KEY'] = server.apiKey;
    try {
      server.fault('POST /v1/fine_tuning/jobs', { kind: 'reset-after-acting' });
      await start(() => [{ name: 'oa', source: 'content', threshold: 2, settleMs: SETTLE, launcher: { type: 'openai', baseUrl: server.baseUrl, apiKeyEnv: 'TRIBUTARY_TEST_OPENAI_KEY', model: 'gpt-test', pollMs: 50 } }]);
      await publish([doc(1), doc(2)]);
      const [job] = await waitFor('the job succeeded', async () => { const j = await jobs(); return j[0]?.state === 'succeeded' ? j : null; }, 20_000);
      expect(server.jobs).toHaveLength(1);
      expect(server.files).toHaveLength(1);
      expect(job).toMatchObject({ launcher: 'openai', externalId: server.jobs[0]!.id, model: server.jobs[0]!.fine_tuned_model, dataset: 'oa' });
      expect(server.jobs[0]!.metadata).toMatchObject({ tributary_key: job!.datasetVersion });
      const file = await h!.app.inject({ method: 'GET', url: `/v1/finetune/datasets/oa/versions/${job!.datasetVersion}/files/train.jsonl` });
      expect(server.files[0]!.content.equals(file.rawPayload)).toBe(true);
    } finally {
      delete process.env['TRIBUTARY_TEST_OPENAI_KEY'];
      await server.close();
    }
  });

  it('the command launcher through the trigger: the command gets the dataset path, its exit and model are recorded', async () => {
    const script = "const fs=require('fs');const p=process.argv[1];const n=fs.readFileSync(p+'/train.jsonl','utf8').trim().split('\\n').length;fs.writeFileSync(process.env.TRIBUTARY_MODEL_FILE,'local-model-'+n)";
    await start(() => [{ name: 'cmd', source: 'content', threshold: 2, settleMs: SETTLE, launcher: { type: 'command', command: [process.execPath, '-e', script, '{datasetPath}'], pollMs: 50 } }]);
    await publish([doc(1), doc(2)]);
    const [job] = await waitFor('the command finished', async () => { const j = await jobs(); return j[0]?.state === 'succeeded' ? j : null; }, 20_000);
    expect(job).toMatchObject({ launcher: 'command', model: `local-model-${job!.items}` });
    expect(job!.externalId).toMatch(/^\d+$/);
  });

  it('the CLI against the real API: trigger, jobs, datasets, lineage with the model, and an export that reproduces the version byte for byte', async () => {
    await start(articles(100));
    await publish([doc(1), doc(2), doc(3)]);
    await pendingIs(3);
    const url = await h!.app.listen({ port: 0, host: '127.0.0.1' });
    const env = { TRIBUTARY_URL: url };
    const trig = await runCli(['finetune', 'trigger', '--dataset', 'articles', '--json'], { env });
    expect(trig.code).toBe(0);
    const outcome = JSON.parse(trig.stdout) as { outcome: string; job: FinetuneJob };
    expect(outcome.outcome).toBe('job');
    const v = outcome.job.datasetVersion;
    await waitFor('launched', async () => (await jobs())[0]?.state === 'launched');
    const listed = await runCli(['finetune', 'jobs'], { env });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(v);
    await waitFor('the status after the window', async () => (await dataset()).lastWindow?.outcome === 'job');
    expect((await runCli(['finetune', 'datasets'], { env })).stdout).toMatch(/articles[\s\S]*0\/100/);

    // the receiver reports the model: the version's lineage names it
    await h!.app.inject({ method: 'POST', url: `/v1/finetune/jobs/${outcome.job.id}/status`, payload: { state: 'succeeded', model: 'ft:articles:1' } });
    await waitFor('the model', async () => (await jobs())[0]?.model === 'ft:articles:1');
    const lineage = (await h!.app.inject({ method: 'GET', url: `/v1/finetune/datasets/articles/versions/${v}/lineage` })).json() as { sources: { documents: unknown[]; offsets: Record<string, unknown> }; jobs: Array<{ model: string }> };
    expect(lineage.sources.documents).toHaveLength(3);
    expect(Object.keys(lineage.sources.offsets)).toEqual(['tributary.content.cleaned']);
    expect(lineage.jobs).toEqual([expect.objectContaining({ id: outcome.job.id, state: 'succeeded', model: 'ft:articles:1' })]);

    const out = mkdtempSync(join(tmpdir(), 'tributary-export-'));
    try {
      const exp = await runCli(['finetune', 'export', '--dataset', 'articles', '--version', v, '--out', join(out, 'x')], { env });
      expect(exp.code, exp.stderr).toBe(0);
      for (const name of ['train.jsonl', 'manifest.json']) {
        expect(readFileSync(join(out, 'x', name)).equals(readFileSync(join(h!.dir, 'datasets', 'articles', v, name))), name).toBe(true);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
