import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import type { ProducerRecord } from '../ports/event-log.ts';
import { buildEnvelope, buildKey } from '../schemas/change-event.ts';
import { documentIdFor } from '../schemas/ids.ts';
import { CDC_TOPIC, Groups, Topics, WAREHOUSE_COLLECTION, WAREHOUSE_DB, topicSpecs } from '../schemas/topics.ts';
import { loadConfig } from '../wiring/config.ts';
import { createKafkaLog } from '../wiring/backbone.ts';
import { createSystem } from '../wiring/system.ts';
import { runKafkaProcessesBench, type KafkaProcessesResult } from './kafka-processes-bench.ts';
import { benchDocument, benchThroughput, measureFreshness } from './pipeline-bench.ts';

/**
 * The pipeline benchmarks in Kafka mode, on a real broker: the embedded workload (freshness at a
 * steady 100 documents/s, sustained chunks/s) with Kafka as the event log — the store's change
 * feed relayed to Kafka through the outbox, clean and embed consuming from Kafka — and the time to
 * drain a 100,000-message backlog of change events through clean and embed. With a Qdrant, the
 * freshness and throughput again with Qdrant as the index, then `consume clean` and 1 or 2
 * `consume embed` processes on the broker and Qdrant (kafka-processes-bench.ts: the scaling from 1 to
 * 2 embed processes, and where each process spends its time).
 *
 * The broker: KAFKA_BROKERS / `brokers` when given, else a one-node KRaft broker started from the
 * test fixture (test/setup/kafka-broker.ts; Java 17 and Maven needed on first use). Every
 * measurement starts from empty topics and groups. The pipeline runs in this process (what
 * `tributary dev` does in Kafka mode), so the figures compare the event logs, not process layouts.
 *
 *   node bench/kafka-bench.ts [--quick]     prints the result as JSON
 */

export interface KafkaBenchOptions {
  brokers?: string;
  quick?: boolean;
  log?: (line: string) => void;
  /** A Qdrant to measure freshness and chunks/s with as the index too (Kafka log + Qdrant, nothing shared on disk). */
  qdrantUrl?: string;
  /** Embedded-mode figures from the same run: when given, the result carries Kafka/embedded ratios. */
  embedded?: { freshness?: { p50Ms: number; p99Ms: number }; throughput?: { chunksPerSecond: number } };
}

export interface KafkaBenchResult {
  broker: string;
  /**
   * Steady state: measured once the pipeline is live (the consumers have joined their groups and a
   * first document went through: `warmUpMs`, reported apart); then 100 documents/s, publish → indexed.
   */
  freshness: { rate: number; seconds: number; p50Ms: number; p99Ms: number; maxMs: number; documents: number; warmUpMs: number };
  throughput: { documents: number; chunks: number; seconds: number; chunksPerSecond: number; documentsPerSecond: number };
  backlog: { messages: number; produceSeconds: number; cleanDrainSeconds: number; drainSeconds: number; messagesPerSecond: number; chunks: number };
  /** Kafka figure / embedded figure (freshness: >1 = Kafka slower; chunks/s: <1 = Kafka slower). */
  ratios?: { freshnessP50?: number; freshnessP99?: number; chunksPerSecond?: number };
  /** The same freshness and throughput runs with Qdrant as the index (when `qdrantUrl` was given), with ratios to embedded mode. */
  qdrant?: {
    freshness: KafkaBenchResult['freshness']; throughput: KafkaBenchResult['throughput']; ratios?: { freshnessP50?: number; freshnessP99?: number; chunksPerSecond?: number };
    /** `consume clean` + 1 or 2 `consume embed` processes on the same corpus: chunks/s, docs/s, the scaling (2 ÷ 1) and a CPU profile of each process. */
    processes: KafkaProcessesResult;
  };
}

const round = (n: number) => Math.round(n * 10) / 10;

export async function runKafkaBench(opts: KafkaBenchOptions = {}): Promise<KafkaBenchResult> {
  const say = opts.log ?? ((l: string) => process.stderr.write(`[kafka-bench] ${l}\n`));
  const quick = opts.quick ?? false;
  let brokers = opts.brokers ?? process.env['KAFKA_BROKERS'];
  let stopBroker: (() => Promise<void>) | null = null;
  let brokerInfo: string;
  if (brokers) {
    brokerInfo = `external cluster ${brokers}`;
  } else {
    const { KafkaBroker, KAFKA_VERSION } = await import('../test/setup/kafka-broker.ts');
    const broker = await KafkaBroker.start({ heapMb: 1024, jvm: 'throughput', onProgress: say });
    brokers = broker.bootstrap;
    stopBroker = () => broker.destroy();
    brokerInfo = `local Kafka ${KAFKA_VERSION} (KRaft, one node), ready in ${broker.lastStartMs} ms`;
  }
  const kafka = { mode: 'kafka', kafkaBrokers: brokers, kafkaSessionTimeoutMs: 10_000 } as const;
  try {
    await resetTopicsAndGroups(brokers);
    say('freshness: publishing 100 documents/s through the store → outbox → Kafka → clean → embed…');
    const freshness = await kafkaFreshness(kafka, 100, quick ? 5 : 20);

    await resetTopicsAndGroups(brokers);
    const documents = quick ? 1000 : 5000;
    say(`throughput: ${documents} documents as a backlog, drained through Kafka…`);
    const throughput = { documents, ...await benchThroughput({ documents, overrides: kafka }) };

    await resetTopicsAndGroups(brokers);
    const messages = quick ? 10_000 : 100_000;
    say(`backlog: ${messages} change events on the CDC topic, then clean and embed start…`);
    const backlog = await benchBacklog(brokers, messages, say);

    const result: KafkaBenchResult = { broker: brokerInfo, freshness, throughput, backlog };
    const e = opts.embedded;
    const ratiosTo = (f: { p50Ms: number; p99Ms: number }, t: { chunksPerSecond: number }) => e && {
      ...(e.freshness ? { freshnessP50: round(f.p50Ms / e.freshness.p50Ms), freshnessP99: round(f.p99Ms / e.freshness.p99Ms) } : {}),
      ...(e.throughput ? { chunksPerSecond: Math.round((t.chunksPerSecond / e.throughput.chunksPerSecond) * 100) / 100 } : {}),
    };
    const r = ratiosTo(freshness, throughput);
    if (r) result.ratios = r;
    if (opts.qdrantUrl) {
      const { withQdrantCollection } = await import('./qdrant-bench.ts');
      await resetTopicsAndGroups(brokers);
      say('qdrant: freshness with Kafka as the log and Qdrant as the index…');
      const qFreshness = await withQdrantCollection(opts.qdrantUrl, (q) => kafkaFreshness({ ...kafka, ...q }, 100, quick ? 5 : 20));
      await resetTopicsAndGroups(brokers);
      say(`qdrant: throughput, ${documents} documents, Kafka + Qdrant…`);
      const qThroughput = { documents, ...await withQdrantCollection(opts.qdrantUrl, (q) => benchThroughput({ documents, overrides: { ...kafka, ...q } })) };
      const qr = ratiosTo(qFreshness, qThroughput);
      say('qdrant: consume clean + consume embed as separate processes, 1 then 2 embed processes…');
      const processes = await runKafkaProcessesBench({
        brokers, qdrantUrl: opts.qdrantUrl, reset: resetTopicsAndGroups, documents: quick ? 2000 : 10_000, rounds: quick ? 1 : 2, profile: true, log: say,
      });
      result.qdrant = { freshness: qFreshness, throughput: qThroughput, ...(qr ? { ratios: qr } : {}), processes };
    }
    return result;
  } finally {
    await stopBroker?.();
  }
}

/** Freshness at a steady rate once the pipeline is live: store.put acknowledged → the document's version is in the index. */
async function kafkaFreshness(overrides: Record<string, unknown>, rate: number, seconds: number): Promise<KafkaBenchResult['freshness']> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-kafka-fresh-'));
  const config = loadConfig({}, { dataDir: dir, logLevel: 'silent', metricsEnabled: false, freshnessProbeMs: 0, embedder: 'hashing', ...overrides });
  const system = await createSystem(config, { logger: pino({ level: 'silent' }) });
  try {
    const w0 = performance.now();
    await system.start();
    // warm-up: until one document went all the way through (group joins, first fetches, JIT)
    for (let i = 0; ; i++) {
      const [r] = await system.store.put([benchDocument(2_000_000 + i, 150)]);
      const deadline = performance.now() + 1000;
      let seen = false;
      while (!seen && performance.now() < deadline) {
        seen = (await system.index.documentVersions([r!.id])).get(r!.id)?.version != null;
        if (!seen) await new Promise((res) => setTimeout(res, 5));
      }
      if (seen) break;
    }
    const warmUpMs = performance.now() - w0;
    return { rate, seconds, ...await measureFreshness(system, rate, seconds, 60), warmUpMs: Math.round(warmUpMs) };
  } finally {
    await system.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Deletes the Tributary topics and every consumer group, so a measurement starts from nothing. */
export async function resetTopicsAndGroups(brokers: string): Promise<void> {
  const admin = new Kafka({ brokers: brokers.split(',').map((b) => b.trim()), clientId: 'tributary-bench', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
    if (groups.length) await admin.deleteGroups(groups).catch(() => undefined);
    const topics = (await admin.listTopics()).filter((t) => t.startsWith('tributary.'));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 60_000 });
    while ((await admin.listTopics()).some((t) => t.startsWith('tributary.'))) await new Promise((r) => setTimeout(r, 100));
  } finally {
    await admin.disconnect();
  }
}

/** `messages` change events written straight to the CDC topic, then the pipeline started: time until both groups reach the end. */
async function benchBacklog(brokers: string, messages: number, say: (l: string) => void): Promise<KafkaBenchResult['backlog']> {
  const log = createKafkaLog(loadConfig({}, { mode: 'kafka', kafkaBrokers: brokers, kafkaClientId: 'tributary-bench-producer', partitions: 4 }), pino({ level: 'silent' }));
  const dir = mkdtempSync(join(tmpdir(), 'tributary-kafka-bench-'));
  try {
    await log.applyTopics(topicSpecs(4));
    const t0 = performance.now();
    const now = Date.now();
    for (let i = 0; i < messages; i += 2000) {
      const batch: ProducerRecord[] = [];
      for (let j = i; j < Math.min(messages, i + 2000); j++) {
        const d = benchDocument(j, 60);
        const id = documentIdFor('backlog', `doc-${j}`);
        const after = { _id: id, ...d, url: null, metadata: null, createdAt: new Date(now).toISOString(), updatedAt: new Date(now).toISOString() };
        const env = buildEnvelope({ op: 'c', db: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION, tsMs: now, ord: j + 1, after });
        batch.push({ key: buildKey(id), value: Buffer.from(JSON.stringify(env)), timestamp: now });
      }
      await log.append(CDC_TOPIC, batch);
    }
    const produceSeconds = (performance.now() - t0) / 1000;
    say(`backlog: ${messages} messages produced in ${produceSeconds.toFixed(1)} s; draining…`);

    const config = loadConfig({}, {
      dataDir: dir, logLevel: 'silent', metricsEnabled: false, embedder: 'hashing', mode: 'kafka', kafkaBrokers: brokers,
      kafkaSessionTimeoutMs: 10_000, sqliteSync: 'normal', consumers: 'clean,embed',
    });
    const system = await createSystem(config, { logger: pino({ level: 'silent' }), relay: false, lagMonitor: false });
    const done = async (group: string, topic: string) => {
      const ends = await log.offsets(topic);
      const committed = await log.groupOffsets(group);
      return ends.every((e) => (committed.find((c) => c.topic === topic && c.partition === e.partition)?.committed ?? 0) >= e.end);
    };
    try {
      const start = performance.now();
      await system.start();
      let cleanDrainSeconds = NaN;
      for (;;) {
        if (Number.isNaN(cleanDrainSeconds) && await done(Groups.clean, CDC_TOPIC)) cleanDrainSeconds = (performance.now() - start) / 1000;
        if (!Number.isNaN(cleanDrainSeconds) && await done(Groups.embed, Topics.cleaned)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const drainSeconds = (performance.now() - start) / 1000;
      const chunks = await system.index.count();
      return {
        messages, produceSeconds: round(produceSeconds), cleanDrainSeconds: round(cleanDrainSeconds), drainSeconds: round(drainSeconds),
        messagesPerSecond: Math.round(messages / drainSeconds), chunks,
      };
    } finally {
      await system.close();
    }
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const quick = process.argv.includes('--quick');
  const result = await runKafkaBench({ quick });
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}
