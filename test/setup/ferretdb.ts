import { spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MongoClient } from 'mongodb';
import { freePort } from '../helpers/free-port.ts';
import { ServerProcess } from './server-process.ts';

/**
 * A real MongoDB wire-protocol server for the test suites: FerretDB 1.x with its SQLite backend, on
 * a free loopback port, its data in a temporary directory. The binary is built once from FerretDB's
 * Go module (Go module proxy) into a cache outside the repository
 * (`${XDG_CACHE_HOME:-~/.cache}/tributary/ferretdb-<version>/ferretdb`) by test/setup/fetch-ferretdb.sh.
 *
 * FerretDB is not MongoDB: it has no change streams, no transactions and no replica set (see
 * test/integration/mongodb-wire/ferretdb.test.ts for what it answers).
 *
 * Start-up: build the binary (first time only; needs Go and the network), start it, wait until a
 * `ping` answers. `stop()` + `restart()` bring the same server back on the same port and data;
 * `destroy()` stops it and deletes its data.
 */

/** Keep in sync with the default in test/setup/fetch-ferretdb.sh. */
export const FERRETDB_VERSION = '1.24.2';
const FETCH_SCRIPT = resolve(import.meta.dirname, 'fetch-ferretdb.sh');

export interface FerretDbOptions {
  /** Called with progress lines (build, start). */
  onProgress?: (line: string) => void;
  /** How long start-up may take once the binary is built (default 30 s). */
  startTimeoutMs?: number;
  /** FerretDB's log level (default WARN; its log is `ferretdb.log` in the data directory). */
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

export function ferretDbCacheDir(version = FERRETDB_VERSION): string {
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'tributary', `ferretdb-${version}`);
}

/** The cached FerretDB binary, or null when it has not been built yet. */
export function ferretDbBinary(version = FERRETDB_VERSION): string | null {
  const bin = join(ferretDbCacheDir(version), 'ferretdb');
  try {
    accessSync(bin, constants.X_OK);
    return bin;
  } catch {
    return null;
  }
}

/** True when a `go` executable is on the PATH (needed only to build the binary). */
export function goAvailable(): boolean {
  return spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
}

/** True when a FerretDB can be started here: the binary is built, or Go is there to build it. */
export function ferretDbAvailable(version = FERRETDB_VERSION): boolean {
  return ferretDbBinary(version) !== null || goAvailable();
}

/**
 * Builds the binary unless it is already cached (test/setup/fetch-ferretdb.sh: idempotent, and a
 * half-built binary is never used). Returns its path.
 */
export async function ensureFerretDb(opts: { version?: string; onProgress?: (line: string) => void } = {}): Promise<string> {
  const version = opts.version ?? FERRETDB_VERSION;
  const cached = ferretDbBinary(version);
  if (cached) return cached;
  if (!goAvailable()) {
    throw new Error(`FerretDB ${version} is not built in ${ferretDbCacheDir(version)} and Go is not on the PATH to build it; install Go, or set FERRETDB_URL to a running server`);
  }
  const child = spawn('bash', [FETCH_SCRIPT], { env: { ...process.env, FERRETDB_VERSION: version }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    // `go: downloading …` lines are many and say little
    for (const line of s.split('\n')) if (line && !line.startsWith('go: downloading')) opts.onProgress?.(line);
  });
  const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
  const bin = ferretDbBinary(version);
  if (code !== 0 || !bin) {
    throw new Error(`building FerretDB ${version} failed (test/setup/fetch-ferretdb.sh exited ${code}):\n${stderr.split('\n').slice(-30).join('\n')}${stdout}`);
  }
  return bin;
}

export class FerretDb extends ServerProcess {
  readonly port: number;
  readonly dataDir: string;
  /** FerretDB closes its connections on SIGTERM. */
  protected readonly stopTimeoutMs = 10_000;
  private readonly binary: string;
  private readonly opts: FerretDbOptions;
  /** Milliseconds the last start took (process launch to the first answered ping). */
  lastStartMs = 0;

  private constructor(binary: string, dataDir: string, port: number, opts: FerretDbOptions) {
    super();
    this.binary = binary; this.dataDir = dataDir; this.port = port; this.opts = opts;
  }

  /**
   * A URL for the official driver. FerretDB runs without a replica set name, so its `hello`
   * carries no `setName` and the driver sees a standalone server; `directConnection=true` says
   * so up front (one host, no topology discovery).
   */
  get url(): string { return `mongodb://127.0.0.1:${this.port}/?directConnection=true`; }
  /** Builds the binary if needed, creates a fresh data directory and starts the server. */
  static async start(opts: FerretDbOptions = {}): Promise<FerretDb> {
    const binary = await ensureFerretDb({ onProgress: opts.onProgress });
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-ferretdb-'));
    mkdirSync(join(dataDir, 'sqlite'));
    const server = new FerretDb(binary, dataDir, await freePort(), opts);
    try {
      await server.launch();
    } catch (e) {
      await server.destroy();
      throw e;
    }
    return server;
  }

  private get logFile(): string { return join(this.dataDir, 'ferretdb.log'); }

  private args(): string[] {
    return [
      '--handler=sqlite',
      // a directory URI, ending with "/": one SQLite file per database
      `--sqlite-url=${pathToFileURL(join(this.dataDir, 'sqlite')).href}/`,
      `--listen-addr=127.0.0.1:${this.port}`,
      // state.json (instance UUID, telemetry decision) stays in the temporary directory
      `--state-dir=${this.dataDir}`,
      // the default is an HTTP listener (metrics, pprof) on the fixed 127.0.0.1:8088: off
      '--debug-addr=-',
      '--telemetry=disable',
      '--mode=normal',
      `--log-level=${this.opts.logLevel ?? 'WARN'}`,
      '--log-format=text',
    ];
  }

  /** Starts the process on the existing data directory and waits until a `ping` answers. */
  protected async launch(): Promise<void> {
    const t0 = Date.now();
    // FerretDB reads FERRETDB_<FLAG> variables for every flag: none of the caller's may leak in
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FERRETDB_')));
    env['DO_NOT_TRACK'] = '1'; // telemetry is off by flag already; this says it twice
    const out = openSync(this.logFile, 'a');
    const child = spawn(this.binary, this.args(), { cwd: this.dataDir, env, stdio: ['ignore', out, out] });
    closeSync(out);
    this.track(child);
    const deadline = t0 + (this.opts.startTimeoutMs ?? 30_000);
    for (;;) {
      if (!this.running) throw new Error(`FerretDB exited during start-up (code ${child.exitCode}, signal ${child.signalCode}):\n${this.tail()}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`FerretDB was not ready after ${((Date.now() - t0) / 1000).toFixed(0)} s:\n${this.tail()}`);
      }
      // the port first: a driver that finds it closed waits for its next heartbeat (500 ms)
      if (await portOpen(this.port) && await ping(this.url)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    this.lastStartMs = Date.now() - t0;
    this.opts.onProgress?.(`FerretDB ${FERRETDB_VERSION} (SQLite) ready on 127.0.0.1:${this.port} in ${this.lastStartMs} ms`);
  }

  /** The last lines of FerretDB's log (for error messages). */
  tail(lines = 40): string {
    try { return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n'); } catch { return ''; }
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((r) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); r(true); });
    socket.once('error', () => { socket.destroy(); r(false); });
  });
}

/** Ready = a fresh connection gets an answer to `ping`. */
async function ping(url: string): Promise<boolean> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 1000, connectTimeoutMS: 1000, maxPoolSize: 1 });
  try {
    await client.db('admin').command({ ping: 1 });
    return true;
  } catch {
    return false;
  } finally {
    await client.close().catch(() => undefined);
  }
}
