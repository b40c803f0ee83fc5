import { afterEach, expect, it } from 'vitest';
import { pino } from 'pino';
import { KafkaEventLog, parseBrokers } from '../../adapters/event-log/kafka/kafka-event-log.ts';
import { isValidTraceparent } from '../../adapters/event-log/kafka/trace-context.ts';
import type { LogRecord, Subscription } from '../../ports/event-log.ts';
import { describeKafka } from '../setup/kafka-env.ts';
import { sleep, waitUntil } from './harness.ts';

/**
 * What the Kafka adapter adds beyond the port's conformance suite: group membership survives a
 * batch far longer than the session timeout (heartbeats go on while the handler works — kafkajs's
 * eachMessage would starve them, tulios/kafkajs#1083), and a rebalance that starts during a batch
 * lets that batch finish and commit instead of handing its records to another member.
 */

const SESSION_MS = 3_000;
let seq = 0;
const unique = (p: string) => `kafka-adapter.${p}.${process.pid}.${Date.now().toString(36)}.${seq++}`;

describeKafka('Kafka event log (adapter-specific)', (brokers) => {
  const logs: KafkaEventLog[] = [];
  const subs: Subscription[] = [];
  const open = () => {
    const log = new KafkaEventLog({
      brokers: parseBrokers(brokers), clientId: 'tributary-adapter-test', logger: pino({ level: 'silent' }), maxRecordBytes: 1 << 20,
      replicationFactor: -1, sessionTimeoutMs: SESSION_MS, rebalanceTimeoutMs: 30_000, partitionConcurrency: 2, fetchMaxWaitMs: 100,
    });
    logs.push(log);
    return log;
  };
  afterEach(async () => {
    await Promise.all(subs.splice(0).map((s) => s.stop()));
    for (const l of logs.splice(0)) await l.close();
  });

  it('every record carries a W3C traceparent; a given one is kept', async () => {
    const log = open();
    const t = unique('trace');
    await log.ensureTopics([{ name: t, partitions: 1, compacted: false, retentionMs: -1 }]);
    const given = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await log.append(t, [{ key: 'a', value: Buffer.from('1') }, { key: 'a', value: Buffer.from('2'), headers: { traceparent: given } }]);
    const [r1, r2] = await log.read(t, 0, 0, 2);
    expect(isValidTraceparent(r1!.headers['traceparent'])).toBe(true);
    expect(r2!.headers['traceparent']).toBe(given);
  });

  it('a batch that takes 3× the session timeout keeps its partitions (heartbeats continue) and is delivered and committed once', async () => {
    const a = open(); const b = open();
    const t = unique('slow');
    const group = unique('g');
    await a.ensureTopics([{ name: t, partitions: 2, compacted: false, retentionMs: -1 }]);
    const seenA: LogRecord[] = []; const seenB: LogRecord[] = [];
    let slowDone = false;
    subs.push(a.subscribe({ group, topics: [t], fromBeginning: true }, async (batch) => {
      seenA.push(...batch.records);
      if (!slowDone) { await sleep(SESSION_MS * 3); slowDone = true; }
    }));
    await sleep(1500);
    subs.push(b.subscribe({ group, topics: [t], fromBeginning: true }, async (batch) => { seenB.push(...batch.records); }));
    await sleep(2500); // both members settled: one partition each
    await a.append(t, Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(String(i)) })));
    await waitUntil('everything delivered and committed', async () => {
      const committed = (await a.groupOffsets(group)).reduce((s, o) => s + o.committed, 0);
      return slowDone && committed === 40;
    }, 60_000, 100);
    await sleep(500);
    const all = [...seenA, ...seenB].map((r) => `${r.partition}/${r.offset}`);
    expect(all.length, 'no record delivered twice (no member lost its partitions during the slow batch)').toBe(40);
    expect(new Set(all).size).toBe(40);
  });

  it('a rebalance that starts during a batch lets it finish and commit: the new member does not redo it', async () => {
    const a = open(); const b = open();
    const t = unique('rebalance');
    const group = unique('g');
    await a.ensureTopics([{ name: t, partitions: 4, compacted: false, retentionMs: -1 }]);
    await a.append(t, Array.from({ length: 40 }, (_, i) => ({ key: `key-${i}`, value: Buffer.from(String(i)) })));
    const seen: string[] = [];
    let inBatch = false; let firstBatchDone = false;
    subs.push(a.subscribe({ group, topics: [t], fromBeginning: true, maxBatchRecords: 100 }, async (batch) => {
      if (!firstBatchDone) {
        inBatch = true;
        await sleep(2_500); // a second member joins meanwhile
        firstBatchDone = true;
      }
      seen.push(...batch.records.map((r) => `${r.partition}/${r.offset}`));
    }));
    await waitUntil('member a mid-batch', () => inBatch, 30_000, 10);
    subs.push(b.subscribe({ group, topics: [t], fromBeginning: true }, async (batch) => { seen.push(...batch.records.map((r) => `${r.partition}/${r.offset}`)); }));
    await waitUntil('everything committed', async () => (await a.groupOffsets(group)).reduce((s, o) => s + o.committed, 0) === 40, 60_000, 100);
    await sleep(1_000);
    expect(seen.length).toBe(40);
    expect(new Set(seen).size).toBe(40);
  });
});
