import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedEventLog } from '../../../adapters/event-log/embedded/embedded-event-log.ts';
import { openDatabase } from '../../../adapters/sqlite/open-database.ts';
import { TributaryError, type ErrorCode } from '../../../ports/errors.ts';
import type { LogRecord } from '../../../ports/event-log.ts';
import { Metrics } from '../../../observability/metrics.ts';
import { StageConsumer, type RecordFailure, type Stage } from '../../../consumers/runtime/stage-consumer.ts';
import { describeDlqRecord } from '../../../consumers/runtime/dlq.ts';
import { DlqHeaders } from '../../../schemas/topics.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => (b ? new TextDecoder().decode(b) : null);

/** A real Stage that records calls and fails on demand. */
class ScriptedStage implements Stage {
  readonly name = 'scripted';
  calls: string[][] = [];
  sunk: string[] = [];
  infraFailuresLeft = 0;
  failures = new Map<string, { code: ErrorCode; times: number; retryable?: boolean }>();
  /** What the whole call throws, given the values it was asked to process (null: nothing). */
  throwFor: (values: string[]) => unknown = () => null;
  async process(records: LogRecord[]): Promise<RecordFailure[]> {
    const values = records.map((r) => dec(r.value)!);
    this.calls.push(values);
    if (this.infraFailuresLeft > 0) {
      this.infraFailuresLeft--;
      throw new TributaryError('INDEX_UNAVAILABLE', 'index down');
    }
    const thrown = this.throwFor(values);
    if (thrown) throw thrown;
    const out: RecordFailure[] = [];
    for (const r of records) {
      const v = dec(r.value)!;
      const f = this.failures.get(v);
      if (f && f.times > 0) {
        f.times--;
        out.push({ record: r, error: new TributaryError(f.code, `cannot handle ${v}`, f.retryable === undefined ? {} : { retryable: f.retryable }) });
      } else this.sunk.push(v);
    }
    return out;
  }
}

async function waitFor(pred: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('timeout');
}

describe('StageConsumer (consume loop)', () => {
  let dir: string; let db: DatabaseSync; let log: EmbeddedEventLog; let stage: ScriptedStage; let consumer: StageConsumer;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-rt-'));
    db = openDatabase({ path: join(dir, 'db'), synchronous: 'normal' });
    log = new EmbeddedEventLog({ db, maxRecordBytes: 1 << 20, pollIntervalMs: 10 });
    log.ensureTopicsSync([{ name: 'in', partitions: 1, compacted: false, retentionMs: -1 }, { name: 'tributary.dlq', partitions: 1, compacted: false, retentionMs: -1 }]);
    stage = new ScriptedStage();
    consumer = new StageConsumer({
      log, stage, group: 'g', topics: ['in'], logger: pino({ level: 'silent' }), metrics: new Metrics(),
      batch: { maxRecords: 100, maxBytes: 1 << 20, maxWaitMs: 5 }, retry: { baseMs: 5, maxMs: 20, maxAttempts: 3 },
    });
  });
  afterEach(async () => { await consumer.stop(); await log.close(); db.close(); rmSync(dir, { recursive: true, force: true }); });

  const committed = async () => (await log.groupOffsets('g')).find((o) => o.topic === 'in')?.committed ?? 0;

  it('non-retryable record failures go to the DLQ at once with original bytes and headers; the rest are sunk and committed', async () => {
    stage.failures.set('bad', { code: 'MALFORMED_EVENT', times: 99 });
    await log.append('in', [{ key: 'a', value: enc('ok1') }, { key: 'b', value: enc('bad'), headers: { traceparent: 't1' } }, { key: 'c', value: enc('ok2') }]);
    consumer.start();
    await waitFor(async () => (await committed()) === 3);
    expect(stage.sunk).toEqual(['ok1', 'ok2']);
    const [d] = await log.read('tributary.dlq', 0, 0, 10);
    expect(dec(d!.value)).toBe('bad');
    expect(d!.key).toBe('b');
    expect(d!.headers['traceparent']).toBe('t1');
    expect(d!.headers[DlqHeaders.errorCode]).toBe('MALFORMED_EVENT');
    expect(d!.headers[DlqHeaders.stage]).toBe('scripted');
    expect(describeDlqRecord(d!)).toMatchObject({ sourceTopic: 'in', sourcePartition: 0, sourceOffset: 1, attempts: 1, message: 'cannot handle bad' });
  });

  it('retryable record failures are retried (only the failed records) and succeed without a DLQ entry', async () => {
    stage.failures.set('flaky', { code: 'INTERNAL', retryable: true, times: 2 });
    await log.append('in', [{ key: 'a', value: enc('ok') }, { key: 'b', value: enc('flaky') }]);
    consumer.start();
    await waitFor(async () => (await committed()) === 2);
    expect(stage.calls).toEqual([['ok', 'flaky'], ['flaky'], ['flaky']]);
    expect(stage.sunk).toEqual(['ok', 'flaky']);
    expect((await log.offsets('tributary.dlq'))[0]!.end).toBe(0);
  });

  it('retryable record failures that outlast maxAttempts are dead-lettered with the attempt count', async () => {
    stage.failures.set('always', { code: 'INTERNAL', retryable: true, times: 99 });
    await log.append('in', [{ key: 'a', value: enc('always') }]);
    consumer.start();
    await waitFor(async () => (await committed()) === 1);
    const [d] = await log.read('tributary.dlq', 0, 0, 10);
    expect(d!.headers[DlqHeaders.attempts]).toBe('3');
    expect(stage.calls.length).toBe(3);
  });

  it('infrastructure failures hold the batch (no commit, no DLQ) until the sink recovers', async () => {
    stage.infraFailuresLeft = 4;
    await log.append('in', [{ key: 'a', value: enc('x') }]);
    consumer.start();
    await waitFor(() => stage.calls.length >= 2);
    expect(await committed()).toBe(0);
    expect(consumer.status.degraded).toBe(true);
    await waitFor(async () => (await committed()) === 1);
    expect(stage.sunk).toEqual(['x']);
    expect((await log.offsets('tributary.dlq'))[0]!.end).toBe(0);
    expect(consumer.status.degraded).toBe(false);
  });

  it('a batch-scoped failure reported for one record holds the whole batch past maxAttempts: nothing is dead-lettered, then all is processed', async () => {
    stage.failures.set('b', { code: 'TIMEOUT', times: 8 });
    await log.append('in', [{ key: 'a', value: enc('a') }, { key: 'b', value: enc('b') }, { key: 'c', value: enc('c') }]);
    consumer.start();
    await waitFor(() => stage.calls.length >= 4); // past maxAttempts (3)
    expect(consumer.status).toMatchObject({ degraded: true, lastError: expect.stringContaining('TIMEOUT') });
    expect(await committed()).toBe(0);
    expect((await log.offsets('tributary.dlq'))[0]!.end).toBe(0);
    await waitFor(async () => (await committed()) === 3);
    // the whole batch was tried each time (not only the record that reported it)
    expect(stage.calls.every((c) => c.length === 3)).toBe(true);
    expect(stage.calls.length).toBe(9);
    expect(new Set(stage.sunk)).toEqual(new Set(['a', 'b', 'c']));
    expect((await log.offsets('tributary.dlq'))[0]!.end).toBe(0);
    expect(consumer.status).toMatchObject({ degraded: false, lastError: null });
  });

  it('while a batch is held, a bad record in it waits too; once the dependency is back only the bad record is dead-lettered', async () => {
    stage.failures.set('bad', { code: 'SCHEMA_VIOLATION', times: 99 });
    stage.infraFailuresLeft = 5;
    await log.append('in', [{ key: 'a', value: enc('ok1') }, { key: 'b', value: enc('bad') }, { key: 'c', value: enc('ok2') }]);
    consumer.start();
    await waitFor(() => stage.calls.length >= 4);
    expect((await log.offsets('tributary.dlq'))[0]!.end).toBe(0);
    await waitFor(async () => (await committed()) === 3);
    expect(stage.sunk).toEqual(['ok1', 'ok2']);
    const dlq = await log.read('tributary.dlq', 0, 0, 10);
    expect(dlq.map((d) => [dec(d.value), d.headers[DlqHeaders.errorCode]])).toEqual([['bad', 'SCHEMA_VIOLATION']]);
  });

  it('a record-scoped error thrown for the whole call is run again one record at a time: only its record is dead-lettered', async () => {
    // e.g. a store refusing one document of a write of many, or a bug meeting one input
    stage.throwFor = (values) => (values.includes('poison') ? new TypeError('cannot read properties of undefined') : null);
    await log.append('in', [{ key: 'a', value: enc('ok1') }, { key: 'b', value: enc('poison') }, { key: 'c', value: enc('ok2') }]);
    consumer.start();
    await waitFor(async () => (await committed()) === 3);
    expect(stage.calls).toEqual([['ok1', 'poison', 'ok2'], ['ok1'], ['poison'], ['ok2']]);
    expect(stage.sunk).toEqual(['ok1', 'ok2']);
    const [d, more] = await log.read('tributary.dlq', 0, 0, 10);
    expect(more).toBeUndefined();
    expect(describeDlqRecord(d!)).toMatchObject({ code: 'INTERNAL', sourceOffset: 1, attempts: 1 });
    expect(consumer.status.degraded).toBe(false);
  });

  it('a raw connection error (not a TributaryError) thrown by a stage holds the batch: a dependency is down', async () => {
    let left = 4;
    stage.throwFor = () => (left-- > 0 ? Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6333'), { code: 'ECONNREFUSED' }) : null);
    await log.append('in', [{ key: 'a', value: enc('x') }, { key: 'b', value: enc('y') }]);
    consumer.start();
    await waitFor(() => stage.calls.length >= 2);
    expect(consumer.status).toMatchObject({ degraded: true, lastError: expect.stringContaining('ECONNREFUSED') });
    await waitFor(async () => (await committed()) === 2);
    expect(stage.calls.every((c) => c.length === 2)).toBe(true);
    expect(stage.sunk).toEqual(['x', 'y']);
    expect((await log.offsets('tributary.dlq'))[0]!.end).toBe(0);
  });

  it('stop drains the in-flight batch and commits it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const slow: Stage = { name: 'slow', process: async (recs) => { await gate; stage.sunk.push(...recs.map((r) => dec(r.value)!)); return []; } };
    consumer = new StageConsumer({
      log, stage: slow, group: 'g', topics: ['in'], logger: pino({ level: 'silent' }), metrics: new Metrics(),
      batch: { maxRecords: 100, maxBytes: 1 << 20, maxWaitMs: 0 }, retry: { baseMs: 5, maxMs: 20, maxAttempts: 3 },
    });
    await log.append('in', [{ key: 'a', value: enc('1') }]);
    consumer.start();
    await new Promise((r) => setTimeout(r, 50));
    const stopping = consumer.stop();
    release();
    await stopping;
    expect(stage.sunk).toEqual(['1']);
    expect(await committed()).toBe(1);
    expect(consumer.running).toBe(false);
  });
});
