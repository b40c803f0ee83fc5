import type { EventLog, LogRecord, ProducerRecord } from '../../ports/event-log.ts';
import { Topics } from '../../schemas/topics.ts';
import { describeDlqRecord, stripDlqHeaders, type DlqEntry } from '../../consumers/runtime/dlq.ts';
import { logPages } from '../../common/log-pages.ts';

/**
 * Reading and replaying the dead-letter queue.
 *
 * Replay re-appends a DLQ record's original key, bytes and headers (DLQ headers stripped) to the
 * topic it came from. Progress is a consumer-group offset on the DLQ topic, one group per stage
 * ("dlq-replay.<stage>"), so a stage-filtered replay never blocks or repeats another stage's
 * entries and no entry is replayed twice. An entry below its stage's cursor counts as handled:
 * replayed, or passed over because it was older than a replay's `sinceMs` and a newer entry of the
 * same stage was replayed. Replayed records are appended before the cursor moves (a crash in
 * between replays them again; the stages are idempotent).
 */

export const DLQ_REPLAY_GROUP_PREFIX = 'dlq-replay';
const PAGE = 500;

export function replayGroup(stage: string): string {
  return `${DLQ_REPLAY_GROUP_PREFIX}.${stage}`;
}

export interface DlqListEntry extends DlqEntry {
  /** Not yet replayed (at or past its stage's replay cursor). */
  pending: boolean;
}

type Cursors = Map<string, number>; // `${stage}\0${partition}` → next offset to replay

async function readCursors(log: EventLog): Promise<Cursors> {
  const out: Cursors = new Map();
  const prefix = `${DLQ_REPLAY_GROUP_PREFIX}.`;
  for (const g of await log.groupOffsets()) {
    if (g.topic !== Topics.dlq || !g.group.startsWith(prefix)) continue;
    out.set(`${g.group.slice(prefix.length)}\u0000${g.partition}`, g.committed);
  }
  return out;
}

async function* dlqRecords(log: EventLog): AsyncGenerator<LogRecord> {
  for (const p of await log.offsets(Topics.dlq)) {
    for await (const page of logPages(log, Topics.dlq, p.partition, p.start, p.end, PAGE)) yield* page;
  }
}

/** The last `limit` DLQ entries (optionally of one stage), oldest first. */
export async function listDlq(log: EventLog, opts: { limit: number; stage?: string }): Promise<DlqListEntry[]> {
  const cursors = await readCursors(log);
  const ring: DlqListEntry[] = [];
  for await (const rec of dlqRecords(log)) {
    const e = describeDlqRecord(rec);
    if (opts.stage !== undefined && e.stage !== opts.stage) continue;
    ring.push({ ...e, pending: rec.offset >= (cursors.get(`${e.stage}\u0000${rec.partition}`) ?? 0) });
    if (ring.length > opts.limit) ring.shift();
  }
  return ring;
}

export interface ReplayOptions {
  stage?: string;
  /** Only entries first seen at or after this time (ms since epoch). */
  sinceMs?: number;
  /** At most this many entries. */
  limit: number;
}

export interface ReplayResult {
  replayed: number;
  /** Entries that could not be replayed: their source topic is unknown or missing. */
  skipped: number;
}

const running = new WeakMap<EventLog, Promise<unknown>>();

/** Replays pending DLQ entries; calls on one log run one at a time. */
export async function replayDlq(log: EventLog, opts: ReplayOptions): Promise<ReplayResult> {
  const prev = running.get(log) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(() => replayOnce(log, opts));
  running.set(log, next);
  return next;
}

async function replayOnce(log: EventLog, opts: ReplayOptions): Promise<ReplayResult> {
  const cursors = await readCursors(log);
  const topics = new Set(await log.listTopics());
  const out = new Map<string, ProducerRecord[]>();
  const moved: Cursors = new Map();
  let replayed = 0;
  let skipped = 0;
  for await (const rec of dlqRecords(log)) {
    if (replayed >= opts.limit) break;
    const e = describeDlqRecord(rec);
    if (opts.stage !== undefined && e.stage !== opts.stage) continue;
    const key = `${e.stage}\u0000${rec.partition}`;
    if (rec.offset < (moved.get(key) ?? cursors.get(key) ?? 0)) continue;
    if (opts.sinceMs !== undefined && e.firstSeenMs < opts.sinceMs) continue;
    if (!e.sourceTopic || !topics.has(e.sourceTopic)) {
      skipped++;
      continue;
    }
    let list = out.get(e.sourceTopic);
    if (!list) out.set(e.sourceTopic, (list = []));
    list.push({ key: rec.key, value: rec.value, headers: stripDlqHeaders(rec.headers) });
    moved.set(key, rec.offset + 1);
    replayed++;
  }
  for (const [topic, records] of out) await log.append(topic, records);
  for (const [key, offset] of moved) {
    const [stage, partition] = key.split('\u0000') as [string, string];
    await log.commit(replayGroup(stage), Topics.dlq, Number(partition), offset);
  }
  return { replayed, skipped };
}
