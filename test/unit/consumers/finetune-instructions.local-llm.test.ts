import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LlamaCppLlm } from '../../../adapters/llm/llama-cpp/llama-cpp-llm.ts';
import { FilesystemDatasetRegistry } from '../../../adapters/dataset-registry/filesystem/filesystem-dataset-registry.ts';
import { SqliteFinetuneState } from '../../../adapters/finetune-state/sqlite/sqlite-finetune-state.ts';
import { openDatabase } from '../../../adapters/sqlite/open-database.ts';
import { JsonValueCodec } from '../../../adapters/value-codec/json/json-codec.ts';
import type { ChatMessage, ChatOptions, Llm } from '../../../ports/llm.ts';
import { finetuneDatasetSchema } from '../../../schemas/finetune.ts';
import { Topics } from '../../../schemas/topics.ts';
import { FinetuneTrigger } from '../../../consumers/finetune-trigger/finetune-trigger.ts';
import { templateInstruction, passagesOf } from '../../../streams/finetune/samples.ts';
import { Metrics } from '../../../observability/metrics.ts';
import { describeWith } from '../../helpers/ci.ts';
import { LOCAL_LLM_GGUF, LOCAL_LLM_NEED } from '../../helpers/local-llm.ts';

/**
 * Instruction samples written by the real local model (`instructions: "llm"`): each passage gets an
 * instruction the model wrote (schema-constrained), the answer stays the author's passage, and the
 * instructions are cached, so the version pinned again has the same bytes without asking the model.
 */

const DOCS = [
  { docId: 'd1', version: 1, category: 'article', author: 'Ada', title: 'Why partitions keep order', url: null, contentHash: 'a'.repeat(64),
    text: 'Kafka keeps records in order within a partition. A producer sends records with the same key to the same partition, so events about one entity are read in the order they were written.' },
  { docId: 'd2', version: 1, category: 'article', author: 'Ada', title: 'Consumer groups', url: null, contentHash: 'b'.repeat(64),
    text: 'A consumer group shares the partitions of a topic among its members. When a member leaves, its partitions move to the others after the session times out.' },
];

describeWith(LOCAL_LLM_NEED, 'finetune instructions written by the local model', () => {
  let dir: string;
  let llm: LlamaCppLlm;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-ft-llm-'));
    llm = new LlamaCppLlm({ modelPath: LOCAL_LLM_GGUF, contextTokens: 2048, gpu: 'cpu', threads: 1 });
    await llm.load();
  });
  afterAll(async () => {
    await llm?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes one instruction per passage, keeps the passage as the answer, and pins the same bytes again from its cache', async () => {
    let calls = 0;
    const counting: Llm = {
      id: llm.id, contextTokens: llm.contextTokens, structuredOutput: llm.structuredOutput,
      chat: (m: ChatMessage[], o?: ChatOptions) => { calls++; return llm.chat(m, o); },
      stream: (m: ChatMessage[], o?: ChatOptions) => llm.stream(m, o),
    };
    const dataset = finetuneDatasetSchema.parse({ name: 'ada', source: 'content', threshold: 1, settleMs: 0, instructions: 'llm', launcher: { type: 'webhook', url: 'http://127.0.0.1:9/none' } });
    const state = new SqliteFinetuneState({ db: openDatabase({ path: join(dir, 'state.db'), synchronous: 'normal' }), datasets: [dataset] });
    state.register();
    state.markBackfilled('ada');
    state.apply(Topics.cleaned, 0, DOCS.map((doc, i) => ({ kind: 'document' as const, offset: i, doc: { ...doc, sourceTsMs: 1, cleanedAtMs: 1 } })));
    const trigger = new FinetuneTrigger({
      log: null as never, codec: new JsonValueCodec(), logger: pino({ level: 'silent' }), metrics: new Metrics(), state,
      registry: new FilesystemDatasetRegistry({ root: join(dir, 'datasets') }), datasets: [dataset], launchers: new Map(), llm: counting,
      jobsDir: join(dir, 'jobs'), batch: { maxRecords: 10, maxBytes: 1 << 20, maxWaitMs: 5 }, retry: { baseMs: 5, maxMs: 50, maxAttempts: 2 },
    });
    const window = { cutSeq: 1_000, offsets: {} };
    const first = await trigger.buildVersion(dataset, window);
    expect(calls).toBe(2);
    expect(first.samples).toBe(2);
    const samples = Buffer.from(first.content).toString().trim().split('\n').map((l) => JSON.parse(l) as { messages: Array<{ role: string; content: string }> });
    for (const [i, s] of samples.entries()) {
      const [, user, assistant] = s.messages;
      expect(assistant!.content).toBe(DOCS[i]!.text);
      expect(user!.content.length).toBeGreaterThanOrEqual(8);
      // the model's words, not the template's
      expect(user!.content).not.toBe(templateInstruction(passagesOf({ ...DOCS[i]! })[0]!));
    }
    const again = await trigger.buildVersion(dataset, window);
    expect(calls).toBe(2);
    expect(Buffer.from(again.content).equals(Buffer.from(first.content))).toBe(true);
    expect(first.sources).toMatchObject({ instructions: `llm:${llm.id}` });
  });
});
