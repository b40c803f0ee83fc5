import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonValueCodec } from '../../../../adapters/value-codec/json/json-codec.ts';
import { JudgeStage } from '../../../../consumers/judge/judge-stage.ts';
import { TributaryError } from '../../../../ports/errors.ts';
import type { ChatMessage, ChatOptions, ChatResult, Llm } from '../../../../ports/llm.ts';
import type { ProducerRecord } from '../../../../ports/event-log.ts';
import type { RagTrace } from '../../../../schemas/trace.ts';
import { Topics } from '../../../../schemas/topics.ts';
import { loadPrompts } from '../../../../wiring/prompts.ts';
import { OutageCodec, OutageLlm, type Outage } from '../../../helpers/outage-doubles.ts';
import { RecordingLlm } from '../../../helpers/recording-llm.ts';
import { JUDGE_SCORES } from '../../../helpers/scripted-llm.ts';
import { startStageHarness, TEST_RETRY, waitFor, type StageHarness } from '../../../helpers/stage-harness.ts';

/**
 * The judge consumer through an outage of the Schema Registry (behind the codec) or of the LLM
 * longer than its retry budget: the batch is held (degraded, nothing committed, no verdict, nothing
 * dead-lettered), and once the dependency is back every sampled trace is judged; only the record
 * that is bad in itself goes to the DLQ.
 */

const json = new JsonValueCodec();
const trace = (traceId: string): RagTrace => ({
  traceId, at: new Date(1_700_000_000_000).toISOString(), query: 'What is a tributary?', mode: 'hybrid', filter: null, selfQuery: {},
  expandedQueries: [], retrieved: [], reranked: null,
  sources: [{ docId: 'river', chunkIndex: 0, score: 1, text: 'A tributary is a stream that flows into a larger river.' }],
  prompt: { templateId: 'rag-answer', templateVersion: 1, tokens: null, text: null },
  answer: 'A stream that flows into a larger river [1].', answerMode: 'llm', citations: null, model: 'recording-llm',
  latencyMs: { selfQuery: 0, expansion: 0, search: 0, rerank: 0, answer: 0, total: 0 }, tokens: null, cache: { hit: false },
});
const traced = async (traceId: string): Promise<ProducerRecord> => ({ key: traceId, value: await json.encode(Topics.ragTraces, trace(traceId)) });

/** An LLM that refuses our key while `refusing` is set: a rejection (LLM_REJECTED, as a 401 maps), of every request alike. */
class KeyRefusingLlm implements Llm {
  readonly id: string;
  readonly contextTokens: number;
  refusing = true;
  refused = 0;
  private readonly inner: Llm;
  constructor(inner: Llm) { this.inner = inner; this.id = inner.id; this.contextTokens = inner.contextTokens; }
  async chat(messages: ChatMessage[], options?: ChatOptions): Promise<ChatResult> {
    if (this.refusing) {
      this.refused++;
      throw new TributaryError('LLM_REJECTED', 'chat completion was rejected with 401: invalid API key', { upstreamStatus: 401, retryable: false, scope: 'batch' });
    }
    return this.inner.chat(messages, options);
  }
  stream(messages: ChatMessage[], options?: ChatOptions): AsyncIterable<string> { return this.inner.stream(messages, options); }
}

describe('judge stage: a dependency outage longer than the retry budget', () => {
  let h: StageHarness;
  let recording: RecordingLlm;
  beforeEach(() => {
    h = startStageHarness('judge-outage');
    recording = new RecordingLlm({ reply: () => JUDGE_SCORES });
  });
  afterEach(async () => { await h.close(); });

  const stageWith = (llm: Llm, codec: OutageCodec) => new JudgeStage({ llm, template: loadPrompts().judge, metrics: h.metrics, log: h.log, codec, sample: 1 });
  const verdicts = async () => Promise.all((await h.records(Topics.ragJudgements)).map(async (r) => json.decode(Topics.ragJudgements, r.value!)));
  const ids = ['t1', 't2', 't3', 't4'];
  const publish = async () => h.log.append(Topics.ragTraces, [await traced('t1'), await traced('t2'), { key: 'poison', value: Buffer.from('{not json') }, await traced('t3'), await traced('t4')]);

  const outages: Array<[string, (p: { codec: OutageCodec; llm: OutageLlm }) => Outage, string]> = [
    ['registry', (p) => p.codec.outage, 'SCHEMA_REGISTRY_UNAVAILABLE'],
    ['LLM', (p) => p.llm.outage, 'LLM_UNAVAILABLE'],
  ];

  it.each(outages)('%s down: nothing reaches the DLQ, the consumer is degraded; once it is back every trace is judged', async (_name, which, code) => {
    const parts = { codec: new OutageCodec(json), llm: new OutageLlm(recording) };
    const outage = which(parts);
    const consumer = h.consumer(stageWith(parts.llm, parts.codec), Topics.ragTraces);
    await publish();
    outage.down = true;
    consumer.start();
    await waitFor('the outage to outlast the retry budget', () => outage.refused > 2 * TEST_RETRY.maxAttempts);
    expect(consumer.status).toMatchObject({ running: true, degraded: true, lastError: expect.stringContaining(code) });
    expect(await h.dlq()).toEqual([]);
    expect(await h.committed(Topics.ragTraces)).toBe(0);
    expect(await h.records(Topics.ragJudgements)).toEqual([]);

    outage.down = false;
    await waitFor('every trace to be consumed', async () => (await h.committed(Topics.ragTraces)) === 5);
    const judged = await verdicts();
    expect(judged.map((j) => j.traceId).sort()).toEqual(ids);
    expect(judged.every((j) => j.status === 'judged')).toBe(true);
    expect(recording.calls).toHaveLength(4); // each trace asked once
    expect((await h.dlq()).map((d) => [d.key, d.code])).toEqual([['poison', 'MALFORMED_EVENT']]);
    expect(consumer.status).toMatchObject({ degraded: false, lastError: null });
  });

  it('an LLM refusing our key writes no "failed" verdicts and dead-letters nothing: the batch waits for a working key', async () => {
    const llm = new KeyRefusingLlm(recording);
    const consumer = h.consumer(stageWith(llm, new OutageCodec(json)), Topics.ragTraces);
    await publish();
    consumer.start();
    await waitFor('the refusals to outlast the retry budget', () => llm.refused > 2 * TEST_RETRY.maxAttempts);
    expect(consumer.status).toMatchObject({ degraded: true, lastError: expect.stringContaining('LLM_REJECTED') });
    expect(await h.records(Topics.ragJudgements)).toEqual([]);
    expect(await h.dlq()).toEqual([]);

    llm.refusing = false;
    await waitFor('every trace to be consumed', async () => (await h.committed(Topics.ragTraces)) === 5);
    expect((await verdicts()).map((j) => [j.traceId, j.status]).sort()).toEqual(ids.map((id) => [id, 'judged']));
  });
});
