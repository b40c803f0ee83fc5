import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { KafkaEventLog, parseBrokers } from '../../adapters/event-log/kafka/kafka-event-log.ts';
import { openDatabase } from '../../adapters/sqlite/open-database.ts';
import { CDC_TOPIC, Groups, Topics } from '../../schemas/topics.ts';
import { fakeVector } from '../fixtures/openai-compatible-server.ts';
import { startSystem, type RunningSystem } from '../e2e/harness.ts';

/**
 * Kafka-mode processes for the suites in test/kafka: the API (`tributary dev` with no consumers:
 * API + the store's outbox relay) and one process per consumer (`tributary consume <name>`),
 * all on the test broker, sharing one data directory — as a deployment would run them.
 */

const ROOT = resolve(import.meta.dirname, '../..');

/** Environment of every Tributary process in these suites. */
export function kafkaEnv(brokers: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    // the SQLite store and the embedded index unless a suite names a MongoDB or a Qdrant: never inherited from the environment
    QDRANT_URL: '', QDRANT_API_KEY: '', QDRANT_COLLECTION: '', MONGODB_URL: '',
    TRIBUTARY_MODE: 'kafka',
    KAFKA_BROKERS: brokers,
    TRIBUTARY_PARTITIONS: '4',
    // a killed member's partitions move after 3 s (the broker allows sessions down to 1 s)
    TRIBUTARY_KAFKA_SESSION_TIMEOUT_MS: '3000',
    TRIBUTARY_KAFKA_REBALANCE_TIMEOUT_MS: '20000',
    TRIBUTARY_SQLITE_SYNC: 'normal',
    TRIBUTARY_EMBEDDER: 'hashing',
    TRIBUTARY_LOG_LEVEL: 'info',
    TRIBUTARY_METRICS: 'false',
    // many consumer processes on one host: each serves /metrics and /healthz on a free port (its banner says which)
    TRIBUTARY_METRICS_PORT: '0',
    // the freshness probe's document would add to the documents the suites count (its own suite turns it on)
    TRIBUTARY_FRESHNESS_PROBE_MS: '0',
    TRIBUTARY_RETRY_BASE_MS: '50',
    TRIBUTARY_RETRY_MAX_MS: '1000',
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
    ...extra,
  };
}

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  output(): string;
  /** Structured log lines (JSON) the process wrote so far. */
  events(): Array<Record<string, unknown>>;
  readonly alive: boolean;
  kill9(): Promise<void>;
  /** SIGTERM, and the exit code once it stopped. */
  stop(): Promise<number | null>;
}

/** `tributary consume <name>`, started and printing its banner. */
export async function startConsumer(name: string, dataDir: string, env: Record<string, string>): Promise<Proc> {
  return startTributary(['consume', name], name, dataDir, env, (out) => out.includes(`consumer ${name} running`) || new RegExp(`consumer \\S*${name}\\S* running`).test(out));
}

/** `tributary cdc` (the MongoDB change-stream relay), started and printing its banner. */
export async function startCdc(dataDir: string, env: Record<string, string>): Promise<Proc> {
  return startTributary(['cdc'], 'cdc', dataDir, env, (out) => /cdc\S* running/.test(out));
}

async function startTributary(args: string[], name: string, dataDir: string, env: Record<string, string>, started: (out: string) => boolean): Promise<Proc> {
  const child = spawn(process.execPath, [join(ROOT, 'cli/main.ts'), ...args], {
    cwd: ROOT, env: { ...process.env, TRIBUTARY_DATA_DIR: dataDir, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const onData = (d: Buffer) => { out += d.toString(); if (out.length > 2_000_000) out = out.slice(-1_000_000); };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const proc: Proc = {
    name, child,
    output: () => out,
    events: () => out.split('\n').filter((l) => l.startsWith('{')).flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } }),
    get alive() { return child.exitCode === null && child.signalCode === null; },
    kill9: async () => { if (proc.alive) child.kill('SIGKILL'); await exited; },
    stop: async () => { if (proc.alive) child.kill('SIGTERM'); return exited; },
  };
  const deadline = Date.now() + 30_000;
  while (!started(out)) {
    if (!proc.alive) throw new Error(`tributary ${args.join(' ')} exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`tributary ${args.join(' ')} did not start in 30 s:\n${out}`); }
    await new Promise((r) => setTimeout(r, 25));
  }
  return proc;
}

/** `tributary dev` in Kafka mode: the HTTP API and the store's outbox relay, with no consumers unless `env` names some (TRIBUTARY_CONSUMERS). */
export async function startApi(dataDir: string, env: Record<string, string>): Promise<RunningSystem> {
  return startSystem(dataDir, { TRIBUTARY_CONSUMERS: 'none', ...env });
}

/** A Kafka event log in the test process (to inject records, read offsets and the DLQ). */
export function testLog(brokers: string, maxRecordBytes = 8 * 1024 * 1024): KafkaEventLog {
  return new KafkaEventLog({
    brokers: parseBrokers(brokers), clientId: 'tributary-test', logger: pino({ level: 'silent' }), maxRecordBytes,
    replicationFactor: -1, sessionTimeoutMs: 6000, rebalanceTimeoutMs: 10000, partitionConcurrency: 4, fetchMaxWaitMs: 100,
  });
}

/** Deletes every Tributary topic and every consumer group: each suite starts from an empty cluster. */
export async function resetKafka(brokers: string): Promise<void> {
  const kafka = new Kafka({ brokers: parseBrokers(brokers), clientId: 'tributary-test-reset', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
    const topics = (await admin.listTopics()).filter((t) => t.startsWith('tributary.'));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
    const deadline = Date.now() + 30_000;
    while ((await admin.listTopics()).some((t) => t.startsWith('tributary.'))) {
      if (Date.now() > deadline) throw new Error('topics not deleted in 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

/** Change events written to the store's outbox and not yet acknowledged by Kafka. */
export function outboxPending(dataDir: string): number {
  const db = openDatabase({ path: join(dataDir, 'tributary.db'), synchronous: 'normal' });
  try {
    const row = db.prepare(`SELECT COUNT(*) AS n FROM change_outbox WHERE seq > (SELECT relayed_seq FROM change_outbox_relay WHERE id = 1)`).get() as { n: number } | undefined;
    return Number(row?.n ?? 0);
  } catch {
    return 0; // not created yet
  } finally {
    db.close();
  }
}

export const PIPELINE_GROUPS: Array<{ group: string; topic: string }> = [
  { group: Groups.clean, topic: CDC_TOPIC },
  { group: Groups.embed, topic: Topics.cleaned },
];

/** True when the outbox is empty and every group has committed the end of every partition of its topic. */
export async function caughtUp(log: KafkaEventLog, dataDir: string, groups = PIPELINE_GROUPS): Promise<boolean> {
  if (outboxPending(dataDir) > 0) return false;
  for (const { group, topic } of groups) {
    const ends = await log.offsets(topic);
    const committed = new Map((await log.groupOffsets(group)).filter((o) => o.topic === topic).map((o) => [o.partition, o.committed]));
    for (const p of ends) if (p.end > (committed.get(p.partition) ?? 0)) return false;
  }
  return true;
}

export async function waitUntil(what: string, pred: () => Promise<boolean> | boolean, ms: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * An OpenAI-compatible embeddings endpoint that takes `latencyMs` per request and counts the
 * requests in flight: a consumer killed while `inFlight > 0` is provably killed mid-batch
 * (between fetching its records and committing them).
 */
export interface SlowEmbeddings {
  readonly baseUrl: string;
  readonly dimension: number;
  readonly inFlight: number;
  readonly requests: number;
  close(): Promise<void>;
}

export async function startSlowEmbeddings(opts: { dimension: number; latencyMs: number }): Promise<SlowEmbeddings> {
  let inFlight = 0;
  let requests = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      inFlight++;
      requests++;
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { input?: string | string[]; model?: string };
      const inputs = Array.isArray(body.input) ? body.input : [body.input ?? ''];
      setTimeout(() => {
        inFlight--;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({
          object: 'list', model: body.model ?? 'slow',
          data: inputs.map((t, index) => ({ object: 'embedding', index, embedding: fakeVector(t, opts.dimension) })),
          usage: { prompt_tokens: 0, total_tokens: 0 },
        }));
      }, opts.latencyMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    dimension: opts.dimension,
    get inFlight() { return inFlight; },
    get requests() { return requests; },
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
