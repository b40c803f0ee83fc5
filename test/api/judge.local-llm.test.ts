import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/ci.ts';
import { LOCAL_LLM_GGUF, LOCAL_LLM_MODEL_ID, LOCAL_LLM_NEED } from '../helpers/local-llm.ts';
import { startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';
import { JUDGE_CRITERIA, type Judgement } from '../../schemas/judgement.ts';

const CORPUS = resolve(import.meta.dirname, '../../demo/corpus');
const DOCS = readdirSync(CORPUS).filter((f) => f.endsWith('.json')).flatMap((f) => JSON.parse(readFileSync(join(CORPUS, f), 'utf8')) as Array<Record<string, unknown>>);

/**
 * LLM-as-judge and the LLM injection classifier on the real local model (SmolLM2-135M-Instruct,
 * in-process), over the demo corpus. A 135M model's opinions are weak: what must hold for any model
 * is that the judge consumer picks the trace up on its own, every verdict is whole (each criterion a
 * score 1–5 with a reason, the schema enforced while decoding), and it lands on its trace.
 */
describeWith(LOCAL_LLM_NEED, 'LLM-as-judge on the local model', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiHarness({ config: { llmGguf: LOCAL_LLM_GGUF, llmGpu: 'cpu', llmThreads: 1, llmAnswerTokens: 64, judgeSample: 1, guardInjection: 'flag', guardInjectionLlm: 'on' } });
    const res = await h.app.inject({ method: 'POST', url: '/v1/content', payload: { items: DOCS } });
    const ids = (res.json() as { ids: string[] }).ids;
    await h.system.start();
    await waitFor('the demo corpus to be indexed', async () => (await h.system.index.documentVersions(ids)).size === ids.length, 60_000);
  }, 120_000);
  afterAll(async () => { await h?.close(); });

  const expectWhole = (j: Judgement, criteria: readonly string[]) => {
    expect(j).toMatchObject({ status: 'judged', error: null, model: `local:${LOCAL_LLM_MODEL_ID}`, prompt: { templateId: 'rag-judge' } });
    for (const c of criteria) {
      const s = j.scores![c as keyof NonNullable<Judgement['scores']>]!;
      expect(Number.isInteger(s.score) && s.score >= 1 && s.score <= 5, `${c}: ${s.score}`).toBe(true);
      expect(s.reason.trim().length, c).toBeGreaterThan(0);
    }
  };

  it('the judge consumer scores an answer by itself; the classifier ran on the question and the chunks', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'How does Kafka keep the order of records?', expand: false, selfQuery: false, rerank: false, k: 3 } });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    const body = res.json() as { traceId: string; sources: unknown[]; steps: { guardrails: { classifier: { status: string; chunks?: number } } } };
    expect(body.steps.guardrails.classifier.status).toBe('applied');
    expect(body.steps.guardrails.classifier.chunks).toBeLessThanOrEqual(3);
    const judgement = await waitFor('the judge consumer\'s verdict', async () => ((await h.app.inject({ method: 'GET', url: `/v1/traces/${body.traceId}` })).json() as { judgement: Judgement | null }).judgement, 120_000, 250);
    expect(judgement.origin).toBe('online');
    expectWhole(judgement, JUDGE_CRITERIA.filter((c) => c !== 'correctness'));
    expect(judgement.scores!.correctness).toBeUndefined();

    // on demand, against an expected answer: correctness too
    const offline = await h.app.inject({ method: 'POST', url: `/v1/traces/${body.traceId}/judge`, payload: { expected: 'Records with the same key go to the same partition, which keeps their order.' } });
    expect(offline.statusCode, offline.body.slice(0, 300)).toBe(200);
    const j = (offline.json() as { judgement: Judgement }).judgement;
    expect(j.origin).toBe('offline');
    expectWhole(j, JUDGE_CRITERIA);
  }, 240_000);
});
