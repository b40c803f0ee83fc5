import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FinetuneJob } from '../../schemas/finetune.ts';
import type { RunningSystem } from '../e2e/harness.ts';
import { api } from '../e2e/harness.ts';
import { describeKafka } from '../setup/kafka-env.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';
import { kafkaEnv, resetKafka, startApi, startConsumer, waitUntil, type Proc } from './harness.ts';

/**
 * Kafka mode: the finetune trigger as a process of its own (`tributary consume finetune-trigger`),
 * with its own data directory, reading the cleaned topic and feedback from the broker; the API (in
 * another process, another directory) serves the jobs it published. Killed with SIGKILL after a
 * window, restarted, it launches the next window and never the first one again.
 */

const ROOT = resolve(import.meta.dirname, '../..');

describeKafka('Kafka mode: the finetune-trigger consumer process', (brokers) => {
  let apiDir: string;
  let triggerDir: string;
  let rx: WebhookReceiver;
  let apiProc: RunningSystem | null = null;
  let trigger: Proc | null = null;

  beforeAll(async () => {
    await resetKafka(brokers);
    apiDir = mkdtempSync(join(tmpdir(), 'tributary-kafka-ft-api-'));
    triggerDir = mkdtempSync(join(tmpdir(), 'tributary-kafka-ft-trigger-'));
    rx = await startWebhookReceiver();
  });
  afterAll(async () => {
    await trigger?.kill9();
    await apiProc?.kill9();
    await rx.close();
    rmSync(apiDir, { recursive: true, force: true });
    rmSync(triggerDir, { recursive: true, force: true });
  });

  it('counts from the broker, launches one job per window through a kill -9, and the API serves the jobs from the topic', async () => {
    const env = kafkaEnv(brokers, {
      TRIBUTARY_FINETUNE_DATASETS: JSON.stringify([{ name: 'kb', source: 'content', threshold: 3, settleMs: 200, launcher: { type: 'webhook', url: rx.url } }]),
    });
    apiProc = await startApi(apiDir, { ...env, TRIBUTARY_CONSUMERS: 'clean' });
    trigger = await startConsumer('finetune-trigger', triggerDir, env);
    const publish = async (from: number, n: number) => {
      const items = Array.from({ length: n }, (_, i) => ({ category: 'article', author: 'Kay', source: 'kb', externalId: `d${from + i}`, content: `Document ${from + i} is about replication factor ${from + i}.` }));
      expect((await api(apiProc!.url, 'POST', '/v1/content', { items })).status).toBe(202);
    };
    const jobs = async () => (await api<{ jobs: FinetuneJob[] }>(apiProc!.url, 'GET', '/v1/finetune/jobs')).body.jobs;

    await publish(0, 2);
    await new Promise((r) => setTimeout(r, 3000));
    expect(rx.deliveries).toHaveLength(0);
    await publish(2, 1);
    await waitUntil('the first launch', () => rx.keys().length === 1, 60_000);
    await waitUntil('the job served by the API', async () => (await jobs())[0]?.state === 'launched', 30_000);
    expect((await jobs())[0]!.datasetVersion).toBe(rx.keys()[0]);

    await trigger.kill9();
    await publish(3, 3);
    trigger = await startConsumer('finetune-trigger', triggerDir, env);
    await waitUntil('the second launch', () => rx.keys().length === 2, 60_000);
    await waitUntil('both jobs served', async () => (await jobs()).filter((j) => j.state === 'launched').length === 2, 30_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(rx.keys()).toHaveLength(2);
    const served = await jobs();
    expect(served.map((j) => j.items).sort()).toEqual([3, 6]);
    const ds = (await api<{ datasets: Array<{ name: string; pending: number; total: number; lastVersion: string }> }>(apiProc.url, 'GET', '/v1/finetune/datasets')).body.datasets;
    expect(ds).toEqual([expect.objectContaining({ name: 'kb', pending: 0, total: 6, lastVersion: served[0]!.datasetVersion })]);
  }, 180_000);

  it('refuses to start without a dataset, naming the setting', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'cli/main.ts'), 'consume', 'finetune-trigger'], {
      cwd: ROOT, encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...kafkaEnv(brokers), TRIBUTARY_DATA_DIR: triggerDir, NO_COLOR: '1' },
    });
    expect(r.status).toBe(78);
    expect(r.stderr).toContain('TRIBUTARY_FINETUNE_DATASETS');
  });
});
