import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { pino } from 'pino';
import { EmbeddedEventLog } from '../../adapters/event-log/embedded/embedded-event-log.ts';
import { openDatabase } from '../../adapters/sqlite/open-database.ts';
import { StageConsumer, type Stage } from '../../consumers/runtime/stage-consumer.ts';
import { describeDlqRecord, type DlqEntry } from '../../consumers/runtime/dlq.ts';
import type { LogRecord } from '../../ports/event-log.ts';
import { Metrics } from '../../observability/metrics.ts';
import { Topics, topicSpecs } from '../../schemas/topics.ts';

/**
 * One stage run as its consumer runs it (consumers/runtime/stage-consumer.ts) on the embedded event
 * log, in a directory of its own, with every pipeline topic (one partition each) and a small retry
 * budget with a tiny back-off, so a dependency outage outlasts the budget within milliseconds.
 */
export const TEST_RETRY = { baseMs: 2, maxMs: 10, maxAttempts: 3 };

export interface StageHarness {
  readonly dir: string;
  readonly db: DatabaseSync;
  readonly log: EmbeddedEventLog;
  readonly metrics: Metrics;
  /** The consumer of `stage`, built on first call (not started). */
  consumer(stage: Stage, topic: string): StageConsumer;
  /** Every record of a topic's partition 0, in order. */
  records(topic: string): Promise<LogRecord[]>;
  /** What the DLQ holds. */
  dlq(): Promise<DlqEntry[]>;
  /** The offset the consumer's group committed on `topic`. */
  committed(topic: string): Promise<number>;
  close(): Promise<void>;
}

export function startStageHarness(name: string): StageHarness {
  const dir = mkdtempSync(join(tmpdir(), `tributary-${name}-`));
  const db = openDatabase({ path: join(dir, 'tributary.db'), synchronous: 'normal' });
  const log = new EmbeddedEventLog({ db, maxRecordBytes: 1 << 20, pollIntervalMs: 10 });
  log.ensureTopicsSync(topicSpecs(1));
  const metrics = new Metrics();
  const group = `${name}-group`;
  let consumer: StageConsumer | null = null;
  const records = (topic: string) => log.read(topic, 0, 0, 10_000);
  return {
    dir, db, log, metrics,
    consumer(stage, topic) {
      consumer ??= new StageConsumer({
        log, stage, group, topics: [topic], logger: pino({ level: 'silent' }), metrics,
        batch: { maxRecords: 100, maxBytes: 1 << 20, maxWaitMs: 5 }, retry: TEST_RETRY,
      });
      return consumer;
    },
    records,
    dlq: async () => (await records(Topics.dlq)).map((r) => describeDlqRecord(r)),
    committed: async (topic) => (await log.groupOffsets(group)).find((o) => o.topic === topic)?.committed ?? 0,
    async close() {
      await consumer?.stop();
      await log.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function waitFor(what: string, pred: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}
