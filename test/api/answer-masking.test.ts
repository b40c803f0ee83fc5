import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { maskSensitive } from '../../streams/clean/mask.ts';
import { startOpenAiCompatibleServer, type OpenAiCompatibleServer } from '../fixtures/openai-compatible-server.ts';
import { startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';

/**
 * PII and secrets in RAG answers, end to end: a real OpenAI-compatible HTTP server streams an answer
 * full of secrets in sub-word pieces (as real servers do); with TRIBUTARY_GUARD_PII=mask the answer
 * the client receives — streamed event by event, or whole — is the whole answer masked, and no
 * secret value reaches the client in any delta.
 */

const SECRETS = {
  password: 'hunter2-Gr33n',
  apiKey: 'Zq8xY7wV6uT5sR4aB3',
  bearer: 'eyJ0eXAiOiJKV1QiLCJhbGciOi1234567890abc',
  quoted: 'correct horse battery 42',
  email: 'ada.lovelace@example.com',
  phone: '+44 20 7946 0958',
  pem: 'MIIEpAIBAAKCAQEA7bq9Q2hG0x',
};

const LEAKY_ANSWER = [
  `The Zorblax admin login is password: ${SECRETS.password} and the service uses api_key = ${SECRETS.apiKey} [1].`,
  `Clients send Authorization: Bearer ${SECRETS.bearer} on every call.`,
  `The vault entry reads "db_password": "${SECRETS.quoted}".`,
  `Write to ${SECRETS.email} or jane [at] example [dot] com, or call ${SECRETS.phone} after 5 pm.`,
  `The deploy key:\n-----BEGIN RSA PRIVATE KEY-----\n${SECRETS.pem}\nQ2hG0x+Zr/9==\n-----END RSA PRIVATE KEY-----\nRotate it yearly.`,
].join(' ');

/** Deterministic sub-word pieces of 1–`max` characters. */
function subWordPieces(text: string, max: number, seed: number): string[] {
  const pieces: string[] = [];
  let x = seed;
  for (let i = 0; i < text.length;) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const n = 1 + (x % max);
    pieces.push(text.slice(i, i + n));
    i += n;
  }
  return pieces;
}

function sseDeltas(body: string): { deltas: string[]; done: { answer: string; steps: { guardrails: { answer: { masked: number } } } } } {
  const deltas: string[] = [];
  let done: unknown = null;
  for (const block of body.split('\n\n')) {
    const event = /^event: (.+)$/m.exec(block)?.[1];
    const data = /^data: (.+)$/m.exec(block)?.[1];
    if (!event || !data) continue;
    if (event === 'delta') deltas.push((JSON.parse(data) as { text: string }).text);
    if (event === 'done') done = JSON.parse(data);
    if (event === 'error') throw new Error(`stream failed: ${data}`);
  }
  return { deltas, done: done as never };
}

describe('RAG answers with TRIBUTARY_GUARD_PII=mask, from a real HTTP LLM that streams secrets in pieces', () => {
  let llm: OpenAiCompatibleServer;
  let h: ApiHarness | null = null;
  beforeAll(async () => { llm = await startOpenAiCompatibleServer(); });
  afterAll(async () => { await llm.close(); });
  afterEach(async () => { await h?.close(); h = null; llm.reset(); });

  async function start(pii: 'mask' | 'off' = 'mask') {
    h = await startApiHarness({ config: { llmBaseUrl: llm.baseUrl, llmModel: 'leaky', guardPii: pii, guardInjectionLlm: 'off' } });
    await h.system.start();
    await h.app.inject({ method: 'POST', url: '/v1/content', payload: { items: [
      { category: 'article', author: 'Ada', title: 'Zorblax access', content: 'Zorblax operators keep the admin credentials in the vault.' },
    ] } });
    await waitFor('indexed', async () => (await h!.system.index.count()) >= 1);
    llm.answer = () => LEAKY_ANSWER;
  }
  const ask = (stream: boolean) => h!.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'How do operators log in to Zorblax?', cache: false, rerank: false, stream } });
  const expected = maskSensitive(LEAKY_ANSWER);

  it('the expected answer masks every secret (the masker itself knows them all)', () => {
    for (const v of Object.values(SECRETS)) expect(expected).not.toContain(v);
    expect(expected).toContain('password: [SECRET]');
    expect(expected).toContain('Authorization: Bearer [SECRET]');
    expect(expected).toContain('"db_password": "[SECRET]"');
    expect(expected).toContain('or [EMAIL], or call [PHONE] after');
  });

  for (const [name, pieces] of [
    ['one character at a time', (a: string) => [...a]],
    ['sub-word pieces of 1–3 characters', (a: string) => subWordPieces(a, 3, 7)],
    ['sub-word pieces of 1–6 characters', (a: string) => subWordPieces(a, 6, 11)],
  ] as const) {
    it(`streamed in ${name}: the deltas add up to the whole answer masked, and no delta carries a secret`, async () => {
      await start();
      llm.pieces = pieces;
      const res = await ask(true);
      expect(res.statusCode).toBe(200);
      const { deltas, done } = sseDeltas(res.body);
      expect(deltas.join('')).toBe(expected);
      expect(done.answer).toBe(expected);
      expect(done.steps.guardrails.answer.masked).toBeGreaterThanOrEqual(7);
      for (const v of Object.values(SECRETS)) expect(res.body).not.toContain(v);
      expect(deltas.length).toBeGreaterThan(20); // still streamed, not held to the end
    });
  }

  it('unstreamed: the same masked answer', async () => {
    await start();
    const res = await ask(false);
    expect(res.statusCode).toBe(200);
    const r = res.json() as { answer: string; traceId: string };
    expect(r.answer).toBe(expected);
    for (const v of Object.values(SECRETS)) expect(res.body).not.toContain(v);
    // nor does its trace (the answer and every step the LLM wrote)
    const trace = await h!.app.inject({ method: 'GET', url: `/v1/traces/${r.traceId}` });
    expect(trace.statusCode).toBe(200);
    for (const v of Object.values(SECRETS)) expect(trace.body).not.toContain(v);
  });

  it('with TRIBUTARY_GUARD_PII=off the answer is passed through as the LLM wrote it', async () => {
    await start('off');
    llm.pieces = (a) => subWordPieces(a, 3, 5);
    const { deltas } = sseDeltas((await ask(true)).body);
    expect(deltas.join('')).toBe(LEAKY_ANSWER);
  });
});
