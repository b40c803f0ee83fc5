import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TributaryError } from '../../../ports/errors.ts';
import type { FinetuneLauncher, LaunchRequest, LaunchStatus } from '../../../ports/finetune-launcher.ts';
import type { LauncherConfig } from '../../../schemas/finetune.ts';

export type CommandLauncherConfig = Extract<LauncherConfig, { type: 'command' }>;

export interface CommandLauncherOptions {
  /** How long `launch` waits for the start of a run another caller intended (default 3 s). */
  intentWaitMs?: number;
  /** How long `launch` waits for a run it spawned to record its start (default 5 s). */
  startWaitMs?: number;
}

/** $0 of the wrapper: how a live wrapper is told from an unrelated process that reused its pid. */
const WRAPPER_NAME = 'tributary-job';

/**
 * The wrapper around the command, run by /bin/sh with the command as its arguments. It claims the run
 * by hard-linking a file holding its pid to `started` (a link fails when `started` exists, so of two
 * wrappers started for one version only one runs the command), runs the command with no shell
 * interpretation of its arguments (`exec` in a subshell: a program, never a shell builtin; one that
 * cannot be found exits 127), then records the exit status in `exit` (written aside, then renamed).
 * Signals sent to the wrapper alone are held until the command ends (so the exit is still recorded);
 * to stop the job, signal its process group: `kill -TERM -- -<pid>`.
 */
const WRAPPER = [
  `trap ':' HUP INT TERM`,
  `echo $$ > "started.$$.tmp" || exit 125`,
  `if ! ln "started.$$.tmp" started; then`,
  `  rm -f "started.$$.tmp"`,
  `  if [ -e started ]; then echo "${WRAPPER_NAME}: already started (pid $(cat started)): not run twice" >&2; exit 0; fi`,
  `  exit 125`,
  `fi`,
  `rm -f "started.$$.tmp"`,
  `(exec "$@")`,
  `code=$?`,
  `echo $code > exit.tmp && mv -f exit.tmp exit`,
  `exit $code`,
].join('\n');

const POLL_MS = 50;
const OUTPUT_TAIL_BYTES = 4096;
const OUTPUT_TAIL_LINES = 10;
const OUTPUT_TAIL_CHARS = 1500;

type Inspection =
  | { kind: 'status'; status: LaunchStatus }
  | { kind: 'intent' }
  | { kind: 'none' };

/**
 * Runs a local command on the dataset version, exactly once per version even across crashes of the
 * calling process (kill -9 included). Everything is decided from marker files in the job's `workDir`:
 *
 *  - `intent`: written (and flushed) before the first start: a caller decided to start the command;
 *  - `started`: the wrapper's pid, written by the wrapper itself before it runs the command;
 *  - `exit`: the command's exit status, written by the wrapper when it ends.
 *
 * The wrapper is detached (its own session and process group) and records the exit itself, so the
 * command keeps running and its end is recorded if the caller dies. A run that was started is never
 * started again: when its wrapper died without recording an exit, the job is failed, not retried.
 */
export class CommandLauncher implements FinetuneLauncher {
  readonly type = 'command' as const;
  private readonly config: CommandLauncherConfig;
  private readonly intentWaitMs: number;
  private readonly startWaitMs: number;

  constructor(config: CommandLauncherConfig, options: CommandLauncherOptions = {}) {
    this.config = config;
    this.intentWaitMs = options.intentWaitMs ?? 3_000;
    this.startWaitMs = options.startWaitMs ?? 5_000;
  }

  async launch(req: LaunchRequest, signal: AbortSignal): Promise<LaunchStatus> {
    signal.throwIfAborted();
    const dir = req.workDir;
    try {
      await mkdir(join(dir, 'dataset'), { recursive: true });
      await materialise(req);
    } catch (e) {
      throw new TributaryError('LAUNCH_REJECTED', `could not write the dataset ${req.dataset}@${req.datasetVersion} to ${join(dir, 'dataset')}: ${(e as Error).message}`, { cause: e });
    }

    const found = await inspect(req, null);
    if (found.kind === 'status') return found.status;
    // none recorded: record the intent and start, unless another caller recorded it first (it is deciding right now)
    if (found.kind === 'none' && await writeIntent(dir)) return this.start(req, signal);
    // a caller decided to start the command and may have died before the wrapper recorded its start
    const deadline = Date.now() + this.intentWaitMs;
    for (;;) {
      const now = await inspect(req, null);
      if (now.kind === 'status') return now.status;
      if (Date.now() >= deadline) break;
      await sleep(POLL_MS, signal);
    }
    // never started: start it (if that caller's wrapper is merely slow, the claim on `started` lets only one run)
    return this.start(req, signal);
  }

  async poll(req: LaunchRequest, current: LaunchStatus, signal: AbortSignal): Promise<LaunchStatus> {
    signal.throwIfAborted();
    const found = await inspect(req, current.externalId);
    if (found.kind === 'status') return found.status;
    if (found.kind === 'intent') {
      // decided, not started yet: running while the wrapper we know of lives
      const pid = parsePid(current.externalId);
      if (pid !== null && !(await isWrapperAlive(pid))) {
        return failed(current.externalId, `the command's wrapper (pid ${pid}) ended before starting it${await outputTail(req.workDir, '; ')}`);
      }
      return { state: 'running', externalId: current.externalId };
    }
    return failed(current.externalId, `nothing was started in ${req.workDir} (no intent, start or exit recorded there)`);
  }

  async close(): Promise<void> {
    // nothing held: a running command keeps running, and its wrapper records its exit
  }

  private async start(req: LaunchRequest, signal: AbortSignal): Promise<LaunchStatus> {
    const dir = req.workDir;
    const datasetPath = join(dir, 'dataset');
    const values: Record<string, string> = { datasetPath, datasetVersion: req.datasetVersion, dataset: req.dataset, jobId: req.jobId };
    const args = this.config.command.map((a) => a.replace(/\{(datasetPath|datasetVersion|dataset|jobId)\}/g, (_m, k: string) => values[k] ?? ''));
    const env = {
      ...process.env,
      TRIBUTARY_DATASET_PATH: datasetPath,
      TRIBUTARY_DATASET_VERSION: req.datasetVersion,
      TRIBUTARY_DATASET: req.dataset,
      TRIBUTARY_JOB_ID: req.jobId,
      TRIBUTARY_MODEL_FILE: join(dir, 'model.txt'),
    };

    let exited = false;
    let exitCode: number | null = null;
    let pid: number | undefined;
    const log = await open(join(dir, 'output.log'), 'a');
    try {
      const child = spawn('/bin/sh', ['-c', WRAPPER, WRAPPER_NAME, ...args], {
        cwd: dir, env, detached: true, stdio: ['ignore', log.fd, log.fd],
      });
      child.on('exit', (code) => {
        exited = true;
        exitCode = code;
      });
      pid = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('spawn', () => resolve(child.pid as number));
      });
      child.unref();
    } catch (e) {
      throw new TributaryError('LAUNCH_REJECTED', `could not start the command for ${req.dataset}@${req.datasetVersion} (${this.config.command[0]}): ${(e as Error).message}`, { cause: e });
    } finally {
      await log.close();
    }

    const deadline = Date.now() + this.startWaitMs;
    for (;;) {
      const started = await readMarker(join(dir, 'started'));
      if (started !== null) {
        await flush(join(dir, 'started'), dir);
        return { state: 'running', externalId: parsePid(started) === null ? null : started.trim() };
      }
      if (exited) {
        throw new TributaryError('LAUNCH_REJECTED', `the wrapper of the command for ${req.dataset}@${req.datasetVersion} exited with ${exitCode} before starting it${await outputTail(dir, '; ')}`);
      }
      if (Date.now() >= deadline) return { state: 'running', externalId: String(pid) }; // still starting: `poll` follows it
      await sleep(POLL_MS, signal);
    }
  }
}

/** The file-based decision: exit → final; started → running or failed (dead, no exit); intent; none. */
async function inspect(req: LaunchRequest, knownId: string | null): Promise<Inspection> {
  const dir = req.workDir;
  const exit = await readMarker(join(dir, 'exit'));
  const started = await readMarker(join(dir, 'started'));
  const pid = parsePid(started);
  const externalId = pid === null ? knownId : String(pid);
  if (exit !== null) return { kind: 'status', status: await finalStatus(dir, exit, externalId) };
  if (started !== null) {
    if (pid === null) return { kind: 'status', status: failed(externalId, `the start record in ${dir} holds no pid ("${started.slice(0, 40)}")`) };
    if (await isWrapperAlive(pid)) return { kind: 'status', status: { state: 'running', externalId } };
    // the exit may have been recorded between the two reads
    const late = await readMarker(join(dir, 'exit'));
    if (late !== null) return { kind: 'status', status: await finalStatus(dir, late, externalId) };
    return {
      kind: 'status',
      status: failed(externalId, `the command (pid ${pid}) ended without recording its exit (killed together with its caller, or the machine restarted); not run again, so this version is never trained twice; trigger it again by hand to retry`),
    };
  }
  if (await exists(join(dir, 'intent'))) return { kind: 'intent' };
  return { kind: 'none' };
}

async function finalStatus(dir: string, exit: string, externalId: string | null): Promise<LaunchStatus> {
  const code = Number.parseInt(exit.trim(), 10);
  if (!Number.isInteger(code)) return failed(externalId, `the exit record in ${dir} is unreadable ("${exit.slice(0, 40)}")`);
  if (code === 0) {
    const model = (await readMarker(join(dir, 'model.txt')))?.trim();
    return { state: 'succeeded', externalId, model: model ? model : null, error: null };
  }
  const tail = await outputTail(dir, 'last lines of output: ');
  const output = tail ? ` (${tail})` : '';
  // the shell reports a command killed by signal N as 128 + N
  const signal = code > 128 ? signalName(code - 128) : null;
  if (signal) return failed(externalId, `killed by signal ${signal} (exit status ${code})${output}`);
  const hint = code === 127 ? ' (command not found)' : code === 126 ? ' (command not executable)' : '';
  return failed(externalId, `exited with code ${code}${hint}${output}`);
}

function failed(externalId: string | null, error: string): LaunchStatus {
  return { state: 'failed', externalId, model: null, error };
}

function signalName(n: number): string | null {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return null;
}

/** Writes the files and manifest.json into `<workDir>/dataset/`: a file already holding the same bytes is left alone (a running command may be reading it), any other is replaced atomically. */
async function materialise(req: LaunchRequest): Promise<void> {
  const dir = join(req.workDir, 'dataset');
  const files: Array<{ name: string; content: Uint8Array }> = [
    ...req.files.map((f) => ({ name: f.name, content: f.content })),
    { name: 'manifest.json', content: Buffer.from(JSON.stringify(req.manifest, null, 2), 'utf8') },
  ];
  const names = new Set<string>();
  for (const f of files) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(f.name) || names.has(f.name)) {
      throw new Error(`file name "${f.name}" is not a plain file name, or is given twice`);
    }
    names.add(f.name);
  }
  for (const f of files) {
    const path = join(dir, f.name);
    let current: Buffer | null = null;
    try {
      current = await readFile(path);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw e;
    }
    if (current && current.byteLength === f.content.byteLength && sha256(current) === sha256(f.content)) continue;
    const tmp = `${path}.${randomUUID()}.tmp`; // unique: two launches may materialise at once
    try {
      const fh = await open(tmp, 'wx');
      try {
        await fh.writeFile(f.content);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } finally {
      await rm(tmp, { force: true });
    }
  }
}

/** Creates `intent` exclusively and flushes it; false when it already exists. */
async function writeIntent(dir: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(join(dir, 'intent'), 'wx');
  } catch (e) {
    if ((e as { code?: string }).code === 'EEXIST') return false;
    throw new TributaryError('LAUNCH_REJECTED', `could not record the intent to start in ${dir}: ${(e as Error).message}`, { cause: e });
  }
  try {
    await fh.writeFile(`${JSON.stringify({ pid: process.pid, at: new Date().toISOString() })}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await flush(null, dir);
  return true;
}

/** fsyncs a file and its directory (best effort: some filesystems refuse a directory fsync). */
async function flush(file: string | null, dir: string): Promise<void> {
  for (const p of file ? [file, dir] : [dir]) {
    try {
      const fh = await open(p, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch {
      // best effort
    }
  }
}

async function readMarker(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return null;
    throw new TributaryError('LAUNCHER_UNAVAILABLE', `could not read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return false;
    throw new TributaryError('LAUNCHER_UNAVAILABLE', `could not read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

function parsePid(s: string | null): number | null {
  if (s === null) return null;
  const t = s.trim();
  if (!/^[1-9][0-9]{0,9}$/.test(t)) return null;
  return Number(t);
}

/**
 * Whether the wrapper with this pid still runs: the pid exists and, where /proc tells, it is not a
 * zombie and is still our wrapper (after a restart the pid may belong to something else).
 */
async function isWrapperAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as { code?: string }).code !== 'EPERM') return false;
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.split('\0').includes(WRAPPER_NAME);
  } catch {
    // no /proc (or the process just ended): the signal check stands, unless it is gone now
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as { code?: string }).code === 'EPERM';
    }
  }
}

/** The last lines of output.log, on one line, after `prefix`; '' when there is none. */
async function outputTail(dir: string, prefix: string): Promise<string> {
  let text: string;
  try {
    const fh = await open(join(dir, 'output.log'), 'r');
    try {
      const { size } = await fh.stat();
      const start = Math.max(0, size - OUTPUT_TAIL_BYTES);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      text = buf.toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
  const lines = text.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '').slice(-OUTPUT_TAIL_LINES);
  if (lines.length === 0) return '';
  let joined = lines.join(' | ');
  if (joined.length > OUTPUT_TAIL_CHARS) joined = `…${joined.slice(-OUTPUT_TAIL_CHARS)}`;
  return `${prefix}${joined}`;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
