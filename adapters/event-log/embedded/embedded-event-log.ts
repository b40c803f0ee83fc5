import { EventEmitter } from 'node:events';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { TributaryError } from '../../../ports/errors.ts';
import type {
  AppendResult, BatchHandler, EventLog, EventLogCapabilities, GroupOffset, Headers, LogRecord,
  PartitionOffsets, ProducerRecord, SubscribeOptions, Subscription,
} from '../../../ports/event-log.ts';
import type { TopicSpec } from '../../../schemas/topics.ts';
import { transaction } from '../../sqlite/open-database.ts';
import { partitionForKey } from '../murmur2.ts';

/**
 * The embedded event log: topics, partitions, offsets and consumer groups in SQLite.
 * Appends are durable when `append` resolves (WAL, synchronous as configured).
 * Consumer groups are coordinated inside one process (the process that owns the data directory);
 * other processes may append (e.g. tools, tests) and are picked up by polling.
 */

export interface EmbeddedEventLogOptions {
  db: DatabaseSync;
  maxRecordBytes: number;
  /** How often idle partition loops poll for appends from other processes. */
  pollIntervalMs?: number;
  /** Called when a handler throws; the batch is redelivered after a back-off. */
  onHandlerError?: (err: unknown, info: { group: string; topic: string; partition: number }) => void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS log_topics (
  name TEXT PRIMARY KEY,
  partitions INTEGER NOT NULL,
  compacted INTEGER NOT NULL,
  retention_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log_partitions (
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  next_offset INTEGER NOT NULL,
  start_offset INTEGER NOT NULL DEFAULT 0,
  last_ts INTEGER,
  PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_records (
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  key TEXT,
  value BLOB,
  headers TEXT,
  ts INTEGER NOT NULL,
  PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_group_offsets (
  grp TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  committed_at INTEGER NOT NULL,
  PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
`;

interface Stmts {
  topic: StatementSync;
  partition: StatementSync;
  bumpPartition: StatementSync;
  insert: StatementSync;
  read: StatementSync;
  offsets: StatementSync;
  committed: StatementSync;
  commit: StatementSync;
  groupOffsetsAll: StatementSync;
  groupOffsetsOne: StatementSync;
}

interface TopicInfo { partitions: number; compacted: boolean; retentionMs: number }

const EMPTY_HEADERS: Headers = Object.freeze({}) as Headers;

export class EmbeddedEventLog implements EventLog {
  readonly kind = 'embedded';
  readonly capabilities: EventLogCapabilities;
  private readonly db: DatabaseSync;
  private readonly stmts: Stmts;
  private readonly topicCache = new Map<string, TopicInfo>();
  private readonly events = new EventEmitter();
  private readonly groups = new Map<string, GroupCoordinator>();
  private readonly pollIntervalMs: number;
  private readonly onHandlerError: EmbeddedEventLogOptions['onHandlerError'];
  private roundRobin = 0;
  private closed = false;

  constructor(opts: EmbeddedEventLogOptions) {
    this.db = opts.db;
    this.db.exec(SCHEMA);
    this.capabilities = { maxRecordBytes: opts.maxRecordBytes, durable: true };
    this.pollIntervalMs = opts.pollIntervalMs ?? 100;
    this.onHandlerError = opts.onHandlerError;
    this.events.setMaxListeners(0);
    const p = (sql: string) => this.db.prepare(sql);
    this.stmts = {
      topic: p('SELECT partitions, compacted, retention_ms FROM log_topics WHERE name = ?'),
      partition: p('SELECT next_offset FROM log_partitions WHERE topic = ? AND partition = ?'),
      bumpPartition: p('UPDATE log_partitions SET next_offset = ?, last_ts = ? WHERE topic = ? AND partition = ?'),
      insert: p('INSERT INTO log_records (topic, partition, offset, key, value, headers, ts) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      read: p('SELECT offset, key, value, headers, ts FROM log_records WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?'),
      offsets: p('SELECT partition, next_offset, start_offset, last_ts FROM log_partitions WHERE topic = ? ORDER BY partition'),
      committed: p('SELECT offset FROM log_group_offsets WHERE grp = ? AND topic = ? AND partition = ?'),
      commit: p(`INSERT INTO log_group_offsets (grp, topic, partition, offset, committed_at) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (grp, topic, partition) DO UPDATE SET offset = excluded.offset, committed_at = excluded.committed_at`),
      groupOffsetsAll: p('SELECT grp, topic, partition, offset, committed_at FROM log_group_offsets ORDER BY grp, topic, partition'),
      groupOffsetsOne: p('SELECT grp, topic, partition, offset, committed_at FROM log_group_offsets WHERE grp = ? ORDER BY topic, partition'),
    };
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    this.ensureTopicsSync(specs);
  }

  ensureTopicsSync(specs: TopicSpec[]): void {
    transaction(this.db, () => {
      for (const s of specs) {
        const existing = this.stmts.topic.get(s.name) as { partitions: number } | undefined;
        const partitions = Math.max(existing?.partitions ?? 0, s.partitions);
        this.db.prepare(`INSERT INTO log_topics (name, partitions, compacted, retention_ms) VALUES (?, ?, ?, ?)
          ON CONFLICT (name) DO UPDATE SET partitions = excluded.partitions, compacted = excluded.compacted, retention_ms = excluded.retention_ms`)
          .run(s.name, partitions, s.compacted ? 1 : 0, s.retentionMs);
        for (let p = 0; p < partitions; p++) {
          this.db.prepare('INSERT OR IGNORE INTO log_partitions (topic, partition, next_offset) VALUES (?, ?, 0)').run(s.name, p);
        }
        this.topicCache.set(s.name, { partitions, compacted: s.compacted, retentionMs: s.retentionMs });
      }
    });
    for (const g of this.groups.values()) g.rebalance();
  }

  async listTopics(): Promise<string[]> {
    return (this.db.prepare('SELECT name FROM log_topics ORDER BY name').all() as Array<{ name: string }>).map((r) => r.name);
  }

  topicInfo(topic: string): TopicInfo {
    let info = this.topicCache.get(topic);
    if (!info) {
      const row = this.stmts.topic.get(topic) as { partitions: number; compacted: number; retention_ms: number } | undefined;
      if (!row) throw new TributaryError('NOT_FOUND', `topic "${topic}" does not exist; create it with ensureTopics (tributary topics apply)`);
      info = { partitions: row.partitions, compacted: row.compacted === 1, retentionMs: row.retention_ms };
      this.topicCache.set(topic, info);
    }
    return info;
  }

  async partitionCount(topic: string): Promise<number> {
    return this.topicInfo(topic).partitions;
  }

  async append(topic: string, records: ProducerRecord[]): Promise<AppendResult[]> {
    return transaction(this.db, () => this.appendSync(topic, records));
  }

  /**
   * Appends inside the caller's transaction (the embedded store uses this so a document write and its
   * change event commit together). Listeners are woken after the outermost commit.
   */
  appendSync(topic: string, records: ProducerRecord[]): AppendResult[] {
    if (this.closed) throw new TributaryError('LOG_UNAVAILABLE', 'event log is closed');
    const info = this.topicInfo(topic);
    const now = Date.now();
    const next = new Map<number, number>();
    const results: AppendResult[] = [];
    const run = () => {
      for (const r of records) {
        const size = r.value?.byteLength ?? 0;
        if (size > this.capabilities.maxRecordBytes) {
          throw new TributaryError('OVERSIZE_RECORD', `record of ${size} bytes exceeds the ${this.capabilities.maxRecordBytes}-byte limit on topic ${topic} (TRIBUTARY_MAX_RECORD_BYTES)`);
        }
        const partition = r.key === null ? (this.roundRobin++ % info.partitions) : partitionForKey(r.key, info.partitions);
        let offset = next.get(partition);
        if (offset === undefined) {
          const row = this.stmts.partition.get(topic, partition) as { next_offset: number } | undefined;
          offset = row?.next_offset ?? 0;
        }
        const ts = r.timestamp ?? now;
        this.stmts.insert.run(topic, partition, offset, r.key, r.value ?? null, r.headers && Object.keys(r.headers).length ? JSON.stringify(r.headers) : null, ts);
        next.set(partition, offset + 1);
        results.push({ topic, partition, offset });
      }
      for (const [partition, offset] of next) this.stmts.bumpPartition.run(offset, now, topic, partition);
    };
    if (this.db.isTransaction) {
      run();
      // wake consumers after the caller's commit; a spurious wake-up before commit only causes a re-read
      setImmediate(() => this.events.emit(topic));
    } else {
      transaction(this.db, run);
      this.events.emit(topic);
    }
    return results;
  }

  async read(topic: string, partition: number, offset: number, maxRecords: number): Promise<LogRecord[]> {
    return this.readSync(topic, partition, offset, maxRecords, Number.POSITIVE_INFINITY);
  }

  readSync(topic: string, partition: number, offset: number, maxRecords: number, maxBytes: number): LogRecord[] {
    const rows = this.stmts.read.all(topic, partition, offset, maxRecords) as Array<{ offset: number; key: string | null; value: Uint8Array | null; headers: string | null; ts: number }>;
    const out: LogRecord[] = [];
    let bytes = 0;
    for (const row of rows) {
      const size = row.value?.byteLength ?? 0;
      if (out.length > 0 && bytes + size > maxBytes) break;
      bytes += size;
      out.push({
        topic, partition, offset: row.offset, key: row.key, value: row.value,
        headers: row.headers ? (JSON.parse(row.headers) as Headers) : EMPTY_HEADERS, timestamp: row.ts,
      });
    }
    return out;
  }

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    this.topicInfo(topic);
    return (this.stmts.offsets.all(topic) as Array<{ partition: number; next_offset: number; start_offset: number; last_ts: number | null }>).map((r) => ({
      topic, partition: r.partition, end: r.next_offset, start: r.start_offset, lastTimestamp: r.last_ts,
    }));
  }

  async groupOffsets(group?: string): Promise<GroupOffset[]> {
    const rows = (group === undefined ? this.stmts.groupOffsetsAll.all() : this.stmts.groupOffsetsOne.all(group)) as Array<{ grp: string; topic: string; partition: number; offset: number; committed_at: number }>;
    return rows.map((r) => ({ group: r.grp, topic: r.topic, partition: r.partition, committed: r.offset, committedAt: r.committed_at }));
  }

  async commit(group: string, topic: string, partition: number, offset: number): Promise<void> {
    this.commitSync(group, topic, partition, offset);
  }

  commitSync(group: string, topic: string, partition: number, offset: number): void {
    this.stmts.commit.run(group, topic, partition, offset, Date.now());
  }

  endOffsetSync(topic: string, partition: number): number {
    const row = this.stmts.partition.get(topic, partition) as { next_offset: number } | undefined;
    return row?.next_offset ?? 0;
  }

  committedSync(group: string, topic: string, partition: number): number | null {
    const row = this.stmts.committed.get(group, topic, partition) as { offset: number } | undefined;
    return row ? row.offset : null;
  }

  /** Waits until `topic` gets an append in this process, or `ms` elapse, or `signal` aborts. */
  waitForAppend(topic: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.events.off(topic, done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.events.on(topic, done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  subscribe(options: SubscribeOptions, handler: BatchHandler): Subscription {
    if (this.closed) throw new TributaryError('LOG_UNAVAILABLE', 'event log is closed');
    let g = this.groups.get(options.group);
    if (!g) {
      g = new GroupCoordinator(this, options.group, this.pollIntervalMs, this.onHandlerError);
      this.groups.set(options.group, g);
    }
    return g.join(options, handler);
  }

  /** Deletes records past retention and, on compacted topics, records superseded by a newer one with the same key. */
  maintain(now = Date.now()): { deleted: number } {
    let deleted = 0;
    const topics = this.db.prepare('SELECT name, compacted, retention_ms FROM log_topics').all() as Array<{ name: string; compacted: number; retention_ms: number }>;
    for (const t of topics) {
      transaction(this.db, () => {
        if (t.retention_ms > 0) {
          deleted += Number(this.db.prepare('DELETE FROM log_records WHERE topic = ? AND ts < ?').run(t.name, now - t.retention_ms).changes);
        }
        if (t.compacted === 1) {
          deleted += Number(this.db.prepare(`DELETE FROM log_records AS r WHERE r.topic = ? AND r.key IS NOT NULL AND EXISTS (
            SELECT 1 FROM log_records AS n WHERE n.topic = r.topic AND n.partition = r.partition AND n.key = r.key AND n.offset > r.offset)`).run(t.name).changes);
        }
        this.db.prepare(`UPDATE log_partitions SET start_offset = COALESCE(
            (SELECT MIN(offset) FROM log_records WHERE log_records.topic = log_partitions.topic AND log_records.partition = log_partitions.partition), next_offset)
          WHERE topic = ?`).run(t.name);
      });
    }
    return { deleted };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.groups.values()].map((g) => g.stopAll()));
    this.closed = true;
  }
}

interface Member {
  id: number;
  options: SubscribeOptions;
  handler: BatchHandler;
  loops: Map<string, PartitionLoop>;
  stopping: boolean;
  resolveDone: () => void;
}

/** In-process consumer group: assigns partitions round-robin to members and rebalances on join/leave. */
class GroupCoordinator {
  private readonly members: Member[] = [];
  private readonly active = new Map<string, PartitionLoop>();
  private nextId = 1;
  private readonly log: EmbeddedEventLog;
  private readonly group: string;
  private readonly pollIntervalMs: number;
  private readonly onHandlerError: EmbeddedEventLogOptions['onHandlerError'];

  constructor(log: EmbeddedEventLog, group: string, pollIntervalMs: number, onHandlerError: EmbeddedEventLogOptions['onHandlerError']) {
    this.log = log;
    this.group = group;
    this.pollIntervalMs = pollIntervalMs;
    this.onHandlerError = onHandlerError;
  }

  join(options: SubscribeOptions, handler: BatchHandler): Subscription {
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => { resolveDone = r; });
    const member: Member = { id: this.nextId++, options, handler, loops: new Map(), stopping: false, resolveDone };
    this.members.push(member);
    this.rebalance();
    const stop = async () => {
      if (member.stopping) return done;
      member.stopping = true;
      const i = this.members.indexOf(member);
      if (i >= 0) this.members.splice(i, 1);
      await Promise.all([...member.loops.values()].map((l) => l.stop()));
      member.loops.clear();
      this.rebalance();
      member.resolveDone();
      return done;
    };
    return {
      done,
      get running() { return !member.stopping; },
      stop,
    };
  }

  async stopAll(): Promise<void> {
    const members = [...this.members];
    this.members.length = 0;
    await Promise.all(members.map(async (m) => {
      m.stopping = true;
      await Promise.all([...m.loops.values()].map((l) => l.stop()));
      m.loops.clear();
      m.resolveDone();
    }));
  }

  rebalance(): void {
    // every (topic, partition) any member subscribes to, assigned round-robin among the members subscribed to that topic
    const wanted = new Map<Member, Set<string>>();
    for (const m of this.members) wanted.set(m, new Set());
    const topics = new Set(this.members.flatMap((m) => m.options.topics));
    for (const topic of topics) {
      let partitions: number;
      try { partitions = this.log.topicInfo(topic).partitions; } catch { continue; }
      const subs = this.members.filter((m) => m.options.topics.includes(topic));
      for (let p = 0; p < partitions; p++) {
        const m = subs[p % subs.length];
        if (m) wanted.get(m)!.add(`${topic}\u0000${p}`);
      }
    }
    for (const [m, tps] of wanted) {
      for (const [tp, loop] of m.loops) {
        if (!tps.has(tp)) { m.loops.delete(tp); void loop.stop(); }
      }
      for (const tp of tps) {
        if (m.loops.has(tp)) continue;
        const [topic, p] = tp.split('\u0000') as [string, string];
        // a partition moving between members starts only after its previous owner finished its batch
        const previous = this.findLoop(topic, Number(p));
        const loop = new PartitionLoop(this.active, this.log, this.group, topic, Number(p), m.options, m.handler, this.pollIntervalMs, this.onHandlerError);
        m.loops.set(tp, loop);
        void (previous ? previous.stopped.then(() => loop.start()) : loop.start());
      }
    }
  }

  private findLoop(topic: string, partition: number): PartitionLoop | undefined {
    return this.active.get(`${this.group}\u0000${topic}\u0000${partition}`);
  }
}

class PartitionLoop {
  readonly active: Map<string, PartitionLoop>;
  private readonly controller = new AbortController();
  private paused = false;
  private resumeWaiter: (() => void) | null = null;
  private resolveStopped!: () => void;
  readonly stopped = new Promise<void>((r) => { this.resolveStopped = r; });
  private readonly log: EmbeddedEventLog;
  private readonly group: string;
  private readonly topic: string;
  private readonly partition: number;
  private readonly options: SubscribeOptions;
  private readonly handler: BatchHandler;
  private readonly pollIntervalMs: number;
  private readonly onHandlerError: EmbeddedEventLogOptions['onHandlerError'];

  constructor(active: Map<string, PartitionLoop>, log: EmbeddedEventLog, group: string, topic: string, partition: number, options: SubscribeOptions, handler: BatchHandler,
    pollIntervalMs: number, onHandlerError: EmbeddedEventLogOptions['onHandlerError']) {
    this.active = active;
    this.log = log; this.group = group; this.topic = topic; this.partition = partition;
    this.options = options; this.handler = handler; this.pollIntervalMs = pollIntervalMs; this.onHandlerError = onHandlerError;
  }

  private get key(): string { return `${this.group}\u0000${this.topic}\u0000${this.partition}`; }

  async start(): Promise<void> {
    if (this.controller.signal.aborted) { this.resolveStopped(); return; }
    this.active.set(this.key, this);
    try {
      await this.run();
    } finally {
      if (this.active.get(this.key) === this) this.active.delete(this.key);
      this.resolveStopped();
    }
  }

  stop(): Promise<void> {
    this.controller.abort();
    this.resumeWaiter?.();
    return this.stopped;
  }

  private async run(): Promise<void> {
    const signal = this.controller.signal;
    const maxRecords = this.options.maxBatchRecords ?? 500;
    const maxBytes = this.options.maxBatchBytes ?? 8 * 1024 * 1024;
    const maxWaitMs = this.options.maxWaitMs ?? 0;
    let position = this.log.committedSync(this.group, this.topic, this.partition);
    if (position === null) {
      const offs = await this.log.offsets(this.topic);
      const po = offs.find((o) => o.partition === this.partition);
      position = this.options.fromBeginning === false ? (po?.end ?? 0) : (po?.start ?? 0);
    }
    let failures = 0;
    const ctx = {
      signal,
      heartbeat: async () => {},
      pause: () => { this.paused = true; },
      resume: () => { this.paused = false; this.resumeWaiter?.(); },
    };
    while (!signal.aborted) {
      if (this.paused) {
        await new Promise<void>((r) => { this.resumeWaiter = r; });
        this.resumeWaiter = null;
        continue;
      }
      let records = this.log.readSync(this.topic, this.partition, position, maxRecords, maxBytes);
      if (records.length === 0) {
        await this.log.waitForAppend(this.topic, this.pollIntervalMs, signal);
        continue;
      }
      if (records.length < maxRecords && maxWaitMs > 0) {
        await this.log.waitForAppend(this.topic, maxWaitMs, signal);
        if (signal.aborted) break;
        records = this.log.readSync(this.topic, this.partition, position, maxRecords, maxBytes);
      }
      const hw = this.highWatermark();
      try {
        await this.handler({ topic: this.topic, partition: this.partition, records, highWatermark: hw }, ctx);
        const next = records[records.length - 1]!.offset + 1;
        this.log.commitSync(this.group, this.topic, this.partition, next);
        position = next;
        failures = 0;
      } catch (err) {
        failures++;
        this.onHandlerError?.(err, { group: this.group, topic: this.topic, partition: this.partition });
        const delay = Math.min(30_000, 100 * 2 ** Math.min(failures, 10)) * (0.5 + Math.random() / 2);
        await sleep(delay, signal);
      }
    }
  }

  private highWatermark(): number {
    return this.log.endOffsetSync(this.topic, this.partition);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); resolve(); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
