import { afterEach, describe, expect, it } from 'vitest';
import { TributaryError } from '../../ports/errors.ts';
import { startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';
import { RecordingLlm } from '../helpers/recording-llm.ts';

/**
 * POST /v1/search with `rerank: true`: the LLM orders k×3 candidates and the best k are returned; the
 * response says what the step did. Without an LLM, or when the call fails, the hits keep their
 * retrieval order and `rerank` says why — the flag is never silently dropped.
 */

const DOCS = [
  { category: 'article', author: 'Ada', content: 'Zorblax ledgers replicate with quorum writes to three zones.' },
  { category: 'article', author: 'Bob', content: 'Zorblax ledger snapshots are taken every hour.' },
  { category: 'article', author: 'Cy', content: 'Zorblax ledger compaction merges old segments.' },
];

type Body = { hits: Array<{ docId: string; text: string }>; rerank: { status: string; method?: string; candidates?: number; reason?: string } };

describe('search with rerank', () => {
  let h: ApiHarness | null = null;
  afterEach(async () => { await h?.close(); h = null; });

  const start = async (llm: RecordingLlm | null) => {
    h = await startApiHarness(llm ? { wrap: (s) => ({ ...s, llm }) } : {});
    await h.system.start();
    await h.app.inject({ method: 'POST', url: '/v1/content', payload: { items: DOCS } });
    await waitFor('indexed', async () => (await h!.system.index.count()) >= 3);
  };
  const search = async (payload: Record<string, unknown>) => (await h!.app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'Zorblax ledger', ...payload } })).json() as Body;

  it('the LLM orders the candidates and the best k come back', async () => {
    // the model puts the compaction passage first, whatever the retrieval order
    const llm = new RecordingLlm({ reply: (m) => { const n = /\[(\d+)\] Zorblax ledger compaction/.exec(m[1]!.content)![1]; return `{"ranking": [${n}]}`; } });
    await start(llm);
    const plain = await search({ k: 1 });
    expect(plain.rerank).toEqual({ status: 'skipped', reason: 'disabled by request' });
    const body = await search({ k: 1, rerank: true });
    expect(body.rerank).toEqual({ status: 'applied', method: 'llm', candidates: 3 });
    expect(body.hits).toHaveLength(1);
    expect(body.hits[0]!.text).toContain('compaction');
    expect(llm.calls[0]!.messages[0]!.content).toContain('Rank the numbered passages');
  });

  it('without an LLM, or when the call fails, the retrieval order stands and the step says why', async () => {
    await start(null);
    const none = await search({ k: 2, rerank: true });
    expect(none.rerank).toEqual({ status: 'skipped', reason: 'no reranker configured (needs an LLM)' });
    expect(none.hits).toHaveLength(2);
    await h!.close();
    await start(new RecordingLlm({ reply: () => { throw new TributaryError('LLM_UNAVAILABLE', 'connection refused'); } }));
    const failed = await search({ k: 2, rerank: true });
    expect(failed.rerank).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/LLM call failed \(LLM_UNAVAILABLE\).*kept the retrieval order/) });
    expect(failed.hits).toHaveLength(2);
  });
});
