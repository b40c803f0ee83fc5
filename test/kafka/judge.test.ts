import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Judgement } from '../../schemas/judgement.ts';
import type { RunningSystem } from '../e2e/harness.ts';
import { api } from '../e2e/harness.ts';
import { describeKafka } from '../setup/kafka-env.ts';
import { JUDGE_SCORES, startScriptedLlm, type ScriptedLlm } from '../helpers/scripted-llm.ts';
import { kafkaEnv, resetKafka, startApi, startConsumer, waitUntil, type Proc } from './harness.ts';

/**
 * Kafka mode: the judge as a process of its own (`tributary consume judge`), reading
 * tributary.rag.traces from the broker and scoring every answer (sample 1) with the LLM (a scripted
 * OpenAI-compatible server); the API, in another process, serves the verdict on its trace.
 */

const ROOT = resolve(import.meta.dirname, '../..');

describeKafka('Kafka mode: the judge consumer process', (brokers) => {
  let apiDir: string;
  let judgeDir: string;
  let llm: ScriptedLlm;
  let apiProc: RunningSystem | null = null;
  let judge: Proc | null = null;

  beforeAll(async () => {
    await resetKafka(brokers);
    apiDir = mkdtempSync(join(tmpdir(), 'tributary-kafka-judge-api-'));
    judgeDir = mkdtempSync(join(tmpdir(), 'tributary-kafka-judge-'));
    llm = await startScriptedLlm((system) => (system.includes('strict evaluator') ? JUDGE_SCORES : 'Zorblax writes its ledger to three zones [1].'));
  });
  afterAll(async () => {
    await judge?.stop();
    await apiProc?.kill9();
    await llm.close();
    rmSync(apiDir, { recursive: true, force: true });
    rmSync(judgeDir, { recursive: true, force: true });
  });

  it('scores the answers the API traced, and the API serves the verdict with the trace', async () => {
    const env = kafkaEnv(brokers, { TRIBUTARY_LLM_BASE_URL: llm.baseUrl, TRIBUTARY_LLM_MODEL: 'scripted', TRIBUTARY_JUDGE_SAMPLE: '1' });
    apiProc = await startApi(apiDir, { ...env, TRIBUTARY_CONSUMERS: 'clean,embed' });
    judge = await startConsumer('judge', judgeDir, env);
    expect((await api(apiProc.url, 'POST', '/v1/content', { items: [{ category: 'article', author: 'Ada', content: 'Zorblax replicates its ledger with quorum writes to three zones.' }] })).status).toBe(202);
    await waitUntil('indexed', async () => (await api<{ hits: unknown[] }>(apiProc!.url, 'POST', '/v1/search', { query: 'Zorblax ledger', k: 1 })).body.hits.length === 1, 60_000);
    const asked = await api<{ traceId: string }>(apiProc.url, 'POST', '/v1/rag/query', { query: 'How does Zorblax replicate its ledger?', expand: false, selfQuery: false, rerank: false });
    expect(asked.status).toBe(200);
    let judgement: Judgement | null = null;
    await waitUntil('the verdict on the trace', async () => {
      judgement = (await api<{ judgement: Judgement | null }>(apiProc!.url, 'GET', `/v1/traces/${asked.body.traceId}`)).body.judgement;
      return judgement !== null;
    }, 60_000);
    expect(judgement).toMatchObject({ origin: 'online', status: 'judged', model: 'openai:scripted', scores: { groundedness: { score: 5 }, contextRelevance: { score: 3 } } });
    expect(llm.calls.filter((c) => c.messages[0]!.content.includes('strict evaluator'))).toHaveLength(1);
  }, 180_000);

  it('refuses to start without an LLM, naming what it needs', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'cli/main.ts'), 'consume', 'judge'], {
      cwd: ROOT, encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...kafkaEnv(brokers), TRIBUTARY_DATA_DIR: judgeDir, TRIBUTARY_LLM_GGUF: 'off', NO_COLOR: '1' },
    });
    expect(r.status).toBe(78);
    expect(r.stderr).toMatch(/judge consumer .* needs an LLM/);
  });
});
