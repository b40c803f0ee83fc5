import { afterEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../ports/llm.ts';
import { TributaryError } from '../../ports/errors.ts';
import type { System } from '../../wiring/system.ts';
import { startApiHarness, parseSse, readUntil, waitFor, type ApiHarness } from '../helpers/api-system.ts';
import { RecordingLlm } from '../helpers/recording-llm.ts';

type Source = { docId: string; chunkIndex: number; text: string; score: number; title: string | null; url: string | null };
type RagBody = { answer: string; mode: string; sources: Source[]; steps: Record<string, Record<string, unknown>> };
type ErrorBody = { error: { code: string; message: string; details?: Array<{ path: string; message: string }> } };

const DOCS = [
  { category: 'article', author: 'Alice', title: 'Kafka partitions', content: 'Kafka splits every topic into partitions. Records with the same key always land on the same partition, so their order is kept. Consumers in a group share the partitions.' },
  { category: 'post', author: 'Alice', title: 'Weekend', content: 'I baked sourdough bread this weekend. Kafka was not involved at all.' },
  { category: 'article', author: 'Bob', title: 'Qdrant filters', content: 'Qdrant stores vectors with payloads. Payload filters narrow a vector search to matching points, such as one author.' },
];

async function indexed(h: ApiHarness): Promise<string[]> {
  const res = await h.app.inject({ method: 'POST', url: '/v1/content', payload: { items: DOCS } });
  expect(res.statusCode).toBe(202);
  const ids = (res.json() as { ids: string[] }).ids;
  await h.system.start();
  await waitFor('every document to be indexed', async () => (await h.system.index.count()) >= DOCS.length && (await h.system.index.documentVersions(ids)).size === ids.length);
  return ids;
}

/** Replies to each kind of prompt the RAG route sends, by the words in its system prompt. */
function scripted(messages: ChatMessage[]): string {
  const system = messages[0]!.content;
  if (system.includes('extract search filters')) return '{"author": "Alice", "category": "article"}';
  if (system.includes('different search queries')) return '{"queries": ["kafka topic partitioning", "how kafka orders records by key"]}';
  if (system.includes('Rank the numbered passages')) return '{"ranking": [1]}';
  return 'Records with the same key go to the same partition [1].';
}

function withLlm(llm: RecordingLlm): (s: System) => System {
  return (s) => ({ ...s, llm });
}

describe('RAG API', () => {
  let h: ApiHarness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  const ask = (payload: unknown) => h!.app.inject({ method: 'POST', url: '/v1/rag/query', payload: payload as object });

  it('answers extractively without an LLM, says so, and cites its sources', async () => {
    h = await startApiHarness();
    const [kafkaId] = await indexed(h);
    const res = await ask({ query: 'Which partition do records with the same key land on in Kafka?', selfQuery: false });
    expect(res.statusCode).toBe(200);
    const body = res.json() as RagBody;
    expect(body.mode).toBe('extractive');
    expect(body.answer.startsWith('Extractive answer (no LLM configured)')).toBe(true);
    expect(body.answer).toMatch(/same key always land on the same partition[^\n]*\[1\]/);
    expect(body.sources[0]).toMatchObject({ docId: kafkaId, chunkIndex: 0, title: 'Kafka partitions' });
    expect(body.steps.selfQuery).toEqual({ status: 'skipped', reason: 'disabled by request' });
    expect(body.steps.expansion).toMatchObject({ status: 'skipped', reason: 'no LLM configured' });
    expect(body.steps.rerank).toMatchObject({ status: 'skipped' });
    expect(body.steps.search).toMatchObject({ variants: 1 });
    expect(body.steps.search!['candidates']).toBeGreaterThan(0);
    expect(body.steps.extractive).toMatchObject({ reason: 'no LLM configured', cited: [1] });
    expect(body.steps.llm).toBeUndefined();
  });

  it('extracts author and category filters from the question without an LLM', async () => {
    h = await startApiHarness();
    const [, alicePostId, bobId] = await indexed(h);
    const res = await ask({ query: 'articles by Alice about partitions and ordering', k: 5 });
    expect(res.statusCode).toBe(200);
    const body = res.json() as RagBody;
    expect(body.steps.selfQuery).toMatchObject({ status: 'applied', method: 'rules', filters: { author: 'Alice', category: 'article' } });
    expect(body.steps.search).toMatchObject({ filter: { author: 'Alice', category: 'article' } });
    expect(body.sources.length).toBeGreaterThan(0);
    expect(body.sources.map((s) => s.docId)).not.toContain(alicePostId);
    expect(body.sources.map((s) => s.docId)).not.toContain(bobId);

    // an author the index doesn't know is not a filter
    const unknown = (await ask({ query: 'articles by Zelda about partitions' })).json() as RagBody;
    expect(unknown.steps.selfQuery).toMatchObject({ status: 'applied', filters: { category: 'article' } });
    expect((unknown.steps.selfQuery as { filters: Record<string, unknown> }).filters['author']).toBeUndefined();
  });

  it('streams sources, then deltas, then done (extractive)', async () => {
    h = await startApiHarness();
    await indexed(h);
    const res = await ask({ query: 'How does Kafka keep the order of records with the same key?', stream: true });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = parseSse(res.body);
    const kinds = events.map((e) => e.event);
    expect(kinds[0]).toBe('sources');
    expect(kinds.at(-1)).toBe('done');
    expect(kinds.slice(1, -1).length).toBeGreaterThan(0);
    expect(kinds.slice(1, -1).every((k) => k === 'delta')).toBe(true);
    const sources = (events[0]!.data as { sources: Source[] }).sources;
    expect(sources.length).toBeGreaterThan(0);
    const done = events.at(-1)!.data as RagBody;
    const streamed = events.filter((e) => e.event === 'delta').map((e) => (e.data as { text: string }).text).join('');
    expect(streamed).toBe(done.answer);
    expect(done.mode).toBe('extractive');
    expect(done.steps.extractive).toBeDefined();
  });

  it('with an LLM: self-query, expansion and rerank run, and the grounded answer cites numbered context', async () => {
    const llm = new RecordingLlm({ reply: scripted });
    h = await startApiHarness({ wrap: withLlm(llm) });
    const [kafkaId] = await indexed(h);
    const res = await ask({ query: 'Which articles did Alice write about how Kafka orders records?' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as RagBody;
    expect(body.mode).toBe('llm');
    expect(body.answer).toBe('Records with the same key go to the same partition [1].');
    expect(body.steps.selfQuery).toMatchObject({ status: 'applied', method: 'llm', filters: { author: 'Alice', category: 'article' } });
    expect(body.steps.expansion).toMatchObject({ status: 'applied', variants: ['Which articles did Alice write about how Kafka orders records?', 'kafka topic partitioning', 'how kafka orders records by key'] });
    expect(body.steps.search).toMatchObject({ variants: 3 });
    expect(body.steps.llm).toMatchObject({ model: 'recording-llm', contextChunks: body.sources.length });
    expect(body.sources[0]!.docId).toBe(kafkaId);
    const answerCall = llm.callsWith('numbered context passages');
    expect(answerCall).toHaveLength(1);
    const user = answerCall[0]!.messages[1]!.content;
    expect(user).toContain('[1] Kafka partitions');
    expect(user).toContain('Question: Which articles did Alice write about how Kafka orders records?');
    expect(user).not.toContain('sourdough');
    // rerank asked only when there were 2+ candidates; with the filter there is one
    expect(body.steps.rerank).toMatchObject({ status: 'skipped', reason: 'fewer than 2 candidates' });
      // a category the model proposes but the question does not use as a filter is dropped (the topic, not a filter)
    const unnamed = (await ask({ query: 'What did Alice write about how Kafka orders records?', expand: false, rerank: false })).json() as RagBody;
    expect(unnamed.steps.selfQuery).toMatchObject({ status: 'applied', method: 'llm', filters: { author: 'Alice' } });
    expect((unnamed.steps.selfQuery as { filters: Record<string, string> }).filters).not.toHaveProperty('category');
  });

  it('with an LLM: reranks several candidates in the order the model gives', async () => {
    const llm = new RecordingLlm({ reply: (m) => (m[0]!.content.includes('Rank the numbered passages') ? '{"ranking": [2, 1]}' : scripted(m)) });
    h = await startApiHarness({ wrap: withLlm(llm) });
    await indexed(h);
    const res = await ask({ query: 'kafka partitions vectors', selfQuery: false, expand: false, k: 3 });
    const body = res.json() as RagBody;
    expect(body.steps.rerank).toMatchObject({ status: 'applied', method: 'llm' });
    const plain = (await ask({ query: 'kafka partitions vectors', selfQuery: false, expand: false, rerank: false, k: 3 })).json() as RagBody;
    expect(plain.steps.rerank).toEqual({ status: 'skipped', reason: 'disabled by request' });
    expect(body.sources[0]!.docId).toBe(plain.sources[1]!.docId);
    expect(body.sources[1]!.docId).toBe(plain.sources[0]!.docId);
  });

  it('with an LLM: streams the model output and ends with done', async () => {
    const llm = new RecordingLlm({ reply: scripted });
    h = await startApiHarness({ wrap: withLlm(llm) });
    await indexed(h);
    const res = await ask({ query: 'How does Kafka order records?', stream: true, expand: false, selfQuery: false });
    const events = parseSse(res.body);
    expect(events.map((e) => e.event)).toEqual(['sources', ...Array(events.length - 2).fill('delta'), 'done']);
    expect(events.filter((e) => e.event === 'delta').length).toBeGreaterThan(1);
    expect((events.at(-1)!.data as RagBody).answer).toBe('Records with the same key go to the same partition [1].');
    expect(llm.calls.filter((c) => c.kind === 'stream')).toHaveLength(1);
  });

  it('ends the stream with an error event when the LLM fails mid-stream', async () => {
    // 4 pieces of 8 characters: 'Records with the same key go to ' (the masker holds the last word back: it may go on)
    const llm = new RecordingLlm({ reply: scripted, streamError: new TributaryError('LLM_UNAVAILABLE', 'upstream reset the connection'), failAfterPieces: 4 });
    h = await startApiHarness({ wrap: withLlm(llm) });
    await indexed(h);
    const res = await ask({ query: 'How does Kafka order records?', stream: true, expand: false, selfQuery: false });
    const events = parseSse(res.body);
    expect(events[0]!.event).toBe('sources');
    expect(events.at(-1)!.event).toBe('error');
    const deltas = events.slice(1, -1);
    expect(deltas.length).toBeGreaterThan(0);
    expect(deltas.every((e) => e.event === 'delta')).toBe(true);
    expect(deltas.map((e) => (e.data as { text: string }).text).join('')).toBe('Records with the same key go ');
    expect(events.at(-1)!.data).toEqual({ error: { code: 'LLM_UNAVAILABLE', message: 'upstream reset the connection' } });
  });

  it('aborts the LLM call when the client disconnects', async () => {
    const llm = new RecordingLlm({ reply: scripted, hangAfterPieces: 4 });
    h = await startApiHarness({ wrap: withLlm(llm) });
    await indexed(h);
    const url = await h.app.listen({ host: '127.0.0.1', port: 0 });
    const ac = new AbortController();
    const res = await fetch(`${url}/v1/rag/query`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
      body: JSON.stringify({ query: 'How does Kafka order records?', stream: true, expand: false, selfQuery: false }),
    });
    await readUntil(res, 'event: delta');
    ac.abort();
    const outcome = await Promise.race([llm.aborted.then(() => 'aborted'), new Promise((r) => setTimeout(() => r('still running'), 3000))]);
    expect(outcome).toBe('aborted');
  });

  it('names each bad field', async () => {
    h = await startApiHarness();
    const cases: Array<[unknown, string[]]> = [
      [{}, ['query']],
      [{ query: 'x', stream: 'yes' }, ['stream']],
      [{ query: 'x', k: 0, expand: 1 }, ['expand', 'k']],
      [{ query: 'x', filter: { category: 'Bad Name' } }, ['filter.category']],
      [{ query: 'x'.repeat(5000) }, ['query']],
      [{ query: 'x', rerank: null, unknown: 1 }, ['rerank', 'unknown']],
    ];
    for (const [payload, expected] of cases) {
      const res = await ask(payload);
      expect(res.statusCode, JSON.stringify(payload).slice(0, 80)).toBe(400);
      expect((res.json() as ErrorBody).error.details!.map((d) => d.path).sort()).toEqual(expected);
    }
    const notJson = await h.app.inject({ method: 'POST', url: '/v1/rag/query', payload: '{"query": "x"', headers: { 'content-type': 'application/json' } });
    expect(notJson.statusCode).toBe(400);
  });
});
