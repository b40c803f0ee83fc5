import { randomUUID } from 'node:crypto';
import { encode } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { TributaryError } from '../../../../ports/errors.ts';
import { Metrics } from '../../../../observability/metrics.ts';
import { buildJudgeMessages, isSampled, JUDGE_REPLY_TOKENS, judgeResponseSchema, parseJudgeReply } from '../../../../streams/eval/judge.ts';
import { judgeAnswer } from '../../../../consumers/judge/judge-answer.ts';
import { loadPrompts } from '../../../../wiring/prompts.ts';
import { RecordingLlm } from '../../../helpers/recording-llm.ts';

const template = loadPrompts().judge;
const scored = (g: number, a: number, c: number, extra = '') => `{"groundedness": {"score": ${g}, "reason": "claims match [1]"}, "answerRelevance": {"score": ${a}, "reason": "on topic"}, "contextRelevance": {"score": ${c}, "reason": "passage 1 holds it"}${extra}}`;

describe('LLM-as-judge, pure', () => {
  it('samples by trace id: the same id decides alike every time, and the share is close to the rate', () => {
    const ids = Array.from({ length: 20_000 }, () => randomUUID());
    for (const rate of [0.1, 0.5]) {
      const share = ids.filter((id) => isSampled(id, rate)).length / ids.length;
      expect(Math.abs(share - rate)).toBeLessThan(0.015);
    }
    expect(ids.every((id) => isSampled(id, 0.1) === isSampled(id, 0.1))).toBe(true);
    // a trace sampled at 10% is sampled at any higher rate (the sample grows, it does not reshuffle)
    expect(ids.filter((id) => isSampled(id, 0.1)).every((id) => isSampled(id, 0.3))).toBe(true);
    expect(isSampled(ids[0]!, 0)).toBe(false);
    expect(isSampled(ids[0]!, 1)).toBe(true);
  });

  it('gives the judge the question, the numbered sources and the answer, fitted into the context window', () => {
    const big = 'Kafka keeps records in partitions. '.repeat(2000);
    const msgs = buildJudgeMessages(template, { question: 'How are records kept?', answer: 'In partitions [1].', sources: [big, big, 'short source'], expected: 'In partitions.' }, 2048);
    expect(msgs[0]!.content).toContain('groundedness');
    const user = msgs[1]!.content;
    expect(user).toMatch(/^Question: How are records kept\?/);
    expect(user).toContain('[1] Kafka keeps records');
    expect(user).toContain('[3] short source');
    expect(user).toContain('Answer: In partitions [1].');
    expect(user).toContain('Expected answer: In partitions.');
    const tokens = msgs.reduce((n, m) => n + encode(m.content).length, 0);
    expect(tokens + JUDGE_REPLY_TOKENS).toBeLessThanOrEqual(2048);
  });

  it('a context too small to hold what is judged is refused, never judged blind', async () => {
    expect(() => buildJudgeMessages(template, { question: 'q', answer: 'a', sources: ['s'] }, 1024)).toThrow(/1024-token context leaves .* at least 256 are needed/);
    const j = await judgeAnswer({ llm: new RecordingLlm({ reply: () => scored(5, 5, 5), contextTokens: 1024 }), template, metrics: new Metrics() }, 't', { question: 'q', answer: 'a', sources: ['s'] }, 'online');
    expect(j).toMatchObject({ status: 'failed', scores: null, error: expect.stringMatching(/raise TRIBUTARY_LLM_CONTEXT_TOKENS/) });
  });

  it('asks for exactly the criteria it will read (correctness only with an expected answer)', () => {
    expect((judgeResponseSchema(false).schema as { required: string[] }).required).toEqual(['groundedness', 'answerRelevance', 'contextRelevance']);
    expect((judgeResponseSchema(true).schema as { required: string[] }).required).toContain('correctness');
  });

  it('reads a reply, and refuses one that is not the scores asked for, naming what is wrong', () => {
    expect(parseJudgeReply(scored(5, 4, 3), false)).toEqual({
      groundedness: { score: 5, reason: 'claims match [1]' }, answerRelevance: { score: 4, reason: 'on topic' }, contextRelevance: { score: 3, reason: 'passage 1 holds it' },
    });
    expect(() => parseJudgeReply('I think it is fine', false)).toThrow(/not JSON/);
    expect(() => parseJudgeReply(scored(6, 4, 3), false)).toThrow(/groundedness\.score/);
    expect(() => parseJudgeReply('{"groundedness": {"score": 5, "reason": "x"}}', false)).toThrow(/answerRelevance/);
    expect(() => parseJudgeReply(scored(5, 4, 3), true)).toThrow(/no correctness score/);
    expect(parseJudgeReply(scored(5, 4, 3, ', "correctness": {"score": 2, "reason": "misses the key"}'), true).correctness).toEqual({ score: 2, reason: 'misses the key' });
    // a blank reason is no verdict: the schema asks for one (minLength, enforced while decoding) and the parser refuses it
    expect(() => parseJudgeReply(scored(5, 4, 3).replace('"on topic"', '"  "'), false)).toThrow(/answerRelevance\.reason: the reason is empty/);
    const criterion = (judgeResponseSchema(false).schema as { properties: Record<string, { properties: { reason: { minLength: number } } }> }).properties['groundedness']!;
    expect(criterion.properties.reason.minLength).toBe(1);
  });
});

describe('judgeAnswer', () => {
  const input = { question: 'Which partition?', answer: 'The same one [1].', sources: ['Records with the same key go to the same partition.'] };

  it('scores with the LLM and exports the scores as metrics', async () => {
    const llm = new RecordingLlm({ reply: () => scored(5, 4, 2) });
    const metrics = new Metrics();
    const j = await judgeAnswer({ llm, template, metrics }, 't-1', input, 'online');
    expect(j).toMatchObject({ traceId: 't-1', origin: 'online', status: 'judged', model: 'recording-llm', prompt: { templateId: 'rag-judge', templateVersion: template.version }, error: null });
    expect(j.scores?.contextRelevance.score).toBe(2);
    expect(llm.calls[0]!.messages[1]!.content).toContain('[1] Records with the same key');
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/tributary_rag_judgements_total\{origin="online",status="judged"\} 1/);
    expect(text).toMatch(/tributary_rag_judge_score_sum\{origin="online",criterion="contextRelevance"\} 2/);
  });

  it('an unusable reply is a failed verdict with the reason, never a made-up score', async () => {
    const metrics = new Metrics();
    const j = await judgeAnswer({ llm: new RecordingLlm({ reply: () => 'Looks good to me!' }), template, metrics }, 't-2', input, 'online');
    expect(j).toMatchObject({ status: 'failed', scores: null, error: expect.stringMatching(/not JSON/) });
    expect(await metrics.registry.metrics()).toMatch(/tributary_rag_judgements_total\{origin="online",status="failed"\} 1/);
  });

  it('an LLM that cannot be reached is thrown to the caller (retried), not recorded as a verdict', async () => {
    const llm = new RecordingLlm({ reply: () => { throw new TributaryError('LLM_UNAVAILABLE', 'connection refused'); } });
    await expect(judgeAnswer({ llm, template, metrics: new Metrics() }, 't-3', input, 'online')).rejects.toMatchObject({ code: 'LLM_UNAVAILABLE' });
  });
});
