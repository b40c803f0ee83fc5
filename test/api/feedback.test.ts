import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Topics } from '../../schemas/topics.ts';
import type { FeedbackEvent } from '../../schemas/feedback.ts';
import { parseSse, startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';

type ErrorBody = { error: { code: string; details?: Array<{ path: string; message: string }> } };

/** Every feedback record on the topic, decoded, with its key. */
async function feedbackRecords(h: ApiHarness): Promise<Array<{ key: string | null; value: FeedbackEvent }>> {
  const out: Array<{ key: string | null; value: FeedbackEvent }> = [];
  for (const p of await h.system.log.offsets(Topics.feedback)) {
    for (const r of await h.system.log.read(Topics.feedback, p.partition, 0, 1000)) {
      out.push({ key: r.key, value: await h.system.codec.decode(Topics.feedback, r.value!) });
    }
  }
  return out;
}

describe('POST /v1/feedback and the traceId of every RAG answer', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiHarness();
    const res = await h.app.inject({ method: 'POST', url: '/v1/content', payload: { category: 'article', author: 'Ada', title: 'Logs', content: 'Kafka keeps an ordered, replicated log of records per partition.' } });
    const [id] = (res.json() as { ids: string[] }).ids;
    await h.system.start();
    await waitFor('the document to be indexed', async () => (await h.system.index.documentVersions([id!])).size === 1);
  });
  afterAll(async () => { await h?.close(); });

  it('every RAG answer carries its own traceId, in the JSON body and in the SSE done event', async () => {
    const a = (await h.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'What keeps order?' } })).json() as { traceId: string };
    const b = (await h.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'What keeps order?' } })).json() as { traceId: string };
    expect(a.traceId).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.traceId).not.toBe(a.traceId);
    const sse = await h.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'What keeps order?', stream: true } });
    const done = parseSse(sse.body).at(-1)!;
    expect(done.event).toBe('done');
    expect((done.data as { traceId: string }).traceId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('feedback naming an answer is appended to tributary.feedback, keyed by the traceId, as sent', async () => {
    const answer = (await h.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'What keeps order?' } })).json() as { traceId: string; answer: string };
    const res = await h.app.inject({ method: 'POST', url: '/v1/feedback', payload: { traceId: answer.traceId, rating: 'down', correction: 'Partitions keep order per key.', tags: ['wrong-source'] } });
    expect(res.statusCode).toBe(202);
    const { id } = res.json() as { id: string };
    const thumbs = await h.app.inject({ method: 'POST', url: '/v1/feedback', payload: { query: 'What keeps order?', answer: answer.answer, rating: 4, comment: 'good enough' } });
    expect(thumbs.statusCode).toBe(202);
    const records = await feedbackRecords(h);
    const mine = records.find((r) => r.value.id === id)!;
    expect(mine.key).toBe(answer.traceId);
    expect(mine.value).toMatchObject({ traceId: answer.traceId, rating: 'down', correction: 'Partitions keep order per key.', tags: ['wrong-source'] });
    expect(Date.now() - mine.value.receivedAtMs).toBeLessThan(60_000);
    const other = records.find((r) => r.value.id === (thumbs.json() as { id: string }).id)!;
    expect(other.key).toBe(other.value.id);
    expect(other.value).toMatchObject({ query: 'What keeps order?', rating: 4, comment: 'good enough' });
  });

  it('bad feedback is refused naming each field, and nothing is appended', async () => {
    const before = (await feedbackRecords(h)).length;
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [{ traceId: 'abcdefgh1', rating: 6 }, ['rating']],
      [{ traceId: 'abcdefgh1', rating: 'meh' }, ['rating']],
      [{ traceId: 'abcdefgh1' }, ['rating']],
      [{ rating: 'up' }, ['traceId']],
      [{ traceId: 'abcdefgh1', rating: 'up', stars: 5 }, ['stars']],
      [{ traceId: 'no spaces allowed', rating: 'up' }, ['traceId']],
      [{ query: 'q', rating: 'up', tags: ['Not A Tag'] }, ['tags.0']],
      // huge fields: each has a bound, and the one over it is named
      [{ query: 'q', answer: 'a'.repeat(32_001), rating: 'down' }, ['answer']],
      [{ query: 'q'.repeat(4001), rating: 'down' }, ['query']],
      [{ query: 'q', rating: 'down', correction: 'c'.repeat(32_001), comment: 'x'.repeat(4001) }, ['correction', 'comment']],
      [{ query: 'q', rating: 'up', tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, ['tags']],
    ];
    for (const [payload, paths] of cases) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/feedback', payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      // each bad field is named (an unknown one in the message)
      const details = JSON.stringify((res.json() as ErrorBody).error.details);
      for (const p of paths) expect(details, JSON.stringify(payload)).toContain(p);
    }
    // a body over the API's limit is refused before it is parsed
    const huge = await h.app.inject({ method: 'POST', url: '/v1/feedback', payload: { query: 'q', rating: 'up', comment: 'x'.repeat(20 * 1024 * 1024) } });
    expect(huge.statusCode).toBe(413);
    expect((huge.json() as ErrorBody).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await feedbackRecords(h)).length).toBe(before);
  });
});
