import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync, openSync, closeSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { freePort } from '../helpers/free-port.ts';
import { publishStagedDir, ServerProcess } from './server-process.ts';

/**
 * A real Apache Kafka broker for the test suites and benchmarks: one KRaft node (broker and
 * controller in one JVM) on free loopback ports, its jars fetched once from Maven Central into a
 * cache outside the repository (`${XDG_CACHE_HOME:-~/.cache}/tributary/kafka-<version>`).
 *
 * Start-up: copy the jars (first time only; Maven needs the network), format the storage with a
 * random cluster id, start `kafka.Kafka`, wait until a metadata request and a group-coordinator
 * lookup succeed. `stop()` + `start()` restart the same node on the same ports and data (used to
 * take the broker away mid-stream); `destroy()` stops it and deletes its data.
 */

export const KAFKA_VERSION = '3.9.1';
const POM = resolve(import.meta.dirname, 'kafka/pom.xml');

export interface KafkaBrokerOptions {
  /** JVM heap in MB (default 512). */
  heapMb?: number;
  /** Called with progress lines (download, start). */
  onProgress?: (line: string) => void;
  /** How long start-up may take once the jars are present (default 90 s). */
  startTimeoutMs?: number;
  /**
   * JVM tuned for start-up time and a small footprint (tests, the default), or for steady-state
   * latency (benchmarks: G1 with a short pause goal and the optimising compiler).
   */
  jvm?: 'fast-start' | 'throughput';
}

export function kafkaCacheDir(version = KAFKA_VERSION): string {
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'tributary', `kafka-${version}`);
}

/** True when a `java` executable is on the PATH (or JAVA_HOME is set). */
export function javaAvailable(): boolean {
  return spawnSync(javaBin(), ['-version'], { stdio: 'ignore' }).status === 0;
}

function javaBin(): string {
  const home = process.env['JAVA_HOME'];
  return home ? join(home, 'bin', 'java') : 'java';
}

const COMPLETE = '.complete';

/**
 * Copies Kafka's jars into the cache directory unless they are already there (idempotent; a
 * half-finished copy is never used: the jars land in a temporary directory renamed at the end).
 */
export async function ensureKafkaJars(opts: { version?: string; onProgress?: (line: string) => void } = {}): Promise<string> {
  const version = opts.version ?? KAFKA_VERSION;
  const dir = kafkaCacheDir(version);
  if (existsSync(join(dir, COMPLETE))) return dir;
  const mvn = process.platform === 'win32' ? 'mvn.cmd' : 'mvn';
  if (spawnSync(mvn, ['-v'], { stdio: 'ignore' }).status !== 0) {
    throw new Error(`Kafka ${version} is not in ${dir} and Maven (mvn) is not on the PATH to fetch it; install Maven, or set KAFKA_BROKERS to an existing cluster`);
  }
  mkdirSync(join(dir, '..'), { recursive: true });
  const staging = mkdtempSync(`${dir}.tmp-`);
  opts.onProgress?.(`fetching Apache Kafka ${version} from Maven Central into ${dir} (first run only)`);
  const t0 = Date.now();
  try {
    await promisify(execFile)(mvn, [
      '-q', '-B', '-f', POM, 'dependency:copy-dependencies',
      `-Dkafka.version=${version}`, '-DincludeScope=runtime', `-DoutputDirectory=${join(staging, 'libs')}`,
    ], { maxBuffer: 16 * 1024 * 1024, timeout: 15 * 60_000 });
    writeFileSync(join(staging, COMPLETE), `${new Date().toISOString()}\n`);
    publishStagedDir(staging, dir, COMPLETE);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`fetching Kafka ${version} with Maven failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`, { cause: e });
  }
  opts.onProgress?.(`fetched Kafka ${version} in ${((Date.now() - t0) / 1000).toFixed(1)} s (${readdirSync(join(dir, 'libs')).length} jars)`);
  return dir;
}

function serverProperties(o: { port: number; controllerPort: number; logDir: string }): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${o.controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${o.port},CONTROLLER://127.0.0.1:${o.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${o.port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${o.logDir}`,
    // one node: everything replicated once
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=4',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=2',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    'num.partitions=1',
    'auto.create.topics.enable=false',
    // fast group joins, and short sessions allowed (tests kill consumers and wait for their session to expire)
    'group.initial.rebalance.delay.ms=0',
    'group.min.session.timeout.ms=1000',
    // small footprint on a 2-core machine
    'num.network.threads=2',
    'num.io.threads=2',
    'background.threads=2',
    'num.recovery.threads.per.data.dir=1',
    'log.cleaner.threads=1',
    'log.cleaner.dedupe.buffer.size=16777216',
    'log.segment.bytes=16777216',
    'offsets.topic.segment.bytes=16777216',
    'log.retention.check.interval.ms=60000',
    '',
  ].join('\n');
}

export class KafkaBroker extends ServerProcess {
  readonly port: number;
  readonly controllerPort: number;
  readonly dataDir: string;
  protected readonly stopTimeoutMs = 30_000;
  private readonly jarsDir: string;
  private readonly opts: KafkaBrokerOptions;
  /** Milliseconds the last start took (JVM launch to ready). */
  lastStartMs = 0;

  private constructor(jarsDir: string, dataDir: string, port: number, controllerPort: number, opts: KafkaBrokerOptions) {
    super();
    this.jarsDir = jarsDir; this.dataDir = dataDir; this.port = port; this.controllerPort = controllerPort; this.opts = opts;
  }

  get bootstrap(): string { return `127.0.0.1:${this.port}`; }
  /** Fetches the jars if needed, formats a fresh data directory and starts the node. */
  static async start(opts: KafkaBrokerOptions = {}): Promise<KafkaBroker> {
    if (!javaAvailable()) throw new Error('Java (17+) is needed to run the test Kafka broker: install a JDK, or set KAFKA_BROKERS to an existing cluster');
    const jars = await ensureKafkaJars({ onProgress: opts.onProgress });
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-kafka-'));
    const port = await freePort();
    let controllerPort = await freePort();
    while (controllerPort === port) controllerPort = await freePort();
    const broker = new KafkaBroker(jars, dataDir, port, controllerPort, opts);
    try {
      broker.format();
      await broker.launch();
    } catch (e) {
      await broker.destroy();
      throw e;
    }
    return broker;
  }

  private get classpath(): string { return `${join(this.jarsDir, 'libs')}/*`; }
  private get configFile(): string { return join(this.dataDir, 'server.properties'); }
  private get logFile(): string { return join(this.dataDir, 'broker.log'); }

  private jvmArgs(heapMb: number, profile: 'fast-start' | 'throughput' = 'fast-start'): string[] {
    const tuning = profile === 'throughput'
      ? [`-Xms${heapMb}m`, '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20']
      : ['-Xms64m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'];
    return [
      `-Xmx${heapMb}m`, ...tuning, '-XX:-UsePerfData',
      '-Djava.awt.headless=true',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      `-Dorg.slf4j.simpleLogger.logFile=${this.logFile}`,
      '-Dorg.slf4j.simpleLogger.showDateTime=true',
      '-cp', this.classpath,
    ];
  }

  private format(): void {
    writeFileSync(this.configFile, serverProperties({ port: this.port, controllerPort: this.controllerPort, logDir: join(this.dataDir, 'logs') }));
    // a random cluster id: 16 random bytes, base64url without padding (Kafka's Uuid format); passed as
    // --cluster-id=… because an id may start with "-", which the tool would read as an option
    const clusterId = randomBytes(16).toString('base64url');
    const r = spawnSync(javaBin(), [...this.jvmArgs(256), 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', this.configFile], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`formatting the Kafka storage failed (exit ${r.status}): ${r.stdout}${r.stderr}`);
  }

  /** Starts the JVM on the existing data directory and waits until the broker serves requests. */
  protected async launch(): Promise<void> {
    const t0 = Date.now();
    const out = openSync(join(this.dataDir, 'stdout.log'), 'a');
    const child = spawn(javaBin(), [...this.jvmArgs(this.opts.heapMb ?? 512, this.opts.jvm), 'kafka.Kafka', this.configFile], { stdio: ['ignore', out, out], detached: false });
    closeSync(out);
    this.track(child);
    const deadline = t0 + (this.opts.startTimeoutMs ?? 90_000);
    const kafka = new Kafka({ brokers: [this.bootstrap], clientId: 'tributary-test-readiness', logLevel: logLevel.NOTHING, connectionTimeout: 1000, retry: { retries: 0 } });
    for (;;) {
      if (!this.running) throw new Error(`the Kafka broker exited during start-up (code ${child.exitCode}, signal ${child.signalCode}):\n${this.tail()}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`the Kafka broker was not ready after ${((Date.now() - t0) / 1000).toFixed(0)} s:\n${this.tail()}`);
      }
      if (await ready(kafka)) break;
      await new Promise((r) => setTimeout(r, 150));
    }
    this.lastStartMs = Date.now() - t0;
    this.opts.onProgress?.(`Kafka ${KAFKA_VERSION} ready on ${this.bootstrap} in ${(this.lastStartMs / 1000).toFixed(1)} s`);
  }

  /** The last lines of the broker's log files (for error messages). */
  tail(lines = 40): string {
    const read = (f: string) => { try { return readFileSync(f, 'utf8'); } catch { return ''; } };
    return `${read(join(this.dataDir, 'stdout.log'))}${read(this.logFile)}`.split('\n').slice(-lines).join('\n');
  }
}

/** Ready = a metadata request answers and the group coordinator (offsets topic) is available. */
async function ready(kafka: Kafka): Promise<boolean> {
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0 || cluster.controller === null) return false;
    // creates __consumer_offsets and waits for its leader: the first consumer group then joins at once
    await admin.describeGroups(['tributary-readiness']);
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
