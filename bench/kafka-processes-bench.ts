import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { QdrantClient } from '@qdrant/js-client-rest';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import type { ProducerRecord } from '../ports/event-log.ts';
import { buildEnvelope, buildKey } from '../schemas/change-event.ts';
import { documentIdFor } from '../schemas/ids.ts';
import { CDC_TOPIC, Groups, Topics, WAREHOUSE_COLLECTION, WAREHOUSE_DB, topicSpecs } from '../schemas/topics.ts';
import { loadConfig } from '../wiring/config.ts';
import { createKafkaLog } from '../wiring/backbone.ts';
import { summarizeCpuProfile, type ProfileSummary } from './cpu-profile.ts';
import { benchDocument } from './pipeline-bench.ts';
import { withQdrantCollection } from './qdrant-bench.ts';

/**
 * Kafka + Qdrant as a deployment runs it: `tributary consume clean` and `tributary consume embed`
 * as separate processes (one clean, 1 or 2 embed members in the embed group), on a real broker,
 * writing to a real Qdrant; the bench process only produces the change events. Each run:
 *
 *   fresh topics (`partitions` each) and groups, a fresh Qdrant collection → the consumer processes
 *   start and join their groups (waited for, not timed) → the corpus's change events, encoded
 *   before the clock starts, are produced to the CDC topic → timed until the clean group has
 *   committed the end of the CDC topic and the embed group the end of the cleaned topic.
 *
 * chunks/s = the chunks in the collection ÷ that time. The runs alternate 1, 2, 2, 1 embed processes
 * (a neighbour's load drifting over the run weighs on both alike); each figure is the mean of its
 * runs, and the scaling is 2 processes ÷ 1. CPU seconds of each consumer process over the window
 * and the machine's busy share are recorded beside it (the broker and Qdrant share the same cores).
 * A last run with one embed process is profiled (`node --cpu-prof`, the samples of the measured
 * window only): where clean and embed spend their time.
 */

const ROOT = resolve(import.meta.dirname, '..');
const r1 = (n: number) => Math.round(n * 10) / 10;

export interface ProcessRun {
  embedProcesses: number;
  documents: number;
  chunks: number;
  /** Production start → both groups committed the ends of their topics. */
  seconds: number;
  chunksPerSecond: number;
  documentsPerSecond: number;
  /** Time to produce the (pre-encoded) change events; the consumers run meanwhile. */
  produceSeconds: number;
  /** Production start → the clean group committed the end of the CDC topic. */
  cleanDrainSeconds: number;
  /** CPU seconds each consumer process used over the window, and the machine's busy share (all processes, the neighbour's too). */
  cpu: {
    clean: number; embed: number[]; machineBusyPct: number;
    /** CPU seconds over the window of every process on the machine that used ≥ 0.1 s, by kind (the broker, Qdrant, a neighbour's), the largest 10. */
    byProcess: Record<string, number>;
  };
  load1m: { start: number; end: number };
}

export interface KafkaProcessesResult {
  layout: string;
  partitions: number;
  corpus: { documents: number; wordsPerDocument: number };
  runs: ProcessRun[];
  /** Mean of the runs with that many embed processes. */
  oneEmbed: { chunksPerSecond: number; documentsPerSecond: number; seconds: number };
  twoEmbed: { chunksPerSecond: number; documentsPerSecond: number; seconds: number };
  /** chunks/s with 2 embed processes ÷ with 1. */
  scaling: number;
  /** Where `consume clean` and `consume embed` spend the measured window (a profiled run, one embed process; its figures are not in `runs`). */
  profile?: { run: Omit<ProcessRun, 'cpu' | 'load1m'>; clean: ProfileSummary; embed: ProfileSummary };
}

export interface KafkaProcessesOptions {
  brokers: string;
  qdrantUrl: string;
  /** Deletes the Tributary topics and every group (kafka-bench.ts). */
  reset: (brokers: string) => Promise<void>;
  documents?: number;
  words?: number;
  partitions?: number;
  /** Runs per embed-process count (default 2: the order 1, 2, 2, 1). */
  rounds?: number;
  profile?: boolean;
  log?: (line: string) => void;
}

export async function runKafkaProcessesBench(o: KafkaProcessesOptions): Promise<KafkaProcessesResult> {
  const say = o.log ?? ((l: string) => process.stderr.write(`[kafka-processes] ${l}\n`));
  const documents = o.documents ?? 10_000;
  const words = o.words ?? 450;
  const partitions = o.partitions ?? 4;
  const rounds = o.rounds ?? 2;
  // the change events, encoded once: every run produces the same bytes
  const now = Date.now();
  const records: ProducerRecord[] = [];
  for (let i = 0; i < documents; i++) {
    const d = benchDocument(i, words);
    const id = documentIdFor('bench', `doc-${i}`);
    const at = new Date(now).toISOString();
    const after = { _id: id, ...d, url: null, metadata: null, createdAt: at, updatedAt: at };
    const env = buildEnvelope({ op: 'c', db: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION, tsMs: now, ord: i + 1, after });
    records.push({ key: buildKey(id), value: Buffer.from(JSON.stringify(env)), timestamp: now });
  }
  const order: number[] = [];
  for (let r = 0; r < rounds; r++) order.push(...(r % 2 === 0 ? [1, 2] : [2, 1]));
  const runs: ProcessRun[] = [];
  for (const n of order) {
    say(`${n} embed process${n > 1 ? 'es' : ''} + 1 clean process, ${documents} documents, ${partitions} partitions…`);
    const { window: _window, ...run } = await oneRun(o, records, partitions, n, null, say);
    say(`  ${run.chunks} chunks in ${run.seconds} s: ${run.chunksPerSecond} chunks/s, ${run.documentsPerSecond} docs/s (machine busy ${run.cpu.machineBusyPct}%; CPU s ${JSON.stringify(run.cpu.byProcess)})`);
    runs.push(run);
  }
  const mean = (n: number) => {
    const rs = runs.filter((r) => r.embedProcesses === n);
    const avg = (f: (r: ProcessRun) => number) => r1(rs.reduce((s, r) => s + f(r), 0) / rs.length);
    return { chunksPerSecond: avg((r) => r.chunksPerSecond), documentsPerSecond: avg((r) => r.documentsPerSecond), seconds: avg((r) => r.seconds) };
  };
  const oneEmbed = mean(1);
  const twoEmbed = mean(2);
  const result: KafkaProcessesResult = {
    layout: 'tributary consume clean ×1 and tributary consume embed ×1 or ×2 (one embed group), separate Node processes; hashing embedder; Qdrant index; broker and Qdrant on the same cores',
    partitions, corpus: { documents, wordsPerDocument: words }, runs, oneEmbed, twoEmbed,
    scaling: Math.round((twoEmbed.chunksPerSecond / oneEmbed.chunksPerSecond) * 100) / 100,
  };
  if (o.profile) {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-cpu-prof-'));
    try {
      say(`profiled run: 1 embed process + 1 clean process under node --cpu-prof (${dir})…`);
      const run = await oneRun(o, records, partitions, 1, dir, say);
      const of = (name: string) => {
        const files = existsSync(join(dir, name)) ? readdirSync(join(dir, name)).filter((x) => x.endsWith('.cpuprofile')) : [];
        if (files.length !== 1) throw new Error(`expected one CPU profile of consume ${name} in ${join(dir, name)}, found ${files.length}`);
        return summarizeCpuProfile(join(dir, name, files[0]!), run.window);
      };
      const { window: _w, cpu: _c, load1m: _l, ...figures } = run;
      result.profile = { run: figures, clean: of('clean'), embed: of('embed') };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return result;
}

interface Proc { name: string; child: ChildProcess; output: () => string; exited: Promise<void> }

async function oneRun(
  o: KafkaProcessesOptions, records: ProducerRecord[], partitions: number, embedProcesses: number, profileDir: string | null, say: (l: string) => void,
): Promise<ProcessRun & { window: { startUs: number; endUs: number } }> {
  await o.reset(o.brokers);
  const log = createKafkaLog(loadConfig({}, { mode: 'kafka', kafkaBrokers: o.brokers, kafkaClientId: 'tributary-bench-producer', partitions }), pino({ level: 'silent' }));
  const admin = new Kafka({ brokers: o.brokers.split(','), clientId: 'tributary-bench-admin', logLevel: logLevel.NOTHING }).admin();
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-kafka-procs-'));
  const procs: Proc[] = [];
  // SIGTERM: each finishes its batch, leaves the group and exits (writing its CPU profile)
  const stopAll = async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    await Promise.all(procs.splice(0).map(async (p) => {
      const timer = setTimeout(() => { say(`consume ${p.name} did not stop in 30 s; killed`); p.child.kill('SIGKILL'); }, 30_000);
      await p.exited;
      clearTimeout(timer);
    }));
  };
  try {
    // right after the reset deleted them, the broker may still answer for the old topics for a moment
    for (let attempt = 1; ; attempt++) {
      try {
        await log.applyTopics(topicSpecs(partitions));
        break;
      } catch (e) {
        if (attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    await admin.connect();
    return await withQdrantCollection(o.qdrantUrl, async (q) => {
      const env: Record<string, string> = {
        ...process.env as Record<string, string>,
        TRIBUTARY_MODE: 'kafka', KAFKA_BROKERS: o.brokers, TRIBUTARY_PARTITIONS: String(partitions),
        QDRANT_URL: q.qdrantUrl, QDRANT_COLLECTION: q.qdrantCollection, QDRANT_API_KEY: '', MONGODB_URL: '', SCHEMA_REGISTRY_URL: '',
        TRIBUTARY_DATA_DIR: dataDir, TRIBUTARY_EMBEDDER: 'hashing', TRIBUTARY_LOG_LEVEL: 'warn',
        TRIBUTARY_KAFKA_SESSION_TIMEOUT_MS: '10000', TRIBUTARY_METRICS: 'false', TRIBUTARY_METRICS_PORT: '0',
        TRIBUTARY_FRESHNESS_PROBE_MS: '0', KAFKAJS_NO_PARTITIONER_WARNING: '1', NODE_OPTIONS: '',
      };
      try {
        // one at a time: the first embed process creates the collection
        procs.push(await startConsumer('clean', env, profileDir));
        for (let i = 0; i < embedProcesses; i++) procs.push(await startConsumer('embed', env, profileDir));
        await waitForMembers(admin, Groups.clean, 1);
        await waitForMembers(admin, Groups.embed, embedProcesses);

        const cpu0 = procs.map((p) => cpuSeconds(p.child.pid!));
        const all0 = processTicks();
        const machine0 = machineTicks();
        const load0 = loadavg()[0]!;
        const startUs = Number(process.hrtime.bigint() / 1000n);
        const t0 = performance.now();
        for (let i = 0; i < records.length; i += 250) await log.append(CDC_TOPIC, records.slice(i, i + 250));
        const produceSeconds = (performance.now() - t0) / 1000;
        const drained = async (group: string, topic: string) => {
          const ends = await log.offsets(topic);
          const committed = await log.groupOffsets(group);
          return ends.every((e) => (committed.find((c) => c.topic === topic && c.partition === e.partition)?.committed ?? 0) >= e.end);
        };
        let cleanDrainSeconds = NaN;
        const deadline = performance.now() + 600_000;
        for (;;) {
          if (Number.isNaN(cleanDrainSeconds) && await drained(Groups.clean, CDC_TOPIC)) cleanDrainSeconds = (performance.now() - t0) / 1000;
          if (!Number.isNaN(cleanDrainSeconds) && await drained(Groups.embed, Topics.cleaned)) break;
          for (const p of procs) if (p.child.exitCode !== null) throw new Error(`consume ${p.name} exited (${p.child.exitCode}):\n${p.output().slice(-4000)}`);
          if (performance.now() > deadline) throw new Error('the consumers did not drain the corpus in 10 minutes');
          await new Promise((r) => setTimeout(r, 100));
        }
        const seconds = (performance.now() - t0) / 1000;
        const endUs = Number(process.hrtime.bigint() / 1000n);
        const cpu1 = procs.map((p) => cpuSeconds(p.child.pid!));
        const all1 = processTicks();
        const machine1 = machineTicks();
        const load1 = loadavg()[0]!;
        const chunks = (await new QdrantClient({ url: q.qdrantUrl, checkCompatibility: false }).count(q.qdrantCollection, { exact: true })).count;
        const used = procs.map((p, i) => r1(cpu1[i]! - cpu0[i]!));
        const busy = machine1.busy - machine0.busy;
        const total = machine1.total - machine0.total;
        return {
          embedProcesses, documents: records.length, chunks, seconds: r1(seconds),
          chunksPerSecond: r1(chunks / seconds), documentsPerSecond: r1(records.length / seconds),
          produceSeconds: r1(produceSeconds), cleanDrainSeconds: r1(cleanDrainSeconds),
          cpu: {
            clean: used[0]!, embed: used.slice(1), machineBusyPct: total > 0 ? Math.round((busy / total) * 100) : 0,
            byProcess: cpuByProcess(all0, all1, new Map(procs.map((p, i) => [p.child.pid!, i === 0 ? 'consume clean' : `consume embed #${i}`]))),
          },
          load1m: { start: r1(load0), end: r1(load1) },
          window: { startUs, endUs },
        };
      } finally {
        await stopAll(); // before the collection is deleted
      }
    });
  } finally {
    await stopAll();
    await admin.disconnect().catch(() => undefined);
    await log.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** `tributary consume <name>` (optionally under the CPU profiler), once it printed its banner. */
async function startConsumer(name: string, env: Record<string, string>, profileDir: string | null): Promise<Proc> {
  const flags = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, name)}`] : [];
  const child = spawn(process.execPath, [...flags, join(ROOT, 'cli/main.ts'), 'consume', name], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const onData = (d: Buffer) => { out += d.toString(); if (out.length > 200_000) out = out.slice(-100_000); };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 60_000;
  while (!out.includes(`consumer ${name} running`)) {
    if (child.exitCode !== null) throw new Error(`tributary consume ${name} exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`tributary consume ${name} did not start in 60 s:\n${out}`); }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { name, child, output: () => out, exited };
}

/** Until the group is stable with `members` members (each owning its partitions). */
async function waitForMembers(admin: ReturnType<Kafka['admin']>, group: string, members: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const [g] = (await admin.describeGroups([group])).groups;
    if (g && g.state === 'Stable' && g.members.length === members) return;
    if (Date.now() > deadline) throw new Error(`group ${group} not stable with ${members} member(s) after 60 s (state ${g?.state}, ${g?.members.length} member(s))`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** User + system CPU seconds of a process (Linux /proc; 0 elsewhere). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11], fields[12]: utime, stime (the 14th and 15th fields of the whole line) in clock ticks (100 per second)
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** CPU ticks so far of every process on the machine (Linux /proc), by pid: its name and ticks. */
function processTicks(): Map<number, { name: string; ticks: number }> {
  const out = new Map<number, { name: string; ticks: number }>();
  let pids: string[];
  try { pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch { return out; }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      let label = name;
      if (name === 'java') {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        label = cmd.includes('kafka.Kafka') ? 'Kafka broker (java)' : 'java (other)';
      } else if (name === 'qdrant') label = 'Qdrant';
      else if (name === 'MainThread' || name === 'node') {
        // Node names its main thread MainThread: tell the processes apart by their script
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const script = args.find((a) => /\.(ts|js|mjs|cjs)$/.test(a) && !a.includes('suppress-warnings'));
        label = args.some((a) => a.includes('vitest')) ? 'node (vitest, another test run)' : `node ${script ? script.split('/').slice(-2).join('/') : '(other)'}`;
      }
      out.set(Number(pid), { name: label, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** CPU seconds per kind of process between two snapshots, the largest first (`own` names this benchmark's processes). */
function cpuByProcess(before: Map<number, { name: string; ticks: number }>, after: Map<number, { name: string; ticks: number }>, own: Map<number, string>): Record<string, number> {
  const sums = new Map<string, number>();
  for (const [pid, a] of after) {
    const used = a.ticks - (before.get(pid)?.ticks ?? 0);
    if (used <= 0) continue;
    const label = own.get(pid) ?? (pid === process.pid ? 'bench process (producer, offsets polling)' : a.name);
    sums.set(label, (sums.get(label) ?? 0) + used / 100);
  }
  return Object.fromEntries([...sums].filter(([, v]) => v >= 0.1).sort((x, y) => y[1] - x[1]).slice(0, 10).map(([k, v]) => [k, r1(v)]));
}

/** The machine's busy and total CPU ticks so far (Linux /proc/stat). */
function machineTicks(): { busy: number; total: number } {
  try {
    const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const n = v.slice(0, 8).map(Number);
    const total = n.reduce((a, b) => a + b, 0);
    return { busy: total - n[3]! - n[4]!, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** The profile as markdown (bench/results/kafka-qdrant-profile.md): the runs, then clean's and embed's time by kind of work and by function. */
export function processesMarkdown(r: KafkaProcessesResult, machine: string): string {
  const lines = [
    '# Kafka + Qdrant: `consume clean` and `consume embed` as processes',
    '',
    `Written by \`npm run bench -- --only kafka\` with QDRANT_URL (bench/kafka-processes-bench.ts) on ${machine}; the broker, Qdrant and`,
    'the consumer processes share the cores (and a neighbour\'s work ran beside them: see the load averages).',
    `Layout: ${r.layout}. ${r.partitions} partitions per topic; corpus ${r.corpus.documents} documents of ${r.corpus.wordsPerDocument} words, produced as change events to the CDC topic.`,
    '',
    '| embed processes | chunks | seconds | chunks/s | docs/s | clean drained (s) | machine busy | load 1m start→end | CPU seconds in the window, by process |',
    '|---|---|---|---|---|---|---|---|---|',
    ...r.runs.map((x) => `| ${x.embedProcesses} | ${x.chunks} | ${x.seconds} | ${x.chunksPerSecond} | ${x.documentsPerSecond} | ${x.cleanDrainSeconds} | ${x.cpu.machineBusyPct}% | ${x.load1m.start}→${x.load1m.end} | ${Object.entries(x.cpu.byProcess).map(([k, v]) => `${k} ${v}`).join(', ')} |`),
    '',
    `Mean: 1 embed process ${r.oneEmbed.chunksPerSecond} chunks/s (${r.oneEmbed.documentsPerSecond} docs/s); 2 embed processes ${r.twoEmbed.chunksPerSecond} chunks/s (${r.twoEmbed.documentsPerSecond} docs/s); scaling 2 ÷ 1 = ${r.scaling}.`,
  ];
  const p = r.profile;
  if (p) {
    lines.push('', '## Where the time goes', '',
      `A separate run with one embed process under \`node --cpu-prof\` (${p.run.chunks} chunks in ${p.run.seconds} s, ${p.run.chunksPerSecond} chunks/s with the profiler on);`,
      'self time of the samples inside the measured window, as a share of all sampled time (idle included). Frames without a file',
      '(natives, builtins) count for their caller\'s kind of work.');
    for (const [name, s] of [['consume clean', p.clean], ['consume embed', p.embed]] as const) {
      lines.push('', `### ${name}`, '', `${s.sampledMs} ms sampled (${s.span}); idle ${s.idlePct}%; garbage collection ${s.gcPct}% of the busy time.`, '',
        '| kind of work | self time |', '|---|---|', ...s.categories.map((c) => `| ${c.name} | ${c.pct}% |`), '',
        '| function (top 15, idle left out) | self time |', '|---|---|', ...s.top.map((c) => `| \`${c.name.replaceAll('|', '\\|')}\` | ${c.pct}% |`));
    }
  }
  return lines.join('\n') + '\n';
}
