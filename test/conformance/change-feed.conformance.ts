import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChangeFeed, ChangeFeedEntry } from '../../ports/change-feed.ts';
import type { DocumentStore } from '../../ports/document-store.ts';
import { parseChangeRecord, type ParsedChange } from '../../schemas/change-event.ts';
import { CDC_TOPIC } from '../../schemas/topics.ts';

/**
 * The ChangeFeed contract, written against the ports, run against every adapter: the SQLite
 * store's outbox here, a MongoDB change stream wherever MONGODB_URL reaches a replica set. The
 * fixture's store writes; the feed must hand out the changes in order, as the CDC topic's records,
 * from the committed position, to one lease holder at a time.
 */
export interface ChangeFeedFixture {
  feed: ChangeFeed;
  store: DocumentStore;
  /** A second feed over the same changes (another relay process). */
  other(): Promise<ChangeFeed>;
  cleanup(): Promise<void>;
}

const item = (id: string, content: string) => ({ id, category: 'post', author: 'Ada', content });

export function describeChangeFeedConformance(name: string, factory: () => Promise<ChangeFeedFixture>): void {
  describe(`ChangeFeed conformance: ${name}`, () => {
    let fx: ChangeFeedFixture;
    const signal = new AbortController().signal;
    beforeEach(async () => { fx = await factory(); expect(await fx.feed.acquireLease('relay-a', 30_000)).toBe(true); });
    afterEach(async () => { await fx.cleanup(); });

    /** Reads until `n` entries came (or 20 reads found nothing more). */
    async function readN(feed: ChangeFeed, n: number): Promise<{ entries: ChangeFeedEntry[]; position: string | null }> {
      const entries: ChangeFeedEntry[] = [];
      let position: string | null = null;
      for (let idle = 0; entries.length < n && idle < 20;) {
        const b = await feed.read(100, 200, signal);
        if (b.entries.length === 0) idle++;
        entries.push(...b.entries);
        position = b.position ?? position;
      }
      return { entries, position };
    }
    const parsed = (entries: ChangeFeedEntry[]): ParsedChange[] => entries.map((e, i) => parseChangeRecord({ key: e.record.key, value: e.record.value, offset: i }));

    it('hands out every change in write order as CDC records: create, update, delete and its tombstone', async () => {
      await fx.store.put([item('f1', 'one')]);
      await fx.store.put([item('f1', 'one, edited')]);
      await fx.store.put([item('f2', 'two')]);
      await fx.store.delete('f1');
      const { entries } = await readN(fx.feed, 5);
      expect(entries.every((e) => e.topic === CDC_TOPIC)).toBe(true);
      const changes = parsed(entries);
      expect(changes.map((c) => `${c.kind === 'upsert' ? c.op : c.kind}:${c.kind === 'skip' ? '' : c.docId}`)).toEqual(['c:f1', 'u:f1', 'c:f2', 'delete:f1', 'skip:']);
      expect(entries[4]!.record.value).toBeNull(); // the tombstone after the delete
      const f1 = changes.filter((c) => c.kind !== 'skip' && c.docId === 'f1').map((c) => (c.kind === 'skip' ? 0 : c.version ?? 0));
      for (let i = 1; i < f1.length; i++) expect(f1[i]!).toBeGreaterThan(f1[i - 1]!);
      const u = changes[1]!;
      expect(u.kind === 'upsert' && u.document.content).toBe('one, edited');
    });

    it('continues after the last read; rewind goes back to the committed position', async () => {
      await fx.store.put([item('p1', 'a')]);
      const first = await readN(fx.feed, 1);
      expect(first.position).not.toBeNull();
      expect(await fx.feed.commit('relay-a', first.position!)).toBe(true);
      await fx.store.put([item('p2', 'b')]);
      const second = await readN(fx.feed, 1);
      expect(parsed(second.entries).map((c) => (c.kind === 'skip' ? '' : c.docId))).toEqual(['p2']);
      // not committed: after a rewind the same change comes again, and nothing before the commit
      await fx.feed.rewind();
      const again = await readN(fx.feed, 1);
      expect(parsed(again.entries).map((c) => (c.kind === 'skip' ? '' : c.docId))).toEqual(['p2']);
    });

    it('a read with nothing new waits, then returns no entries', async () => {
      const t0 = performance.now();
      const b = await fx.feed.read(10, 150, signal);
      expect(b.entries).toEqual([]);
      expect(performance.now() - t0).toBeLessThan(5_000);
    });

    it('one lease holder at a time; a commit by anyone else saves nothing', async () => {
      const other = await fx.other();
      expect(await other.acquireLease('relay-b', 30_000)).toBe(false);
      await fx.store.put([item('l1', 'x')]);
      const b = await readN(other, 1);
      expect(b.position).not.toBeNull();
      expect(await other.commit('relay-b', b.position!)).toBe(false);
      await fx.feed.releaseLease('relay-a');
      expect(await other.acquireLease('relay-b', 30_000)).toBe(true);
      // relay-a's position was never committed: the new holder gets the change
      await other.rewind();
      expect(parsed((await readN(other, 1)).entries).map((c) => (c.kind === 'skip' ? '' : c.docId))).toEqual(['l1']);
      await other.close();
    });
  });
}
