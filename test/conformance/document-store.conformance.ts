import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DocumentStore } from '../../ports/document-store.ts';
import type { EventLog, LogRecord } from '../../ports/event-log.ts';
import { parseChangeRecord, type ParsedChange } from '../../schemas/change-event.ts';

/**
 * Document store + change feed conformance, written against the ports only. A fixture gives the
 * store and a way to read the change events it produced (from the CDC topic, whichever path —
 * transactional feed, Debezium or the relay — put them there).
 */
export interface DocumentStoreFixture {
  store: DocumentStore;
  /**
   * All change events emitted so far, in per-document order; absent where the fixture has no change
   * feed (a MongoDB wire server without change streams): the event assertions are then left out.
   */
  changes?: () => Promise<LogRecord[]>;
  /** false: the server has no multi-document transactions (a batch is an ordered bulk write). */
  atomicBatches?: boolean;
  /** false: snapshot events come from the change feed (MongoDB), not from store.snapshot(). */
  storeSnapshots?: boolean;
  cleanup(): Promise<void>;
  reopen?: () => Promise<DocumentStore>;
}

export function cdcReader(log: EventLog, topic: string): () => Promise<LogRecord[]> {
  return async () => {
    const out: LogRecord[] = [];
    for (const o of await log.offsets(topic)) out.push(...await log.read(topic, o.partition, o.start, 1_000_000));
    return out;
  };
}

const item = (over: Record<string, unknown> = {}) => ({ category: 'article', author: 'Ada', content: 'Kafka keeps an ordered log.', title: 'Logs', ...over });

export function describeDocumentStoreConformance(name: string, factory: () => Promise<DocumentStoreFixture>): void {
  describe(`DocumentStore + change feed conformance: ${name}`, () => {
    let fx: DocumentStoreFixture;
    beforeEach(async () => { fx = await factory(); });
    afterEach(async () => { await fx.cleanup(); });

    const parsed = async (): Promise<ParsedChange[]> => (await fx.changes!()).map((r) => parseChangeRecord(r));
    /** Runs the change-event assertions only where the fixture has a change feed. */
    const withEvents = async (check: (events: ParsedChange[]) => void | Promise<void>) => { if (fx.changes) await check(await parsed()); };

    it('stores raw content as received and emits a create event with the full document', async () => {
      const raw = '<p>Hello&nbsp;<b>world</b></p>\n\n  spaced  ';
      const [r] = await fx.store.put([item({ content: raw, metadata: { lang: 'en' } })]);
      expect(r!.outcome).toBe('created');
      const doc = await fx.store.get(r!.id);
      expect(doc?.content).toBe(raw);
      expect(doc?.metadata).toEqual({ lang: 'en' });
      await withEvents((events) => {
        expect(events).toHaveLength(1);
        const e = events[0]!;
        expect(e.kind).toBe('upsert');
        if (e.kind === 'upsert') {
          expect(e.op).toBe('c');
          expect(e.docId).toBe(r!.id);
          expect(e.document.content).toBe(raw);
        }
      });
    });

    it('same source + externalId is the same document; identical content emits nothing, changed content an update with a newer version', async () => {
      const [a] = await fx.store.put([item({ source: 'blog', externalId: 'post-1' })]);
      const [b] = await fx.store.put([item({ source: 'blog', externalId: 'post-1' })]);
      expect(b!.id).toBe(a!.id);
      expect(b!.outcome).toBe('unchanged');
      const [c] = await fx.store.put([item({ source: 'blog', externalId: 'post-1', content: 'changed text' })]);
      expect(c!.id).toBe(a!.id);
      expect(c!.outcome).toBe('updated');
      expect(await fx.store.count()).toBe(1);
      expect((await fx.store.get(a!.id))?.content).toBe('changed text');
      await withEvents((events) => {
        expect(events.map((e) => e.kind === 'upsert' ? e.op : e.kind)).toEqual(['c', 'u']);
        const [e1, e2] = events as Array<Extract<ParsedChange, { kind: 'upsert' }>>;
        expect(e2!.version).toBeGreaterThan(e1!.version);
        expect(e2!.document.content).toBe('changed text');
      });
    });

    it('versions strictly increase across many quick writes to one document', async () => {
      for (let i = 0; i < 30; i++) await fx.store.put([item({ id: 'same-doc', content: `v${i}` })]);
      expect((await fx.store.get('same-doc'))?.content).toBe('v29');
      await withEvents((events) => {
        const versions = events.map((e) => (e.kind === 'upsert' ? e.version : -1));
        expect(versions).toHaveLength(30);
        for (let i = 1; i < versions.length; i++) expect(versions[i]!).toBeGreaterThan(versions[i - 1]!);
      });
    });

    it('delete emits a delete event (with a version newer than the last write); unknown id → false', async () => {
      const [a] = await fx.store.put([item()]);
      expect(await fx.store.delete(a!.id)).toBe(true);
      expect(await fx.store.get(a!.id)).toBeNull();
      expect(await fx.store.delete(a!.id)).toBe(false);
      expect(await fx.store.delete('does-not-exist')).toBe(false);
      await withEvents((all) => {
        const events = all.filter((e) => e.kind !== 'skip');
        expect(events.map((e) => e.kind)).toEqual(['upsert', 'delete']);
        const [c, d] = events as [Extract<ParsedChange, { kind: 'upsert' }>, Extract<ParsedChange, { kind: 'delete' }>];
        expect(d.docId).toBe(a!.id);
        expect(d.version!).toBeGreaterThan(c.version);
      });
    });

    it('a batch is written atomically with its events', async () => {
      const res = await fx.store.put([item({ id: 'a1' }), item({ id: 'a2' }), item({ id: 'a3' })]);
      expect(res.map((r) => r.outcome)).toEqual(['created', 'created', 'created']);
      await withEvents((events) => expect(events.filter((e) => e.kind === 'upsert').map((e) => e.docId).sort()).toEqual(['a1', 'a2', 'a3']));
    });

    it('a batch that cannot be written leaves nothing of itself (where the server has transactions)', async () => {
      if (fx.atomicBatches === false) return;
      await fx.store.put([item({ id: 'keep', source: 'feed', externalId: 'x-1' })]);
      // the second item collides with the first's (source, externalId) under another id
      await expect(fx.store.put([item({ id: 'b1' }), item({ id: 'b2', source: 'feed', externalId: 'x-1' })])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      expect(await fx.store.get('b1')).toBeNull();
      expect(await fx.store.count()).toBe(1);
    });

    it('one document per source + externalId, even under another explicit id; batches keep their order', async () => {
      const [k] = await fx.store.put([item({ id: 'first', source: 'feed', externalId: 'y-1' })]);
      expect(k!.id).toBe('first');
      await expect(fx.store.put([item({ id: 'second', source: 'feed', externalId: 'y-1' })])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      expect(await fx.store.get('second')).toBeNull();
      const res = await fx.store.put([item({ id: 'o1', content: 'one' }), item({ id: 'o2' }), item({ id: 'o1', content: 'one, again' })]);
      expect(res.map((r) => `${r.id}:${r.outcome}`)).toEqual(['o1:created', 'o2:created', 'o1:updated']);
      expect((await fx.store.get('o1'))?.content).toBe('one, again');
      expect(await fx.store.get('unknown')).toBeNull();
    });

    it('snapshot emits an "r" event for every document', async () => {
      if (!fx.changes || fx.storeSnapshots === false) return;
      await fx.store.put([item({ id: 's1' }), item({ id: 's2' })]);
      expect(await fx.store.snapshot()).toBe(2);
      const snaps = (await parsed()).filter((e) => e.kind === 'upsert' && e.op === 'r');
      expect(snaps.map((e) => e.docId).sort()).toEqual(['s1', 's2']);
    });

    it('acknowledged writes survive reopening', async () => {
      if (!fx.reopen) return;
      const [a] = await fx.store.put([item({ content: 'persist me' })]);
      const s2 = await fx.reopen();
      expect((await s2.get(a!.id))?.content).toBe('persist me');
    });
  });
}
