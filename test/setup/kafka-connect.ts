import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../helpers/free-port.ts';
import { javaAvailable, KAFKA_VERSION } from './kafka-broker.ts';
import { publishStagedDir } from './server-process.ts';

/**
 * A real Kafka Connect worker for the test suites: distributed mode
 * (`org.apache.kafka.connect.cli.ConnectDistributed`) against a given bootstrap server, with the real
 * Debezium MongoDB connector plugin. Both are fetched once from Maven Central into a cache outside the
 * repository (`${XDG_CACHE_HOME:-~/.cache}/tributary/kafka-connect-<kafka>-debezium-<debezium>/`:
 * `libs/` = the worker's classpath, `plugins/debezium-connector-mongodb/` = the plugin.path entry).
 *
 * Each start has its own group id and its own internal topics (config/offset/status, replication 1),
 * so workers started one after the other never see each other's connectors. The worker resolves
 * `${env:NAME}` in connector configs (EnvVarConfigProvider, as the shipped configs expect: see
 * connectors/debezium/). Ready = `GET /connector-plugins` lists the MongoDB connector.
 */

/** Same Kafka as the test broker (test/setup/kafka-broker.ts). */
export const CONNECT_KAFKA_VERSION = KAFKA_VERSION;
/**
 * The Debezium line built against Kafka 3.9 (3.0.x; Java 17). Debezium 3.1 and later are built against Kafka 4:
 * 3.6.1.Final's MongoDB connector validates on this worker too, but its CloudEventsConverter fails to load
 * (it calls a JsonConverter method that Kafka 3.9 does not have).
 */
export const DEBEZIUM_VERSION = '3.0.8.Final';
export const MONGODB_CONNECTOR_CLASS = 'io.debezium.connector.mongodb.MongoDbConnector';

const POM = resolve(import.meta.dirname, 'kafka-connect/pom.xml');
const COMPLETE = '.complete';
const PLUGIN_DIR = 'debezium-connector-mongodb';

export interface KafkaConnectOptions {
  /** Bootstrap servers of the cluster the worker stores its state in and writes to. */
  bootstrap: string;
  /** Extra environment of the worker process (what `${env:NAME}` in connector configs resolves to). */
  env?: Record<string, string>;
  /** JVM heap in MB (default 384). */
  heapMb?: number;
  /** How long start-up may take once the jars are present (default 120 s). */
  startTimeoutMs?: number;
  onProgress?: (line: string) => void;
}

export function kafkaConnectCacheDir(kafka = CONNECT_KAFKA_VERSION, debezium = DEBEZIUM_VERSION): string {
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'tributary', `kafka-connect-${kafka}-debezium-${debezium}`);
}

function javaBin(): string {
  const home = process.env['JAVA_HOME'];
  return home ? join(home, 'bin', 'java') : 'java';
}

/**
 * Copies the worker's jars and the Debezium plugin into the cache directory unless they are already
 * there (idempotent; a half-finished copy is never used: it lands in a temporary directory renamed at the end).
 */
export async function ensureKafkaConnectJars(opts: { onProgress?: (line: string) => void } = {}): Promise<string> {
  const dir = kafkaConnectCacheDir();
  if (existsSync(join(dir, COMPLETE))) return dir;
  const mvn = process.platform === 'win32' ? 'mvn.cmd' : 'mvn';
  if (spawnSync(mvn, ['-v'], { stdio: 'ignore' }).status !== 0) {
    throw new Error(`Kafka Connect ${CONNECT_KAFKA_VERSION} + Debezium ${DEBEZIUM_VERSION} are not in ${dir} and Maven (mvn) is not on the PATH to fetch them; install Maven`);
  }
  mkdirSync(join(dir, '..'), { recursive: true });
  const staging = mkdtempSync(`${dir}.tmp-`);
  opts.onProgress?.(`fetching Kafka Connect ${CONNECT_KAFKA_VERSION} and the Debezium MongoDB connector ${DEBEZIUM_VERSION} from Maven Central into ${dir} (first run only)`);
  const t0 = Date.now();
  const copy = (profile: string, out: string) => promisify(execFile)(mvn, [
    '-q', '-B', '-f', POM, `-P${profile}`, 'dependency:copy-dependencies',
    `-Dkafka.version=${CONNECT_KAFKA_VERSION}`, `-Ddebezium.version=${DEBEZIUM_VERSION}`,
    '-DincludeScope=runtime', `-DoutputDirectory=${out}`,
  ], { maxBuffer: 16 * 1024 * 1024, timeout: 15 * 60_000 });
  try {
    await copy('worker', join(staging, 'libs'));
    await copy('debezium', join(staging, 'plugins', PLUGIN_DIR));
    writeFileSync(join(staging, COMPLETE), `${new Date().toISOString()}\n`);
    publishStagedDir(staging, dir, COMPLETE);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`fetching Kafka Connect / Debezium with Maven failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`, { cause: e });
  }
  const jars = readdirSync(join(dir, 'libs')).length + readdirSync(join(dir, 'plugins', PLUGIN_DIR)).length;
  opts.onProgress?.(`fetched Kafka Connect + Debezium in ${((Date.now() - t0) / 1000).toFixed(1)} s (${jars} jars)`);
  return dir;
}

function workerProperties(o: { bootstrap: string; port: number; groupId: string; pluginPath: string }): string {
  const topic = (kind: string) => `${o.groupId}-${kind}`;
  return [
    `bootstrap.servers=${o.bootstrap}`,
    `group.id=${o.groupId}`,
    // internal topics of this worker only; one partition each and replication 1 (one-node test cluster)
    `config.storage.topic=${topic('configs')}`,
    `offset.storage.topic=${topic('offsets')}`,
    `status.storage.topic=${topic('status')}`,
    'config.storage.replication.factor=1',
    'offset.storage.replication.factor=1',
    'offset.storage.partitions=1',
    'status.storage.replication.factor=1',
    'status.storage.partitions=1',
    'key.converter=org.apache.kafka.connect.json.JsonConverter',
    'value.converter=org.apache.kafka.connect.json.JsonConverter',
    'offset.flush.interval.ms=1000',
    // REST on loopback only
    `listeners=http://127.0.0.1:${o.port}`,
    'rest.advertised.host.name=127.0.0.1',
    `rest.advertised.port=${o.port}`,
    `plugin.path=${o.pluginPath}`,
    // `${env:NAME}` in connector configs: secrets stay in the worker's environment, not in the config topic
    'config.providers=env',
    'config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider',
    // quick group joins and restarts in tests
    'scheduled.rebalance.max.delay.ms=0',
    'task.shutdown.graceful.timeout.ms=2000',
    '',
  ].join('\n');
}

const LOG4J = [
  'log4j.rootLogger=WARN, file',
  'log4j.appender.file=org.apache.log4j.FileAppender',
  'log4j.appender.file.File=${connect.log.file}',
  'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
  // what the worker does with connectors and tasks (start, fail, restart) is worth keeping
  'log4j.logger.org.apache.kafka.connect.runtime.Worker=INFO',
  'log4j.logger.org.apache.kafka.connect.runtime.WorkerTask=INFO',
  'log4j.logger.io.debezium=INFO',
  'log4j.logger.org.reflections=ERROR',
  '',
].join('\n');

export class KafkaConnectWorker {
  readonly port: number;
  readonly groupId: string;
  readonly dataDir: string;
  /** Milliseconds from JVM launch to the Debezium plugin being listed. */
  readonly startMs: number;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  private constructor(o: { port: number; groupId: string; dataDir: string; child: ChildProcess; exited: Promise<void>; startMs: number }) {
    this.port = o.port; this.groupId = o.groupId; this.dataDir = o.dataDir; this.child = o.child; this.exited = o.exited; this.startMs = o.startMs;
  }

  /** Base URL of the REST API, e.g. http://127.0.0.1:40123 */
  get url(): string { return `http://127.0.0.1:${this.port}`; }
  get running(): boolean { return this.child.exitCode === null && this.child.signalCode === null; }

  /** Fetches the jars if needed, starts a worker and waits until it lists the MongoDB connector plugin. */
  static async start(opts: KafkaConnectOptions): Promise<KafkaConnectWorker> {
    if (!javaAvailable()) throw new Error('Java (17+) is needed to run the test Kafka Connect worker: install a JDK');
    const jars = await ensureKafkaConnectJars({ onProgress: opts.onProgress });
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-connect-'));
    const port = await freePort();
    const groupId = `tributary-test-connect-${randomBytes(4).toString('hex')}`;
    const config = join(dataDir, 'worker.properties');
    const logFile = join(dataDir, 'connect.log');
    writeFileSync(config, workerProperties({ bootstrap: opts.bootstrap, port, groupId, pluginPath: join(jars, 'plugins') }));
    writeFileSync(join(dataDir, 'log4j.properties'), LOG4J);
    const heap = opts.heapMb ?? 384;
    const t0 = Date.now();
    const out = openSync(join(dataDir, 'stdout.log'), 'a');
    const child = spawn(javaBin(), [
      `-Xmx${heap}m`, '-Xms64m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-XX:-UsePerfData',
      '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${join(dataDir, 'log4j.properties')}`,
      `-Dconnect.log.file=${logFile}`,
      '-cp', `${join(jars, 'libs')}/*`,
      'org.apache.kafka.connect.cli.ConnectDistributed', config,
    ], { stdio: ['ignore', out, out], env: { ...process.env, ...opts.env } });
    closeSync(out);
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const tail = () => tailOf(dataDir);
    const deadline = t0 + (opts.startTimeoutMs ?? 120_000);
    try {
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`the Kafka Connect worker exited during start-up (code ${child.exitCode}, signal ${child.signalCode}):\n${tail()}`);
        }
        if (Date.now() > deadline) throw new Error(`the Kafka Connect worker was not ready after ${((Date.now() - t0) / 1000).toFixed(0)} s:\n${tail()}`);
        if (await listsMongoDbPlugin(`http://127.0.0.1:${port}`)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
    } catch (e) {
      child.kill('SIGKILL');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
      throw e;
    }
    const worker = new KafkaConnectWorker({ port, groupId, dataDir, child, exited, startMs: Date.now() - t0 });
    opts.onProgress?.(`Kafka Connect ${CONNECT_KAFKA_VERSION} with Debezium ${DEBEZIUM_VERSION} ready on ${worker.url} in ${(worker.startMs / 1000).toFixed(1)} s`);
    return worker;
  }

  /** The last lines of the worker's logs (for error messages). */
  tail(lines = 60): string { return tailOf(this.dataDir, lines); }

  /** Stops the worker (SIGTERM, SIGKILL after 15 s) and deletes its files. Its internal topics stay on the broker. */
  async destroy(): Promise<void> {
    if (this.running) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

function tailOf(dataDir: string, lines = 60): string {
  const read = (f: string) => { try { return readFileSync(join(dataDir, f), 'utf8'); } catch { return ''; } };
  return `${read('stdout.log')}${read('connect.log')}`.split('\n').slice(-lines).join('\n');
}

async function listsMongoDbPlugin(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/connector-plugins`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return false;
    const plugins = await res.json() as Array<{ class?: string }>;
    return plugins.some((p) => p.class === MONGODB_CONNECTOR_CLASS);
  } catch {
    return false;
  }
}
