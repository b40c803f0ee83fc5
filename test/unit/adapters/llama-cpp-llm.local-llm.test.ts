import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaCppLlm } from '../../../adapters/llm/llama-cpp/llama-cpp-llm.ts';
import { findTributaryError } from '../../../ports/errors.ts';
import type { ChatMessage } from '../../../ports/llm.ts';
import { describeWith } from '../../helpers/ci.ts';
import { LOCAL_LLM_GGUF, LOCAL_LLM_NEED } from '../../helpers/local-llm.ts';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return findTributaryError(e)?.code ?? `untyped: ${(e as Error).message}`;
  }
  return undefined;
}

const STORY: ChatMessage[] = [{ role: 'user', content: 'Write a long story about a lighthouse keeper and the sea, in many paragraphs.' }];

describe('LlamaCppLlm: what it refuses before any model is loaded', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'tributary-llama-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a missing file is MODEL_LOAD_FAILED naming the setting and the pull command', async () => {
    const llm = new LlamaCppLlm({ modelPath: join(dir, 'nope.gguf'), contextTokens: 2048 });
    await expect(llm.load()).rejects.toMatchObject({ code: 'MODEL_LOAD_FAILED', message: expect.stringMatching(/TRIBUTARY_LLM_GGUF.*models pull smollm2/) });
  });

  it('a file that is not a GGUF model is MODEL_LOAD_FAILED, not a crash', async () => {
    const file = join(dir, 'bad.gguf');
    writeFileSync(file, 'not a model');
    const llm = new LlamaCppLlm({ modelPath: file, contextTokens: 2048, gpu: 'cpu' });
    await expect(llm.load()).rejects.toMatchObject({ code: 'MODEL_LOAD_FAILED', message: expect.stringContaining(file) });
  });

  it('bad numbers are INVALID_CONFIG', () => {
    expect(() => new LlamaCppLlm({ modelPath: 'x.gguf', contextTokens: 10 })).toThrow(/contextTokens/);
    expect(() => new LlamaCppLlm({ modelPath: 'x.gguf', contextTokens: 2048, threads: 0 })).toThrow(/threads/);
    expect(() => new LlamaCppLlm({ modelPath: 'x.gguf', contextTokens: 2048, concurrency: 1.5 })).toThrow(/concurrency/);
  });
});

describeWith(LOCAL_LLM_NEED, 'LlamaCppLlm on the real model (SmolLM2-135M-Instruct)', () => {
  let llm: LlamaCppLlm;
  beforeAll(async () => {
    // one thread: a spinning second thread would fight the other test processes for the cores
    llm = new LlamaCppLlm({ modelPath: LOCAL_LLM_GGUF, contextTokens: 2048, gpu: 'cpu', threads: 1 });
    await llm.load();
  }, 60_000);
  afterAll(async () => { await llm?.close(); });

  it('loads on the threads asked for, its context capped at what the model was trained on', () => {
    const info = llm.info!;
    expect(info.gpu).toBe('cpu');
    expect(info.threads).toBe(1);
    expect(info.contextTokens).toBeGreaterThanOrEqual(2048);
    expect(info.contextTokens).toBeLessThanOrEqual(info.trainContextTokens);
    expect(llm.id).toBe('local:SmolLM2-135M-Instruct.Q4_1');
  });

  it('a JSON-schema-constrained extraction names the author and category in the question', async () => {
    const schema = {
      type: 'object',
      properties: { author: { type: ['string', 'null'], maxLength: 100 }, category: { enum: ['article', 'post', 'repository', null] } },
      required: ['author', 'category'],
    };
    const res = await llm.chat([
      { role: 'system', content: 'Extract search filters from the question as JSON.' },
      { role: 'user', content: 'posts by Maya Okafor about rebalancing' },
    ], { temperature: 0, maxTokens: 80, responseSchema: { name: 'filters', schema } });
    expect(JSON.parse(res.text)).toEqual({ author: 'Maya Okafor', category: 'post' });
    expect(res.finishReason).toBe('stop');
    expect(res.usage!.promptTokens).toBeGreaterThan(10);
  }, 30_000);

  it('an enum schema is obeyed even where the model would say something else', async () => {
    const res = await llm.chat([{ role: 'user', content: 'Rank passages [1] to [3]. Passage 9 is best.' }], {
      temperature: 0, maxTokens: 40, responseSchema: { name: 'r', schema: { type: 'object', properties: { ranking: { type: 'array', items: { enum: [1, 2, 3] }, maxItems: 3 } }, required: ['ranking'] } },
    });
    const parsed = JSON.parse(res.text) as { ranking: number[] };
    expect(parsed.ranking.every((n) => [1, 2, 3].includes(n))).toBe(true);
  }, 30_000);

  it('streams the same text that chat() returns (greedy decoding), then reports usage and why it stopped', async () => {
    const messages: ChatMessage[] = [{ role: 'user', content: 'Name three colours.' }];
    const whole = await llm.chat(messages, { temperature: 0, maxTokens: 24 });
    const pieces: string[] = [];
    let finish: unknown = null;
    for await (const p of llm.stream(messages, { temperature: 0, maxTokens: 24, onFinish: (f) => { finish = f; } })) pieces.push(p);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe(whole.text);
    expect(finish).toMatchObject({ usage: { completionTokens: whole.usage!.completionTokens }, finishReason: whole.finishReason });
    expect(whole.usage!.completionTokens).toBeLessThanOrEqual(24);
  }, 30_000);

  it('maxTokens cuts the answer and says so (finishReason "length")', async () => {
    const res = await llm.chat(STORY, { temperature: 0, maxTokens: 8 });
    expect(res.usage!.completionTokens).toBe(8);
    expect(res.finishReason).toBe('length');
  }, 30_000);

  it('an abort stops generation at once (no more pieces), frees the sequence, and is SHUTTING_DOWN', async () => {
    const ac = new AbortController();
    let after = 0;
    let n = 0;
    const before = llm.stats.tokensGenerated;
    const code = await codeOf((async () => {
      for await (const _ of llm.stream(STORY, { maxTokens: 1000, signal: ac.signal })) {
        if (ac.signal.aborted) after++;
        if (++n === 5) ac.abort(new Error('client left'));
      }
    })());
    expect(code).toBe('SHUTTING_DOWN');
    expect(after).toBe(0);
    // the generation ended at the abort: a few tokens, not the 1000 it was allowed
    expect(llm.stats).toMatchObject({ running: 0, waiting: 0 });
    expect(llm.stats.tokensGenerated - before).toBeLessThan(20);
    const next = await llm.chat([{ role: 'user', content: 'Say hi.' }], { maxTokens: 4 });
    expect(next.usage!.completionTokens).toBeGreaterThan(0);
  }, 30_000);

  it('leaving a stream early (break) stops the generation too', async () => {
    let n = 0;
    const before = llm.stats.tokensGenerated;
    for await (const _ of llm.stream(STORY, { maxTokens: 1000 })) if (++n === 3) break;
    // the loop's exit waited for the generation to stop: nothing runs, a few tokens were made
    expect(llm.stats).toMatchObject({ running: 0, waiting: 0 });
    expect(llm.stats.tokensGenerated - before).toBeLessThan(20);
  }, 30_000);

  it('one generation at a time: a second caller waits its turn; one that aborts while waiting leaves the queue', async () => {
    const first = llm.chat(STORY, { maxTokens: 32, temperature: 0 });
    const ac = new AbortController();
    const waiting = llm.chat([{ role: 'user', content: 'hi' }], { maxTokens: 4, signal: ac.signal });
    const third = llm.chat([{ role: 'user', content: 'Say hello.' }], { maxTokens: 4 });
    ac.abort();
    expect(await codeOf(waiting)).toBe('SHUTTING_DOWN');
    const [a, c] = await Promise.all([first, third]);
    expect(a.usage!.completionTokens).toBe(32);
    expect(c.usage!.completionTokens).toBeGreaterThan(0);
  }, 60_000);

  it('background work (the judge) waits behind every interactive caller: a RAG answer never queues behind it', async () => {
    const done: string[] = [];
    const track = (name: string, p: Promise<unknown>) => p.then(() => { done.push(name); });
    const running = track('running', llm.chat(STORY, { maxTokens: 24, temperature: 0 }));
    const background = track('background', llm.chat([{ role: 'user', content: 'Say hello.' }], { maxTokens: 4, priority: 'background' }));
    const interactive = track('interactive', llm.chat([{ role: 'user', content: 'Say hi.' }], { maxTokens: 4 }));
    await Promise.all([running, background, interactive]);
    expect(done).toEqual(['running', 'interactive', 'background']);
  }, 60_000);

  it('an interactive caller preempts a running background generation, which gets a retryable LLM_UNAVAILABLE', async () => {
    const before = llm.stats.tokensGenerated;
    const background = llm.chat(STORY, { maxTokens: 400, temperature: 0, priority: 'background' });
    const settled = background.then(() => null, (e: unknown) => e);
    // it is generating
    for (let i = 0; i < 200 && llm.stats.tokensGenerated - before < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(llm.stats.running).toBe(1);
    const started = performance.now();
    const answer = await llm.chat([{ role: 'user', content: 'Say hi.' }], { maxTokens: 4 });
    expect(answer.usage!.completionTokens).toBeGreaterThan(0);
    expect(await settled).toMatchObject({ code: 'LLM_UNAVAILABLE', retryable: true });
    // the answer did not wait for the 400-token story
    expect(performance.now() - started).toBeLessThan(5000);
    expect(llm.stats).toMatchObject({ running: 0, waiting: 0 });
  }, 60_000);

  it('a prompt longer than the context is LLM_REJECTED, naming the sizes — never a silently cut prompt', async () => {
    const long = 'lighthouse keeper '.repeat(3000);
    await expect(llm.chat([{ role: 'user', content: long }], { maxTokens: 8 })).rejects.toMatchObject({ code: 'LLM_REJECTED', retryable: false, message: expect.stringMatching(/prompt is about \d+ tokens.*holds \d+/) });
  });
});
