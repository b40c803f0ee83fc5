import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventLog, LogRecord, Subscription } from '../../ports/event-log.ts';
import type { TopicSpec } from '../../schemas/topics.ts';

/**
 * The event-log port's conformance suite, written only against the port. Every adapter (embedded
 * SQLite log, Kafka) runs it through a factory. Each test uses its own topic and group names.
 */
export interface EventLogFixture {
  log: EventLog;
  cleanup(): Promise<void>;
  /** Reopen the same log (for durability checks); undefined when the adapter can't. */
  reopen?: () => Promise<EventLog>;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

let seq = 0;
const unique = (p: string) => `conf.${p}.${process.pid}.${Date.now().toString(36)}.${seq++}`;

async function waitFor(pred: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met in time');
}

export function describeEventLogConformance(name: string, factory: () => Promise<EventLogFixture>): void {
  describe(`EventLog conformance: ${name}`, () => {
    let fx: EventLogFixture;
    const subs: Subscription[] = [];
    beforeEach(async () => { fx = await factory(); });
    afterEach(async () => {
      await Promise.all(subs.splice(0).map((s) => s.stop()));
      await fx.cleanup();
    });

    const topic = async (partitions = 3, compacted = false): Promise<string> => {
      const spec: TopicSpec = { name: unique('t'), partitions, compacted, retentionMs: -1 };
      await fx.log.ensureTopics([spec]);
      return spec.name;
    };

    it('assigns increasing offsets per partition and keeps one key on one partition, in order', async () => {
      const t = await topic(3);
      const results = [];
      for (let i = 0; i < 20; i++) results.push(...await fx.log.append(t, [{ key: `doc-${i % 4}`, value: enc(`v${i}`) }]));
      const byKey = new Map<string, Set<number>>();
      results.forEach((r, i) => {
        const k = `doc-${i % 4}`;
        byKey.set(k, (byKey.get(k) ?? new Set()).add(r.partition));
      });
      for (const parts of byKey.values()) expect(parts.size).toBe(1);
      const offs = await fx.log.offsets(t);
      expect(offs.reduce((s, o) => s + o.end, 0)).toBe(20);
      for (const o of offs) {
        const recs = await fx.log.read(t, o.partition, 0, 100);
        expect(recs.map((r) => r.offset)).toEqual([...Array(o.end).keys()]);
        // per-key order preserved
        const perKey = new Map<string, number[]>();
        for (const r of recs) perKey.set(r.key!, [...(perKey.get(r.key!) ?? []), Number(dec(r.value)!.slice(1))]);
        for (const list of perKey.values()) expect(list).toEqual([...list].sort((a, b) => a - b));
      }
    });

    it('round-trips keys, values, tombstones, headers and timestamps', async () => {
      const t = await topic(1);
      await fx.log.append(t, [
        { key: 'a', value: enc('héllo ✓'), headers: { traceparent: '00-abc-def-01', 'x-n': '1' }, timestamp: 1_700_000_000_000 },
        { key: 'a', value: null },
      ]);
      const [r0, r1] = await fx.log.read(t, 0, 0, 10);
      expect(r0!.key).toBe('a');
      expect(dec(r0!.value)).toBe('héllo ✓');
      expect(r0!.headers).toMatchObject({ traceparent: '00-abc-def-01', 'x-n': '1' });
      expect(r0!.timestamp).toBe(1_700_000_000_000);
      expect(r1!.value).toBeNull();
    });

    it('reads from an offset with a record limit', async () => {
      const t = await topic(1);
      await fx.log.append(t, Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: enc(String(i)) })));
      const recs = await fx.log.read(t, 0, 4, 3);
      expect(recs.map((r) => dec(r.value))).toEqual(['4', '5', '6']);
    });

    it('rejects records over the size limit without writing any of the batch', async () => {
      const t = await topic(1);
      const big = new Uint8Array(fx.log.capabilities.maxRecordBytes + 1);
      await expect(fx.log.append(t, [{ key: 'ok', value: enc('fine') }, { key: 'big', value: big }])).rejects.toMatchObject({ code: 'OVERSIZE_RECORD' });
      const offs = await fx.log.offsets(t);
      expect(offs[0]!.end).toBe(0);
    });

    it('partitions only grow when a topic is re-applied', async () => {
      const t = await topic(2);
      await fx.log.ensureTopics([{ name: t, partitions: 4, compacted: false, retentionMs: -1 }]);
      expect(await fx.log.partitionCount(t)).toBe(4);
      await fx.log.ensureTopics([{ name: t, partitions: 1, compacted: false, retentionMs: -1 }]);
      expect(await fx.log.partitionCount(t)).toBe(4);
    });

    it('delivers every record once to a group, in per-partition order, and commits after the handler', async () => {
      const t = await topic(3);
      const group = unique('g');
      await fx.log.append(t, Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 7}`, value: enc(String(i)) })));
      const seen: LogRecord[] = [];
      subs.push(fx.log.subscribe({ group, topics: [t], fromBeginning: true, maxBatchRecords: 8 }, async (b) => { seen.push(...b.records); }));
      await fx.log.append(t, Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 7}`, value: enc(String(50 + i)) })));
      await waitFor(() => seen.length >= 100);
      await waitFor(async () => {
        const committed = await fx.log.groupOffsets(group);
        return committed.reduce((s, c) => s + c.committed, 0) === 100;
      });
      expect(new Set(seen.map((r) => dec(r.value))).size).toBe(100);
      for (let p = 0; p < 3; p++) {
        const offsets = seen.filter((r) => r.partition === p).map((r) => r.offset);
        expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
      }
    });

    it('redelivers a batch whose handler failed (nothing committed, nothing lost)', async () => {
      const t = await topic(1);
      const group = unique('g');
      await fx.log.append(t, [{ key: 'x', value: enc('1') }, { key: 'x', value: enc('2') }]);
      let calls = 0;
      const got: string[] = [];
      subs.push(fx.log.subscribe({ group, topics: [t], fromBeginning: true }, async (b) => {
        calls++;
        if (calls === 1) throw new Error('transient');
        got.push(...b.records.map((r) => dec(r.value)!));
      }));
      await waitFor(() => got.length >= 2);
      expect(got).toEqual(['1', '2']);
      expect(calls).toBeGreaterThanOrEqual(2);
    });

    it('a new subscription resumes from the committed offset', async () => {
      const t = await topic(1);
      const group = unique('g');
      await fx.log.append(t, Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: enc(String(i)) })));
      const first: string[] = [];
      const s1 = fx.log.subscribe({ group, topics: [t], fromBeginning: true }, async (b) => { first.push(...b.records.map((r) => dec(r.value)!)); });
      await waitFor(() => first.length === 5);
      await s1.stop();
      expect((await fx.log.groupOffsets(group)).find((o) => o.topic === t)?.committed).toBe(5);
      await fx.log.append(t, [{ key: 'k', value: enc('5') }]);
      const second: string[] = [];
      subs.push(fx.log.subscribe({ group, topics: [t], fromBeginning: true }, async (b) => { second.push(...b.records.map((r) => dec(r.value)!)); }));
      await waitFor(() => second.length >= 1);
      await new Promise((r) => setTimeout(r, 200));
      expect(second).toEqual(['5']);
    });

    it('two members of a group split the partitions and together see everything exactly once', async () => {
      const t = await topic(4);
      const group = unique('g');
      const a: LogRecord[] = []; const b: LogRecord[] = [];
      subs.push(fx.log.subscribe({ group, topics: [t], fromBeginning: true }, async (batch) => { a.push(...batch.records); }));
      subs.push(fx.log.subscribe({ group, topics: [t], fromBeginning: true }, async (batch) => { b.push(...batch.records); }));
      await new Promise((r) => setTimeout(r, 300));
      await fx.log.append(t, Array.from({ length: 80 }, (_, i) => ({ key: `key-${i}`, value: enc(String(i)) })));
      await waitFor(() => a.length + b.length >= 80);
      await new Promise((r) => setTimeout(r, 200));
      const all = [...a, ...b].map((r) => dec(r.value));
      expect(new Set(all).size).toBe(80);
      expect(all.length).toBe(80);
      const pa = new Set(a.map((r) => r.partition)); const pb = new Set(b.map((r) => r.partition));
      for (const p of pa) expect(pb.has(p)).toBe(false);
    });

    it('pause stops delivery for a partition until resume', async () => {
      const t = await topic(1);
      const group = unique('g');
      let paused = false; let resumeFn: (() => void) | null = null;
      const got: string[] = [];
      subs.push(fx.log.subscribe({ group, topics: [t], fromBeginning: true, maxBatchRecords: 1 }, async (b, ctx) => {
        got.push(...b.records.map((r) => dec(r.value)!));
        if (!paused) { paused = true; ctx.pause(); resumeFn = () => ctx.resume(); }
      }));
      await fx.log.append(t, [{ key: 'k', value: enc('1') }, { key: 'k', value: enc('2') }]);
      await waitFor(() => got.length >= 1);
      await new Promise((r) => setTimeout(r, 300));
      expect(got).toEqual(['1']);
      resumeFn!();
      await waitFor(() => got.length >= 2);
      expect(got).toEqual(['1', '2']);
    });

    it('acknowledged appends survive reopening the log', async () => {
      if (!fx.reopen) return;
      const t = await topic(2);
      await fx.log.append(t, [{ key: 'durable', value: enc('yes') }]);
      const log2 = await fx.reopen();
      const offs = await log2.offsets(t);
      const p = offs.find((o) => o.end > 0)!;
      const [r] = await log2.read(t, p.partition, 0, 1);
      expect(dec(r!.value)).toBe('yes');
    });
  });
}
