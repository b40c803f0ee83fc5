import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { EmbeddedEventLog } from '../../adapters/event-log/embedded/embedded-event-log.ts';
import { openDatabase } from '../../adapters/sqlite/open-database.ts';
import { buildEnvelope, buildKey } from '../../schemas/change-event.ts';
import { documentIdFor } from '../../schemas/ids.ts';
import { CDC_TOPIC } from '../../schemas/topics.ts';
import { loadConfig } from '../../wiring/config.ts';
import { assertIndexExact as assertIndexExactly, makeItem as makeSharedItem, type Item } from '../helpers/index-expectations.ts';
import { describeWith } from '../helpers/ci.ts';
import { indexTargets, type IndexTarget } from '../helpers/index-target.ts';
import { api, caughtUp, sleep, startSystem as startSystemWith, waitUntil, type RunningSystem } from './harness.ts';

/**
 * End to end over HTTP: `tributary dev` in a child process (what `npm start` runs), driven only
 * through its API, with the index checked point by point after it stopped.
 */

const DIM = loadConfig({}).hashingDimension;

/** The e2e documents are a little longer than the helper's default: 60–300 words. */
const makeItem = (i: number, rev = 0, source = 'e2e'): Item => makeSharedItem(i, rev, source, 60 + (i % 7) * 40);

async function publish(url: string, items: Item[]): Promise<string[]> {
  const r = await api<{ ids: string[] }>(url, 'POST', '/v1/content', { items });
  if (r.status !== 202) throw new Error(`publish failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.ids;
}

async function search(url: string, query: string, k = 5): Promise<Array<{ docId: string; text: string }>> {
  const r = await api<{ hits: Array<{ docId: string; text: string }> }>(url, 'POST', '/v1/search', { query, k });
  if (r.status !== 200) throw new Error(`search failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.hits;
}

for (const { kind, make: makeTarget, need } of indexTargets()) describeWith(need, `end to end over HTTP (embedded store and log, ${kind} index, child process)`, () => {
  let dataDir: string;
  let sys: RunningSystem | null = null;
  let target: IndexTarget;
  const startSystem = (dir: string) => startSystemWith(dir, target.env());
  const assertIndexExact = (dir: string, expected: Map<string, Item>) => assertIndexExactly(target, dir, DIM, expected);
  beforeAll(() => { dataDir = mkdtempSync(join(tmpdir(), 'tributary-e2e-')); });
  beforeEach(() => { target = makeTarget(); });
  afterEach(async () => {
    if (sys) { await sys.stop(); sys = null; }
    await target.cleanup();
  });
  afterAll(() => { rmSync(dataDir, { recursive: true, force: true }); });

  it('publish 500 → all searchable; update → old text gone, new found, no stale chunks; delete → no chunk left', async () => {
    const dir = join(dataDir, 'crud');
    sys = await startSystem(dir);
    const items = Array.from({ length: 500 }, (_, i) => makeItem(i));
    const ids: string[] = [];
    for (let i = 0; i < items.length; i += 100) ids.push(...await publish(sys.url, items.slice(i, i + 100)));
    expect(new Set(ids).size).toBe(500);
    expect(ids[7]).toBe(documentIdFor('e2e', 'doc-7'));
    await waitUntil(() => caughtUp(sys!.url), 60_000, 'pipeline caught up');
    // sample searches by each document's unique marker
    for (const i of [0, 1, 99, 250, 377, 499]) {
      const hits = await search(sys.url, `marker${i}r0`);
      expect(hits[0]?.docId, `marker${i}r0`).toBe(ids[i]);
    }

    // update document 42: the new marker is found, the old one is nowhere in the index
    const updated = makeItem(42, 1);
    expect(await publish(sys.url, [updated])).toEqual([ids[42]]);
    await waitUntil(async () => (await search(sys!.url, 'marker42r1'))[0]?.docId === ids[42], 10_000, 'update searchable');
    const afterUpdate = await search(sys.url, 'marker42r0', 20);
    expect(afterUpdate.some((h) => h.text.includes('marker42r0'))).toBe(false);

    // delete document 7
    expect((await api(sys.url, 'DELETE', `/v1/content/${ids[7]}`)).status).toBe(202);
    expect((await api(sys.url, 'DELETE', '/v1/content/no-such-document')).status).toBe(404);
    await waitUntil(() => caughtUp(sys!.url), 10_000, 'delete applied');
    const afterDelete = await search(sys.url, 'marker7r0', 20);
    expect(afterDelete.some((h) => h.docId === ids[7])).toBe(false);

    expect(await sys.stop()).toBe(0);
    sys = null;
    const expected = new Map(items.map((it, i) => [ids[i]!, i === 42 ? updated : it]));
    expected.delete(ids[7]!);
    await assertIndexExact(dir, expected);
  }, 90_000);

  it('1% malformed change events all land in the DLQ with reasons; every valid document is indexed', async () => {
    const dir = join(dataDir, 'dlq');
    sys = await startSystem(dir);
    const items = Array.from({ length: 495 }, (_, i) => makeItem(i, 0, 'dlq'));
    // a second writer on the CDC topic (as a misbehaving connector would be)
    const db = openDatabase({ path: join(dir, 'tributary.db'), synchronous: 'normal' });
    const log = new EmbeddedEventLog({ db, maxRecordBytes: 8 << 20 });
    const bad = [
      { key: 'bad-1', value: new TextEncoder().encode('{not json') },
      { key: 'bad-2', value: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) },
      { key: buildKey('bad-3'), value: new TextEncoder().encode(JSON.stringify(buildEnvelope({ op: 'c', db: 'tributary', collection: 'documents', tsMs: Date.now(), ord: 1, after: { _id: 'bad-3', author: 'x', content: 'no category' } }))) },
      { key: 'bad-4', value: new TextEncoder().encode(JSON.stringify({ op: 'z', source: { ts_ms: 1 } })) },
      { key: 'bad-5', value: new TextEncoder().encode('[1,2,3]') },
    ];
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(...await publish(sys.url, items.slice(i * 99, (i + 1) * 99)));
      await log.append(CDC_TOPIC, [bad[i]!]);
    }
    db.close();
    await waitUntil(() => caughtUp(sys!.url), 60_000, 'pipeline caught up');
    const dlq = await api<{ entries: Array<{ key: string; code: string; message: string; stage: string; sourceTopic: string }> }>(sys.url, 'GET', '/v1/ops/dlq?limit=100');
    expect(dlq.status).toBe(200);
    const entries = dlq.body.entries;
    expect(entries.map((e) => e.key).sort()).toEqual(bad.map((b) => b.key).sort());
    for (const e of entries) {
      expect(e.stage).toBe('clean');
      expect(e.sourceTopic).toBe(CDC_TOPIC);
      expect(['MALFORMED_EVENT', 'SCHEMA_VIOLATION']).toContain(e.code);
      expect(e.message.length).toBeGreaterThan(10);
    }
    expect(entries.find((e) => e.key === buildKey('bad-3'))!.message).toContain('category');
    expect(await sys.stop()).toBe(0);
    sys = null;
    await assertIndexExact(dir, new Map(items.map((it, i) => [ids[i]!, it])));
  }, 90_000); // waits up to 60 s for the pipeline, after a child process start (the API and two pipeline threads load their modules)

  it('kill -9 at random points 10 times during ingestion; after restarts the index is exactly the expected set', async () => {
    const dir = join(dataDir, 'crash');
    const N = 400;
    const expected = new Map<number, Item | null>();
    // the work: create N docs, update every 5th, delete every 11th — as a list of operations
    const ops: Array<{ kind: 'put'; items: Array<{ i: number; item: Item }> } | { kind: 'delete'; i: number }> = [];
    for (let i = 0; i < N; i += 20) ops.push({ kind: 'put', items: Array.from({ length: 20 }, (_, j) => ({ i: i + j, item: makeItem(i + j, 0, 'crash') })) });
    for (let i = 0; i < N; i += 5) ops.push({ kind: 'put', items: [{ i, item: makeItem(i, 1, 'crash') }] });
    for (let i = 3; i < N; i += 11) ops.push({ kind: 'delete', i });
    let next = 0;
    let kills = 0;
    const idOf = (i: number) => documentIdFor('crash', `doc-${i}`);
    sys = await startSystem(dir);
    while (next < ops.length || kills < 10) {
      // a kill at a random moment: mid-request, mid-batch, mid-commit, or while consumers catch up
      const victim = sys;
      const timer = kills < 10 ? setTimeout(() => victim.child.kill('SIGKILL'), 30 + Math.floor(Math.random() * 400)) : null;
      while (next < ops.length) {
        const op = ops[next]!;
        try {
          if (op.kind === 'put') {
            await publish(sys.url, op.items.map((x) => x.item));
            for (const x of op.items) expected.set(x.i, x.item);
          } else {
            const r = await api(sys.url, 'DELETE', `/v1/content/${idOf(op.i)}`);
            if (r.status !== 202 && r.status !== 404) throw new Error(`delete ${r.status}`);
            expected.set(op.i, null);
          }
          next++;
        } catch {
          break; // the process died under us: the same operation is sent again after restart (idempotent)
        }
      }
      if (timer) {
        await new Promise<void>((r) => { if (victim.child.exitCode !== null || victim.child.signalCode !== null) r(); else victim.child.once('exit', () => r()); });
        clearTimeout(timer);
        kills++;
        sys = await startSystem(dir);
      }
    }
    expect(kills).toBe(10);
    await waitUntil(() => caughtUp(sys!.url), 60_000, 'pipeline caught up after crashes');
    await sleep(100);
    expect(await sys.stop()).toBe(0);
    sys = null;
    const want = new Map<string, Item>();
    for (const [i, item] of expected) if (item) want.set(idOf(i), item);
    await assertIndexExact(dir, want);
    // eleven starts of a child process (each loads the TypeScript sources and opens the store, log and index) and a catch-up
  }, 180_000);
});
