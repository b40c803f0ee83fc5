import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedEventLog } from '../../../adapters/event-log/embedded/embedded-event-log.ts';
import { EmbeddedDocumentStore } from '../../../adapters/document-store/embedded/embedded-document-store.ts';
import { SqliteChangeOutbox } from '../../../adapters/change-feed/outbox/sqlite-change-outbox.ts';
import { openDatabase } from '../../../adapters/sqlite/open-database.ts';
import { TributaryError } from '../../../ports/errors.ts';
import type { AppendResult, ProducerRecord } from '../../../ports/event-log.ts';
import { ChangeFeedRelay } from '../../../connectors/relay/change-feed-relay.ts';
import { OutboxChangeFeed } from '../../../adapters/change-feed/outbox/outbox-change-feed.ts';
import { parseChangeRecord } from '../../../schemas/change-event.ts';
import { CDC_TOPIC, WAREHOUSE_COLLECTION, WAREHOUSE_DB, topicSpecs } from '../../../schemas/topics.ts';

/** An event log that refuses appends while `down` (a broker outage), and records what it was asked. */
class FlakyLog extends EmbeddedEventLog {
  down = false;
  attempts = 0;
  override async append(topic: string, records: ProducerRecord[]): Promise<AppendResult[]> {
    this.attempts++;
    if (this.down) throw new TributaryError('LOG_UNAVAILABLE', 'broker unreachable');
    return super.append(topic, records);
  }
}

async function until(pred: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('change outbox + relay (the embedded store feeding an external log)', () => {
  let dir: string; let storeDb: DatabaseSync; let logDb: DatabaseSync; let log: FlakyLog; let outbox: SqliteChangeOutbox; let store: EmbeddedDocumentStore;
  const relays: ChangeFeedRelay[] = [];
  const logger = pino({ level: 'silent' });
  const relay = (owner: string, leaseMs = 300) => {
    const r = new ChangeFeedRelay({ feed: new OutboxChangeFeed(outbox), log, logger, pollMs: 10, leaseMs, owner, retry: { baseMs: 5, maxMs: 20 } });
    relays.push(r);
    return r;
  };
  const cdc = async () => {
    const out = [];
    for (const o of await log.offsets(CDC_TOPIC)) out.push(...await log.read(CDC_TOPIC, o.partition, 0, 100_000));
    return out;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-outbox-'));
    storeDb = openDatabase({ path: join(dir, 'store.db'), synchronous: 'normal' });
    logDb = openDatabase({ path: join(dir, 'log.db'), synchronous: 'normal' });
    log = new FlakyLog({ db: logDb, maxRecordBytes: 1 << 20, pollIntervalMs: 10 });
    log.ensureTopicsSync(topicSpecs(3));
    outbox = new SqliteChangeOutbox(storeDb);
    store = new EmbeddedDocumentStore({ db: storeDb, log: outbox, cdcTopic: CDC_TOPIC, database: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION });
  });
  afterEach(async () => {
    for (const r of relays.splice(0)) await r.stop();
    await log.close();
    storeDb.close(); logDb.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a write and its change event commit together; the relay delivers them in order and empties the outbox', async () => {
    const [a] = await store.put([{ category: 'article', author: 'ada', content: 'one', source: 's', externalId: '1' }]);
    await store.put([{ category: 'article', author: 'ada', content: 'two', source: 's', externalId: '1' }]);
    await store.delete(a!.id);
    expect(outbox.stats().pending).toBe(4); // create, update, delete, tombstone
    expect(await cdc()).toHaveLength(0);
    relay('r1').start();
    await until(() => outbox.stats().pending === 0);
    const events = (await cdc()).map((r) => parseChangeRecord(r));
    expect(events.map((e) => e.kind)).toEqual(['upsert', 'upsert', 'delete', 'skip']);
    expect(events.map((e) => ('op' in e ? e.op : 'tombstone'))).toEqual(['c', 'u', 'd', 'tombstone']);
  });

  it('a rolled-back write leaves no change event', async () => {
    expect(() => storeDb.exec('BEGIN IMMEDIATE')).not.toThrow();
    outbox.appendSync(CDC_TOPIC, [{ key: 'k', value: new TextEncoder().encode('{}') }]);
    storeDb.exec('ROLLBACK');
    expect(outbox.stats().pending).toBe(0);
  });

  it('while the log is down, writes keep landing in the outbox; the relay retries and delivers everything once it is back', async () => {
    log.down = true;
    relay('r1').start();
    for (let i = 0; i < 20; i++) await store.put([{ category: 'post', author: 'bob', content: `post ${i}`, source: 's', externalId: String(i) }]);
    await until(() => log.attempts >= 3);
    expect(outbox.stats().pending).toBe(20);
    log.down = false;
    await until(() => outbox.stats().pending === 0);
    const ids = new Set((await cdc()).map((r) => parseChangeRecord(r).docId));
    expect(ids.size).toBe(20);
  });

  it('one relay at a time holds the lease; another takes over when it stops, and nothing is skipped', async () => {
    const r1 = relay('r1', 200);
    const r2 = relay('r2', 200);
    r1.start();
    await until(() => r1.status.active);
    r2.start();
    for (let i = 0; i < 10; i++) await store.put([{ category: 'post', author: 'c', content: `a${i}`, source: 's', externalId: `a${i}` }]);
    await until(() => outbox.stats().pending === 0);
    expect(r2.status.active).toBe(false);
    expect(r2.status.relayed).toBe(0);
    await r1.stop(); // releases the lease
    for (let i = 0; i < 10; i++) await store.put([{ category: 'post', author: 'c', content: `b${i}`, source: 's', externalId: `b${i}` }]);
    await until(() => outbox.stats().pending === 0);
    expect(r2.status.relayed).toBe(10);
    expect(new Set((await cdc()).map((r) => parseChangeRecord(r).docId)).size).toBe(20);
  });

  it('a relay that lost its lease mid-batch cannot mark progress (the new relay re-sends: duplicates, never gaps)', async () => {
    await store.put([{ category: 'post', author: 'c', content: 'x', source: 's', externalId: 'x' }]);
    expect(outbox.acquireLease('old', 50)).toBe(true);
    const [row] = outbox.pending(10);
    await new Promise((r) => setTimeout(r, 80)); // old relay stalls past its lease
    expect(outbox.acquireLease('new', 1000)).toBe(true);
    expect(outbox.markRelayed('old', row!.seq)).toBe(false);
    expect(outbox.stats().pending).toBe(1);
    expect(outbox.markRelayed('new', row!.seq)).toBe(true);
    expect(outbox.stats().pending).toBe(0);
  });
});
