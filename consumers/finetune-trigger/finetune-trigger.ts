import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DatasetManifest, DatasetRegistry } from '../../ports/dataset-registry.ts';
import { failureScope, findTributaryError, toTributaryError, TributaryError } from '../../ports/errors.ts';
import type { EventLog, LogRecord } from '../../ports/event-log.ts';
import type { FinetuneLauncher, LaunchRequest, LaunchStatus } from '../../ports/finetune-launcher.ts';
import type { Llm } from '../../ports/llm.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import type { FinetuneDataset } from '../../schemas/finetune.ts';
import { DOC_VERSION_HEADER, Groups, PipelineConsumers, Topics } from '../../schemas/topics.ts';
import type { SchemaTopic } from '../../schemas/registry.ts';
import { backoffDelay, type BackoffPolicy } from '../../common/backoff.ts';
import { sleep } from '../../common/sleep.ts';
import { logPages } from '../../common/log-pages.ts';
import type { Metrics } from '../../observability/metrics.ts';
import {
  chatSftFromDocuments, chatSftFromFeedback, dpoFromFeedback, INSTRUCTION_SCHEMA, instructionPrompt, parseInstruction, passagesOf,
  templateInstruction, TEMPLATE_VERSION, type Passage,
} from '../../streams/finetune/samples.ts';
import { recordFailure, StageConsumer, type RecordFailure, type Stage } from '../runtime/stage-consumer.ts';
import type { FinetuneState, InputRecord, JobRow, WindowRow } from '../../ports/finetune-state.ts';

/**
 * finetune-trigger: counts net-new items per configured dataset (cleaned documents by content hash,
 * feedback events), and when a dataset is due (streams/threshold) opens a window, pins the dataset
 * as it was at that moment in the dataset registry, records the job under that version (the
 * idempotency key) and only then launches it. Its state is its own SQLite database (ports/finetune-state.ts).
 *
 * Three loops besides the consumer: the evaluator (is a dataset due?), the runner (pin windows,
 * launch and poll jobs — outside the batch handler, so a slow launcher never stalls consumption) and
 * the publisher (job states to tributary.finetune.jobs and dataset status to
 * tributary.finetune.datasets, from an outbox in the state database, so a state change is published
 * even when the process dies right after it). On start it first catches up on anything the group
 * committed past its own positions, gathers newly configured datasets from the start of their
 * topics, and resumes every window and job it had not finished: a job whose launch may have happened
 * is asked for again by its key, never started a second time.
 */

export const NAME = 'finetune-trigger';

export interface FinetuneTriggerOptions {
  log: EventLog;
  codec: ValueCodec;
  logger: Logger;
  metrics: Metrics;
  state: FinetuneState;
  registry: DatasetRegistry;
  datasets: readonly FinetuneDataset[];
  /** One launcher per dataset, by dataset name. */
  launchers: ReadonlyMap<string, FinetuneLauncher>;
  /** Writes instructions for datasets with `instructions: "llm"`. */
  llm: Llm | null;
  /** Where each job gets a work directory (`<jobsDir>/<job id>`). */
  jobsDir: string;
  batch: { maxRecords: number; maxBytes: number; maxWaitMs: number };
  retry: BackoffPolicy & { maxAttempts: number };
  /** How often the evaluator looks (default 100 ms). */
  tickMs?: number;
  now?: () => number;
}

const READ_CHUNK = 500;
const STATUS_EVERY_MS = 1000;

export class FinetuneTrigger {
  readonly name = NAME;
  private readonly o: FinetuneTriggerOptions;
  private readonly consumer: StageConsumer;
  private readonly datasets: ReadonlyMap<string, FinetuneDataset>;
  private readonly now: () => number;
  private readonly abort = new AbortController();
  private started = false;
  private stopped = false;
  private loops: Promise<void>[] = [];
  private readonly waiters = new Set<() => void>();
  /** Counts kicks, so a loop kicked while it was running runs again at once instead of sleeping. */
  private kicks = 0;
  /** When dataset status was last put in the outbox. */
  private statusAt = 0;
  /** Why each loop, and each job that is being retried, last failed (for the consumer's status). */
  private readonly loopErrors = new Map<string, string>();
  private readonly jobErrors = new Map<string, string>();
  /** When the window of a job pinned in this process opened (for the window-to-launch histogram). */
  private readonly openedAt = new Map<string, number>();

  constructor(options: FinetuneTriggerOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
    this.datasets = new Map(options.datasets.map((d) => [d.name, d]));
    const stage: Stage = { name: NAME, process: (records) => this.process(records) };
    this.consumer = new StageConsumer({
      log: options.log, stage, group: Groups.finetuneTrigger, topics: [...PipelineConsumers['finetune-trigger'].topics],
      batch: options.batch, retry: options.retry, logger: options.logger, metrics: options.metrics,
    });
  }

  get running(): boolean { return this.consumer.running; }
  get status(): { name: string; group: string; running: boolean; degraded: boolean; lastError: string | null } {
    const s = this.consumer.status;
    const own = [...this.loopErrors.values(), ...this.jobErrors.values()][0] ?? null;
    return { ...s, degraded: s.degraded || own !== null, lastError: s.lastError ?? own };
  }

  /** Catches up, gathers new datasets, then consumes; the evaluator, runner and publisher start with it. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const boot = (async () => {
      await this.retrying('catch up', () => this.catchUp());
      if (this.stopped) return;
      this.consumer.start();
      this.loops.push(this.loop('evaluate', this.o.tickMs ?? 100, () => this.evaluate()));
      this.loops.push(this.loop('run', 1000, () => this.runOnce()));
      this.loops.push(this.loop('publish', 250, () => this.publish()));
      this.kick();
    })();
    this.loops.push(boot);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    this.kick();
    await this.consumer.stop();
    await Promise.allSettled(this.loops);
    await this.publish().catch(() => undefined);
  }

  /** Wakes the loops now (after a batch, a window, a job change). */
  kick(): void {
    this.kicks++;
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  private async loop(name: string, everyMs: number, body: () => Promise<unknown>): Promise<void> {
    while (!this.stopped) {
      const seen = this.kicks;
      try {
        await body();
        this.loopErrors.delete(name);
      } catch (e) {
        if (this.stopped) return;
        const te = toTributaryError(e);
        this.loopErrors.set(name, `${te.code}: ${te.message}`);
        this.o.logger.warn({ event: 'finetune.loop_error', loop: name, code: te.code, err: te.message });
      }
      if (this.kicks !== seen) continue;
      await new Promise<void>((resolve) => {
        const done = () => { clearTimeout(t); this.waiters.delete(done); resolve(); };
        const t = setTimeout(done, everyMs);
        this.waiters.add(done);
      });
    }
  }

  private async retrying(what: string, fn: () => Promise<void>): Promise<void> {
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await fn();
        this.loopErrors.delete(what);
        return;
      } catch (e) {
        const te = toTributaryError(e);
        this.loopErrors.set(what, `${te.code}: ${te.message}`);
        const delay = backoffDelay(attempt, this.o.retry, te.retryAfterMs);
        this.o.logger.warn({ event: 'finetune.start_retry', step: what, code: te.code, err: te.message, delayMs: Math.round(delay) });
        await sleep(delay, this.abort.signal);
      }
    }
  }

  // ---------------------------------------------------------------- consuming

  private async process(records: LogRecord[]): Promise<RecordFailure[]> {
    if (records.length === 0) return [];
    const { topic, partition } = records[0]!;
    const from = this.o.state.position(topic, partition);
    const failures: RecordFailure[] = [];
    const inputs: InputRecord[] = [];
    for (const rec of records) {
      if (rec.offset < from) {
        // applied before (the process died before the group committed); report a dead-lettered one again
        if (this.o.state.wasFailed(topic, partition, rec.offset)) failures.push({ record: rec, error: new TributaryError('SCHEMA_VIOLATION', 'record failed before (redelivered)') });
        continue;
      }
      try {
        inputs.push(await this.decode(rec));
      } catch (e) {
        // rethrown when it concerns the batch (the registry is unreachable): the whole batch waits
        failures.push(recordFailure(rec, e));
        inputs.push({ kind: 'failed', offset: rec.offset });
      }
    }
    const { changed } = this.o.state.apply(topic, partition, inputs);
    if (changed) this.kick();
    return failures;
  }

  private async decode(rec: LogRecord): Promise<InputRecord> {
    const offset = rec.offset;
    if (rec.topic === Topics.cleaned) {
      if (!rec.key) throw new TributaryError('MALFORMED_EVENT', 'cleaned record has no key (document id)');
      if (rec.value === null) {
        const vh = rec.headers[DOC_VERSION_HEADER];
        return { kind: 'deletion', offset, docId: rec.key, version: vh !== undefined && /^\d+$/.test(vh) ? Number(vh) : null };
      }
      const doc = await this.o.codec.decode(Topics.cleaned, rec.value);
      if (doc.docId !== rec.key) throw new TributaryError('SCHEMA_VIOLATION', `cleaned record key ${rec.key} does not match docId ${doc.docId}`);
      return { kind: 'document', offset, doc };
    }
    if (rec.value === null) throw new TributaryError('MALFORMED_EVENT', `a tombstone on ${rec.topic} means nothing to the finetune trigger`);
    if (rec.topic === Topics.feedback) return { kind: 'feedback', offset, event: await this.o.codec.decode(Topics.feedback, rec.value) };
    if (rec.topic === Topics.finetuneCommands) {
      const c = await this.o.codec.decode(Topics.finetuneCommands, rec.value);
      if (c.kind === 'trigger') return { kind: 'trigger', offset, requestId: c.id, dataset: c.dataset, atMs: c.requestedAtMs };
      return {
        kind: 'job-status', offset, requestId: c.id, jobId: c.jobId, state: c.state,
        ...(c.model !== undefined ? { model: c.model } : {}), ...(c.error !== undefined ? { error: c.error } : {}), ...(c.externalId !== undefined ? { externalId: c.externalId } : {}),
      };
    }
    throw new TributaryError('UNSUPPORTED_OPERATION', `the finetune trigger does not read ${rec.topic}`);
  }

  /**
   * Before consuming: (1) records the group committed past this state's positions (the state was
   * lost or restored from a backup) are read directly and applied; (2) a dataset this state has not
   * gathered yet reads its source topic from the start up to the shared positions.
   */
  private async catchUp(): Promise<void> {
    const { log, state } = this.o;
    const fresh = state.register();
    const topics = PipelineConsumers['finetune-trigger'].topics;
    const committed = await log.groupOffsets(Groups.finetuneTrigger);
    for (const topic of topics) {
      for (const p of await log.offsets(topic)) {
        const group = committed.find((g) => g.topic === topic && g.partition === p.partition)?.committed ?? 0;
        const mine = state.position(topic, p.partition);
        if (group > mine) await this.readRange(topic, p.partition, Math.max(mine, p.start), group, (inputs) => { state.apply(topic, p.partition, inputs); });
      }
    }
    for (const name of fresh) {
      const d = this.datasets.get(name)!;
      const topic = d.source === 'content' ? Topics.cleaned : Topics.feedback;
      for (const p of await log.offsets(topic)) {
        const upTo = state.position(topic, p.partition);
        if (upTo > p.start) await this.readRange(topic, p.partition, p.start, upTo, (inputs) => state.applyBackfill(name, topic, p.partition, inputs));
      }
      state.markBackfilled(name);
      this.o.logger.info({ event: 'finetune.dataset_gathered', dataset: name, total: state.status(name)?.total ?? 0 });
    }
  }

  private async readRange(topic: string, partition: number, from: number, to: number, apply: (inputs: InputRecord[]) => void): Promise<void> {
    for await (const recs of logPages(this.o.log, topic, partition, from, to, READ_CHUNK)) {
      const inputs: InputRecord[] = [];
      for (const r of recs) {
        try { inputs.push(await this.decode(r)); } catch (e) {
          if (failureScope(e) === 'batch') throw e;
          inputs.push({ kind: 'failed', offset: r.offset });
        }
      }
      apply(inputs);
    }
  }

  // ---------------------------------------------------------------- the trigger

  private async evaluate(): Promise<void> {
    let opened = false;
    for (const { dataset, pending, decision } of this.o.state.decisions()) {
      this.o.metrics.finetunePending.set({ dataset: dataset.name }, pending);
      if (!decision.fire) continue;
      const w = this.o.state.fireIfDue(dataset.name);
      if (w) {
        opened = true;
        this.o.logger.info({ event: 'finetune.window_opened', dataset: dataset.name, window: w.id, reason: decision.reason });
      }
    }
    if (opened) this.kick();
  }

  /** One pass of the runner: pin open windows, then launch or poll jobs that are due. */
  async runOnce(): Promise<void> {
    const now = this.now();
    // windows of one dataset are pinned in the order they opened: a later one waits for an earlier one's retry
    const held = new Set<string>();
    for (const w of this.o.state.pendingWindows()) {
      if (this.stopped) return;
      if (held.has(w.dataset)) continue;
      if (w.nextAttemptAtMs > now) { held.add(w.dataset); continue; }
      await this.pinWindow(w);
      if (this.o.state.window(w.id)?.outcome === 'pending') held.add(w.dataset);
    }
    for (const j of this.o.state.activeJobs()) {
      if (this.stopped) return;
      if (j.nextAttemptAtMs <= this.now()) await this.advanceJob(j);
    }
  }


  private async pinWindow(w: WindowRow): Promise<void> {
    const { state, registry } = this.o;
    const d = this.datasets.get(w.dataset);
    if (!d) { state.windowFailed(w.id, `dataset ${w.dataset} is no longer configured`); return; }
    try {
      const built = await this.buildVersion(d, w);
      if (built.samples === 0) {
        state.windowEmpty(w.id, built.emptyReason);
        this.o.metrics.finetuneWindows.inc({ dataset: d.name, trigger: w.trigger, outcome: 'empty' });
        this.o.logger.warn({ event: 'finetune.window_empty', dataset: d.name, window: w.id, reason: built.emptyReason });
        this.kick();
        return;
      }
      const { manifest, created } = await registry.pin({
        dataset: d.name, format: d.format, files: [{ name: 'train.jsonl', content: built.content }],
        counts: built.counts, sources: built.sources, createdAtMs: w.openedAtMs,
      });
      const job = state.windowPinned(w.id, { version: manifest.version, items: built.samples, launcher: d.launcher.type });
      this.o.metrics.finetuneWindows.inc({ dataset: d.name, trigger: w.trigger, outcome: 'job' });
      this.openedAt.set(job.id, w.openedAtMs);
      this.o.logger.info({ event: 'finetune.version_pinned', dataset: d.name, version: manifest.version, created, samples: built.samples, job: job.id, jobState: job.state });
      state.prune(d.name);
      this.loopErrors.delete(`window ${w.id}`);
      this.kick();
    } catch (e) {
      if (this.stopped) return;
      const te = findTributaryError(e) ?? toTributaryError(e);
      if (!te.retryable) {
        state.windowFailed(w.id, `${te.code}: ${te.message}`);
        this.o.metrics.finetuneWindows.inc({ dataset: d.name, trigger: w.trigger, outcome: 'failed' });
        this.o.logger.error({ event: 'finetune.window_failed', dataset: d.name, window: w.id, code: te.code, err: te.message });
        return;
      }
      this.loopErrors.set(`window ${w.id}`, `${te.code}: ${te.message}`);
      const delay = backoffDelay(w.attempts + 1, this.o.retry, te.retryAfterMs);
      state.windowRetry(w.id, `${te.code}: ${te.message}`, this.now() + delay);
      this.o.logger.warn({ event: 'finetune.pin_retry', dataset: d.name, window: w.id, code: te.code, err: te.message, delayMs: Math.round(delay) });
    }
  }

  /** The version's bytes: the dataset at the window's cut, in its format. */
  async buildVersion(d: FinetuneDataset, w: Pick<WindowRow, 'cutSeq' | 'offsets'>): Promise<{ content: Uint8Array; samples: number; counts: Record<string, number>; sources: Record<string, unknown>; emptyReason: string }> {
    const { state } = this.o;
    if (d.source === 'content') {
      const snap = state.snapshot(d.name, w.cutSeq);
      const docs = state.documentsAt(d.name, w.cutSeq);
      const instructions = d.instructions === 'llm' ? await this.llmInstructions(docs.flatMap(passagesOf)) : null;
      const built = chatSftFromDocuments(docs, (p) => instructions?.get(passageKey(p)) ?? templateInstruction(p));
      return {
        content: Buffer.from(built.jsonl), samples: built.samples,
        counts: { documents: docs.length, samples: built.samples },
        sources: { offsets: w.offsets, documents: snap.versions.map((v) => ({ docId: v.key, version: v.version })), instructions: d.instructions === 'llm' ? `llm:${this.o.llm?.id ?? 'none'}` : `template:v${TEMPLATE_VERSION}` },
        emptyReason: `no samples: the dataset holds ${docs.length} document(s) with text`,
      };
    }
    const snap = state.snapshot(d.name, w.cutSeq);
    const items = state.feedbackAt(d.name, w.cutSeq);
    const built = d.format === 'dpo' ? dpoFromFeedback(items) : chatSftFromFeedback(items);
    return {
      content: Buffer.from(built.jsonl), samples: built.samples,
      counts: { feedback: items.length, samples: built.samples },
      sources: { offsets: w.offsets, feedback: snap.versions.map((v) => v.key) },
      emptyReason: d.format === 'dpo'
        ? `no preference pairs in ${items.length} feedback event(s): a pair needs a correction with the query and answer, or an answer rated up and one rated down for the same query`
        : `no samples in ${items.length} feedback event(s): a sample needs the query and a correction or an answer rated up`,
    };
  }

  /**
   * Instructions the LLM writes for passages, cached by passage: a version pinned again after a
   * crash has the same bytes. An unusable reply falls back to the template (and that is cached too);
   * an LLM that cannot be reached fails the pin, which is retried.
   */
  private async llmInstructions(passages: Passage[]): Promise<Map<string, string>> {
    const llm = this.o.llm;
    if (!llm) throw new TributaryError('INVALID_CONFIG', 'a dataset has instructions "llm" but no LLM is configured (TRIBUTARY_LLM_GGUF, LLM_BASE_URL or TRIBUTARY_LLM_UPSTREAM)');
    const out = new Map<string, string>();
    for (const p of passages) {
      const key = passageKey(p);
      const cacheKey = createHash('sha256').update(`${llm.id}\0${key}`).digest('hex');
      let instruction = this.o.state.instruction(cacheKey);
      if (instruction === null) {
        const prompt = instructionPrompt(p);
        let reply: string | null = null;
        try {
          reply = (await llm.chat([{ role: 'system', content: prompt.system }, { role: 'user', content: prompt.user }], {
            maxTokens: 160, temperature: 0, priority: 'background', signal: this.abort.signal,
            ...(llm.structuredOutput ? { responseSchema: { name: 'instruction', schema: INSTRUCTION_SCHEMA } } : {}),
          })).text;
        } catch (e) {
          // unreachable: the pin is retried; refused (this passage, for good): the template stands in
          if (findTributaryError(e)?.retryable !== false) throw e;
          this.o.logger.warn({ event: 'finetune.instruction_refused', doc: p.doc.docId, passage: p.index, err: (e as Error).message });
        }
        instruction = (reply === null ? null : parseInstruction(reply)) ?? templateInstruction(p);
        this.o.state.saveInstruction(cacheKey, instruction);
      }
      out.set(key, instruction);
    }
    return out;
  }

  private async advanceJob(j: JobRow): Promise<void> {
    const { state } = this.o;
    const d = this.datasets.get(j.dataset);
    const launcher = this.o.launchers.get(j.dataset);
    if (!d || !launcher) {
      state.updateJob(j.id, { state: 'failed', error: `dataset ${j.dataset} is no longer configured; the job was not ${j.state === 'running' ? 'followed' : 'launched'} further` }, { ifRev: j.rev });
      return;
    }
    if (launcher.type !== j.launcher) {
      state.updateJob(j.id, { state: 'failed', error: `the dataset's launcher changed from ${j.launcher} to ${launcher.type}; not launched again, so the version is never trained twice` }, { ifRev: j.rev });
      return;
    }
    const interval = 'pollMs' in d.launcher ? d.launcher.pollMs : 30_000;
    const polling = j.state === 'running';
    // every write below is conditional on the revision this pass read: a report (POST …/status) that
    // arrived meanwhile wins, and the next pass starts from it
    let rev = j.rev;
    try {
      let status: LaunchStatus;
      if (polling) {
        status = await launcher.poll(await this.launchRequest(j, false), { state: 'running', externalId: j.externalId, model: j.model, error: j.error }, this.abort.signal);
      } else {
        const req = await this.launchRequest(j, true);
        const launching = state.updateJob(j.id, { state: 'launching', attempt: true }, { ifRev: rev });
        if (!launching) return;
        rev = launching.rev;
        const started = performance.now();
        status = await launcher.launch(req, this.abort.signal);
        this.o.metrics.finetuneLaunchSeconds.observe({ launcher: launcher.type }, (performance.now() - started) / 1000);
        const opened = this.openedAt.get(j.id);
        if (opened !== undefined) {
          this.openedAt.delete(j.id);
          this.o.metrics.finetuneWindowToLaunchSeconds.observe({ dataset: j.dataset }, Math.max(0, this.now() - opened) / 1000);
        }
        this.o.logger.info({ event: 'finetune.launched', dataset: j.dataset, job: j.id, version: j.datasetVersion, key: j.idempotencyKey, launcher: launcher.type, state: status.state, externalId: status.externalId, ms: Math.round(performance.now() - started) });
      }
      const updated = state.updateJob(j.id, {
        state: status.state, externalId: status.externalId ?? j.externalId, model: status.model ?? j.model,
        error: status.error ?? (status.state === 'failed' ? j.error : null), nextAttemptAtMs: this.now() + interval,
        ...(polling ? {} : { launched: true }),
      }, { ifRev: rev });
      if (updated && status.state !== j.state) this.o.metrics.finetuneJobStates.inc({ dataset: j.dataset, state: status.state });
      this.jobErrors.delete(j.id);
    } catch (e) {
      if (this.stopped) return;
      const te = findTributaryError(e) ?? toTributaryError(e);
      this.jobErrors.set(j.id, `job ${j.id}: ${te.code}: ${te.message}`);
      // a refused launch fails the job; a failed poll of a running job is tried again (the job may still finish remotely)
      if (!te.retryable && !polling) {
        if (state.updateJob(j.id, { state: 'failed', error: `${te.code}: ${te.message}` }, { ifRev: rev })) this.o.metrics.finetuneJobStates.inc({ dataset: j.dataset, state: 'failed' });
        this.jobErrors.delete(j.id);
        this.o.logger.error({ event: 'finetune.launch_failed', dataset: j.dataset, job: j.id, code: te.code, err: te.message });
        return;
      }
      const delay = backoffDelay(Math.max(1, j.attempts), this.o.retry, te.retryAfterMs);
      state.updateJob(j.id, { error: `${te.code}: ${te.message}`, nextAttemptAtMs: this.now() + delay }, { ifRev: rev });
      this.o.logger.warn({ event: polling ? 'finetune.poll_retry' : 'finetune.launch_retry', dataset: j.dataset, job: j.id, code: te.code, err: te.message, delayMs: Math.round(delay) });
    }
  }

  /** What a launcher gets: the version's manifest and files (their contents only for a launch, not for a poll). */
  private async launchRequest(j: JobRow, withContents: boolean): Promise<LaunchRequest> {
    const { registry } = this.o;
    const manifest: DatasetManifest | null = await registry.manifest(j.dataset, j.datasetVersion);
    if (!manifest) throw new TributaryError('DATASET_CORRUPT', `job ${j.id} names ${j.dataset}@${j.datasetVersion}, which the dataset registry does not hold`);
    const files = [];
    for (const f of manifest.files) files.push({ ...f, content: withContents ? await registry.readFile(j.dataset, j.datasetVersion, f.name) : new Uint8Array(0) });
    return {
      jobId: j.id, dataset: j.dataset, datasetVersion: j.datasetVersion, idempotencyKey: j.idempotencyKey, format: manifest.format as 'chat-sft' | 'dpo',
      items: j.items, manifest, files, workDir: join(this.o.jobsDir, j.id),
    };
  }

  // ---------------------------------------------------------------- publishing

  private async publish(): Promise<void> {
    const { state, log, codec } = this.o;
    // dataset status goes out through the same outbox as job states (so a crash cannot lose it), at most once a second
    if (this.now() - this.statusAt >= STATUS_EVERY_MS) {
      this.statusAt = this.now();
      state.enqueueStatuses();
    }
    for (;;) {
      const rows = state.outbox(100);
      if (rows.length === 0) break;
      const byTopic = new Map<string, Array<{ key: string; value: Uint8Array }>>();
      for (const r of rows) {
        let value: Uint8Array;
        try {
          value = await codec.encode(r.topic as SchemaTopic, JSON.parse(r.value) as never);
        } catch (e) {
          const te = toTributaryError(e);
          if (failureScope(te) === 'batch') throw te;
          // a record its own schema refuses is a bug; it must not hold back every later state change
          this.o.logger.error({ event: 'finetune.publish_dropped', topic: r.topic, key: r.key, code: te.code, err: te.message });
          continue;
        }
        byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), { key: r.key, value }]);
      }
      for (const [topic, recs] of byTopic) await log.append(topic, recs);
      state.ackOutbox(rows[rows.length - 1]!.seq);
    }
  }
}

/** A passage's identity for its instruction: the document's text and metadata it was made from, and its place. */
function passageKey(p: Passage): string {
  return createHash('sha256').update(JSON.stringify([p.doc.contentHash, p.doc.category, p.doc.author, p.doc.title, p.index, p.count])).digest('hex');
}
