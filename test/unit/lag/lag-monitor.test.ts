import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EmbeddedEventLog } from '../../../adapters/event-log/embedded/embedded-event-log.ts';
import { JsonValueCodec } from '../../../adapters/value-codec/json/json-codec.ts';
import { openDatabase } from '../../../adapters/sqlite/open-database.ts';
import { LagMonitor, readLatestLagReport, type LagReport } from '../../../consumers/lag-monitor/index.ts';
import { Metrics } from '../../../observability/metrics.ts';
import type { GroupLagStatus } from '../../../schemas/lag-status.ts';
import { Topics } from '../../../schemas/topics.ts';

/**
 * The lag monitor on the real embedded log, with the wall clock faked (Date only; timers stay real)
 * so that commit times, record timestamps and the monitor's "now" advance together, tick by tick.
 */
describe('lag monitor on the embedded log', () => {
  let dir: string;
  let db: DatabaseSync;
  let log: EmbeddedEventLog;
  let metrics: Metrics;
  const codec = new JsonValueCodec();
  const T0 = Date.UTC(2030, 0, 1);
  const rules = { intervalMs: 1000, windowSize: 4 };

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    dir = mkdtempSync(join(tmpdir(), 'tributary-lag-'));
    db = openDatabase({ path: join(dir, 'log.db'), synchronous: 'normal' });
    log = new EmbeddedEventLog({ db, maxRecordBytes: 64 * 1024 });
    await log.ensureTopics([
      { name: 'quiet', partitions: 1, compacted: false, retentionMs: -1 },
      { name: 'busy', partitions: 1, compacted: false, retentionMs: -1 },
      { name: Topics.opsLag, partitions: 1, compacted: false, retentionMs: -1 },
    ]);
    metrics = new Metrics();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await log.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const append = (topic: string, n: number) => log.append(topic, Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: Buffer.from('{}') })));
  const monitor = (extra: Partial<ConstructorParameters<typeof LagMonitor>[0]> = {}) =>
    new LagMonitor({ log, codec, metrics, logger: pino({ level: 'silent' }), ...rules, ...extra });
  const group = (r: LagReport, g: string): GroupLagStatus => {
    const found = r.groups.find((x) => x.group === g);
    if (!found) throw new Error(`group ${g} not in the report: ${r.groups.map((x) => x.group).join(', ')}`);
    return found;
  };
  const gauge = async (m: { get(): Promise<{ values: Array<{ labels: Record<string, string | number>; value: number }> }> }, labels: Record<string, string>) =>
    (await m.get()).values.find((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val))?.value;

  it('tells idle, healthy, slow, stalled, stopped and rewound consumers apart, in offsets and seconds', async () => {
    await append('quiet', 5);
    await log.commit('idle', 'quiet', 0, 5);
    await log.commit('dlq-replay.clean', 'quiet', 0, 0);
    await append('busy', 10);
    await log.commit('stopped', 'busy', 0, 2);
    const m = monitor({ expected: [{ group: 'never', topics: ['quiet'] }] });

    let report!: LagReport;
    for (let tick = 0; tick < 6; tick++) {
      vi.setSystemTime(T0 + tick * rules.intervalMs);
      if (tick > 0) await append('busy', 3);
      const end = (await log.offsets('busy'))[0]!.end;
      await log.commit('healthy', 'busy', 0, end);
      await log.commit('stalled', 'busy', 0, 2); // keeps committing the same offset
      await log.commit('slow', 'busy', 0, 4 + tick); // advances by 1 while 3 arrive per tick
      await log.commit('rewound', 'busy', 0, tick < 4 ? end : 3);
      report = await m.tick();
    }
    const now = T0 + 5 * rules.intervalMs;
    expect(report.evaluatedAtMs).toBe(now);
    expect(report.groups.map((g) => g.group)).toEqual(['healthy', 'idle', 'never', 'rewound', 'slow', 'stalled', 'stopped']);

    expect(group(report, 'idle')).toMatchObject({ status: 'OK', totalLag: 0, maxLagSeconds: 0 });
    expect(group(report, 'idle').partitions[0]!.reason).toMatch(/idle/);
    expect(group(report, 'healthy')).toMatchObject({ status: 'OK', totalLag: 0 });

    const stalled = group(report, 'stalled').partitions[0]!;
    expect(stalled).toMatchObject({ status: 'STALL', committed: 2, end: 25, lag: 23, complete: 1 });
    // the next unconsumed record (offset 2) was written at T0
    expect(stalled.lagSeconds).toBe(5);

    const stopped = group(report, 'stopped').partitions[0]!;
    expect(stopped).toMatchObject({ status: 'STOP', lag: 23, lagSeconds: 5 });
    expect(stopped.reason).toMatch(/no commit for 5 s/);

    expect(group(report, 'slow').partitions[0]).toMatchObject({ status: 'WARN', committed: 9, lag: 16 });
    expect(group(report, 'rewound')).toMatchObject({ status: 'REWIND' });
    // a group that never committed counts from 0; its next record (offset 0 of quiet) is 5 s old
    expect(group(report, 'never').partitions[0]).toMatchObject({ committed: 0, lag: 5, lagSeconds: 5 });

    // gauges: lag, seconds, status as a number, group status
    expect(await gauge(metrics.consumerLag, { group: 'stalled', topic: 'busy', partition: '0' })).toBe(23);
    expect(await gauge(metrics.consumerLagSeconds, { group: 'stopped', topic: 'busy', partition: '0' })).toBe(5);
    expect(await gauge(metrics.consumerLagStatus, { group: 'stalled', topic: 'busy', partition: '0' })).toBe(3);
    expect(await gauge(metrics.consumerGroupStatus, { group: 'stopped' })).toBe(4);
    expect(await gauge(metrics.consumerGroupStatus, { group: 'slow' })).toBe(1);
    expect(await gauge(metrics.consumerGroupStatus, { group: 'idle' })).toBe(0);
    expect(m.latest()).toBe(report);
  });

  it('publishes one status record per group per evaluation to tributary.ops.lag, which other processes read back', async () => {
    await append('busy', 4);
    await log.commit('healthy', 'busy', 0, 4);
    await log.commit('behind', 'busy', 0, 1);
    const m = monitor();
    await m.tick();
    vi.setSystemTime(T0 + 1000);
    const second = await m.tick();

    const recs = await log.read(Topics.opsLag, 0, 0, 100);
    expect(recs.map((r) => r.key)).toEqual(['behind', 'healthy', 'behind', 'healthy']);
    const last = await codec.decode(Topics.opsLag, recs[2]!.value!);
    expect(last).toEqual(group(second, 'behind'));
    expect(recs[2]!.timestamp).toBe(T0 + 1000);

    const read = await readLatestLagReport(log, codec);
    expect(read).toEqual(second);
    // three intervals later the published statuses are stale: nothing to report
    expect(await readLatestLagReport(log, codec, { now: T0 + 1000 + 3 * 1000 + 1001 })).toBeNull();
  });

  it('forgets a group whose offsets went away, and its gauges', async () => {
    await append('busy', 2);
    await log.commit('gone', 'busy', 0, 1);
    const m = monitor({ topic: null });
    await m.tick();
    expect(await gauge(metrics.consumerLag, { group: 'gone' })).toBe(1);
    db.prepare('DELETE FROM log_group_offsets WHERE grp = ?').run('gone');
    const r = await m.tick();
    expect(r.groups).toEqual([]);
    expect(await gauge(metrics.consumerLag, { group: 'gone' })).toBeUndefined();
    expect(await gauge(metrics.consumerGroupStatus, { group: 'gone' })).toBeUndefined();
    expect(await log.offsets(Topics.opsLag)).toEqual([expect.objectContaining({ end: 0 })]);
  });

  it('runs every interval once started, and stops cleanly', async () => {
    vi.useRealTimers();
    await append('busy', 1);
    await log.commit('g', 'busy', 0, 0);
    const m = monitor({ intervalMs: 20, topic: null });
    m.start();
    expect(m.running).toBe(true);
    await new Promise((r) => setTimeout(r, 120));
    await m.stop();
    expect(m.running).toBe(false);
    expect(m.status).toMatchObject({ name: 'lag-monitor', running: false, degraded: false });
    const at = m.latest()!.evaluatedAtMs;
    await new Promise((r) => setTimeout(r, 60));
    expect(m.latest()!.evaluatedAtMs).toBe(at);
    expect(await gauge(metrics.consumerRunning, { consumer: 'lag-monitor' })).toBe(0);
  });

  it('a failing evaluation is reported in its status and the next tick recovers', async () => {
    await append('busy', 1);
    await log.commit('g', 'busy', 0, 0);
    const m = monitor({ topic: 'no-such-topic' });
    await expect(m.tick()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(m.status).toMatchObject({ degraded: true });
    expect(m.status.lastError).toContain('NOT_FOUND');
    await log.ensureTopics([{ name: 'no-such-topic', partitions: 1, compacted: false, retentionMs: -1 }]);
    await m.tick();
    expect(m.status).toMatchObject({ degraded: false, lastError: null });
  });
});
