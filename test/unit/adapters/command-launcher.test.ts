import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandLauncher, type CommandLauncherOptions } from '../../../adapters/finetune-launcher/command/command-launcher.ts';
import { findTributaryError } from '../../../ports/errors.ts';
import type { LaunchRequest, LaunchStatus } from '../../../ports/finetune-launcher.ts';

/**
 * The command under test: a node script that counts its runs in an append-only file, records its
 * arguments, environment and working directory, prints a line, waits until a gate file exists, writes
 * the model file and exits with EXIT_CODE (default 0). Arguments: runs file, gate file, record file, then anything.
 */
const JOB = `
const fs = require('node:fs');
const [runs, gate, record, ...rest] = process.argv.slice(1);
fs.appendFileSync(runs, 'run ' + process.pid + '\\n');
const e = process.env;
fs.writeFileSync(record, JSON.stringify({ rest, cwd: process.cwd(), env: {
  TRIBUTARY_DATASET_PATH: e.TRIBUTARY_DATASET_PATH, TRIBUTARY_DATASET_VERSION: e.TRIBUTARY_DATASET_VERSION,
  TRIBUTARY_DATASET: e.TRIBUTARY_DATASET, TRIBUTARY_JOB_ID: e.TRIBUTARY_JOB_ID, TRIBUTARY_MODEL_FILE: e.TRIBUTARY_MODEL_FILE } }));
console.log('training on ' + e.TRIBUTARY_DATASET_PATH);
const code = Number(e.EXIT_CODE || 0);
const done = () => {
  if (code === 0) fs.writeFileSync(e.TRIBUTARY_MODEL_FILE, '  ft:docs:v1\\n');
  else { console.error('loss is NaN'); console.error('giving up at step 12'); }
  process.exit(code);
};
const wait = () => (gate === '-' || fs.existsSync(gate) ? done() : setTimeout(wait, 20));
wait();
`;

let root: string;
let n = 0;
const started = new Set<number>();

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'tributary-command-launcher-'));
});
afterEach(async () => {
  // stop any run a failed test left behind (only the process groups these tests started)
  for (const pid of started) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  started.clear();
  await rm(root, { recursive: true, force: true });
});

interface Paths { workDir: string; runs: string; gate: string; record: string }

function paths(): Paths {
  n++;
  return { workDir: join(root, `job-${n}`, 'work'), runs: join(root, `runs-${n}.log`), gate: join(root, `gate-${n}`), record: join(root, `record-${n}.json`) };
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function request(workDir: string): LaunchRequest {
  const train = Buffer.from(`${JSON.stringify({ messages: [{ role: 'user', content: 'what is CDC — ü' }, { role: 'assistant', content: 'change data capture' }] })}\n`
    + `${JSON.stringify({ messages: [{ role: 'user', content: 'q2' }, { role: 'assistant', content: 'a2' }] })}\n`);
  const files = [{ name: 'train.jsonl', content: train, sha256: sha256(train), bytes: train.byteLength, records: 2 }];
  return {
    jobId: 'docs-0123456789abcdef0123', dataset: 'docs', datasetVersion: '0123456789abcdef0123', format: 'chat-sft', items: 2,
    manifest: {
      dataset: 'docs', version: '0123456789abcdef0123', format: 'chat-sft', createdAtMs: 1_700_000_000_000,
      counts: { items: 2 }, sources: {}, files: files.map(({ name, bytes, sha256: h, records }) => ({ name, bytes, sha256: h, records })),
    },
    files,
    workDir,
  };
}

function launcher(command: string[], options: CommandLauncherOptions = {}): CommandLauncher {
  return new CommandLauncher({ type: 'command', command, pollMs: 50 }, options);
}

function jobCommand(p: Paths, ...extra: string[]): string[] {
  return [process.execPath, '-e', JOB, p.runs, p.gate, p.record, ...extra];
}

const signal = (): AbortSignal => new AbortController().signal;

async function runs(p: Paths): Promise<number> {
  return existsSync(p.runs) ? (await readFile(p.runs, 'utf8')).split('\n').filter(Boolean).length : 0;
}

function track(s: LaunchStatus): LaunchStatus {
  if (s.externalId && /^\d+$/.test(s.externalId)) started.add(Number(s.externalId));
  return s;
}

/** Polls until the status is no longer running. */
async function settle(l: CommandLauncher, req: LaunchRequest, current: LaunchStatus, timeoutMs = 15_000): Promise<LaunchStatus> {
  const deadline = Date.now() + timeoutMs;
  let s = current;
  while (s.state === 'running') {
    if (Date.now() > deadline) throw new Error(`still running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
    s = await l.poll(req, s, signal());
  }
  return s;
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('CommandLauncher with real processes', () => {
  it('runs the command once on the materialised dataset: running, then succeeded with the model; placeholders and env set', async () => {
    const p = paths();
    const req = request(p.workDir);
    const l = launcher(jobCommand(p, '{datasetPath}', 'v={datasetVersion}', '{dataset}/{jobId}', 'plain'));
    const first = track(await l.launch(req, signal()));
    expect(first.state).toBe('running');
    expect(first.externalId).toMatch(/^\d+$/);
    await until(() => existsSync(p.record));

    // the dataset directory holds the version's bytes and its manifest
    expect((await readFile(join(p.workDir, 'dataset', 'train.jsonl'))).equals(req.files[0]!.content as Buffer)).toBe(true);
    expect(await readFile(join(p.workDir, 'dataset', 'manifest.json'), 'utf8')).toBe(JSON.stringify(req.manifest, null, 2));

    const record = JSON.parse(await readFile(p.record, 'utf8')) as { rest: string[]; cwd: string; env: Record<string, string> };
    const datasetPath = join(p.workDir, 'dataset');
    expect(record.rest).toEqual([datasetPath, 'v=0123456789abcdef0123', 'docs/docs-0123456789abcdef0123', 'plain']);
    expect(resolve(record.cwd)).toBe(resolve(p.workDir));
    expect(record.env).toEqual({
      TRIBUTARY_DATASET_PATH: datasetPath, TRIBUTARY_DATASET_VERSION: '0123456789abcdef0123', TRIBUTARY_DATASET: 'docs',
      TRIBUTARY_JOB_ID: 'docs-0123456789abcdef0123', TRIBUTARY_MODEL_FILE: join(p.workDir, 'model.txt'),
    });

    // still running: polls say so, and a second launch (another instance, as after a restart) starts nothing
    expect(await l.poll(req, first, signal())).toEqual({ state: 'running', externalId: first.externalId });
    expect(await launcher(jobCommand(p, 'x')).launch(req, signal())).toEqual({ state: 'running', externalId: first.externalId });
    await new Promise((r) => setTimeout(r, 300));
    expect(await runs(p)).toBe(1);

    await writeFile(p.gate, '');
    const final = await settle(l, req, first);
    expect(final).toEqual({ state: 'succeeded', externalId: first.externalId, model: 'ft:docs:v1', error: null });
    expect((await readFile(join(p.workDir, 'exit'), 'utf8')).trim()).toBe('0');
    expect(await readFile(join(p.workDir, 'output.log'), 'utf8')).toContain(`training on ${datasetPath}`);

    // after the run finished, a new launcher's launch returns the outcome and does not run it again
    const again = await launcher(jobCommand(p)).launch(req, signal());
    expect(again).toEqual(final);
    await new Promise((r) => setTimeout(r, 200));
    expect(await runs(p)).toBe(1);
  });

  it('a failing command is failed with its exit code and the last lines of its output', async () => {
    const p = paths();
    const req = request(p.workDir);
    const l = launcher(['/usr/bin/env', 'EXIT_CODE=3', ...jobCommand(p)]);
    await writeFile(p.gate, '');
    const s = await settle(l, req, track(await l.launch(req, signal())));
    expect(s.state).toBe('failed');
    expect(s.model ?? null).toBeNull();
    expect(s.error).toMatch(/^exited with code 3 \(last lines of output: .*loss is NaN \| giving up at step 12\)$/);
    expect(await runs(p)).toBe(1);
    // and it stays failed: launching again runs nothing
    expect(await launcher(jobCommand(p)).launch(req, signal())).toEqual(s);
    expect(await runs(p)).toBe(1);
  });

  it('a command killed by a signal is failed naming the signal', async () => {
    const p = paths();
    const req = request(p.workDir);
    const l = launcher(['/bin/sh', '-c', 'echo "about to die"; kill -TERM $$']);
    const s = await settle(l, req, track(await l.launch(req, signal())));
    expect(s.state).toBe('failed');
    expect(s.error).toMatch(/^killed by signal SIGTERM \(exit status 143\) \(last lines of output: about to die\b.*\)$/);
  });

  it('a command that does not exist fails in the wrapper with 127, reported by poll', async () => {
    const p = paths();
    const req = request(p.workDir);
    const l = launcher(['tributary-no-such-command-4711', '{datasetPath}']);
    const first = track(await l.launch(req, signal()));
    const s = await settle(l, req, first);
    expect(s.state).toBe('failed');
    expect(s.error).toMatch(/^exited with code 127 \(command not found\)/);
    expect(s.error).toContain('tributary-no-such-command-4711');
  });

  it('two launches at once (two instances) start one run', async () => {
    const p = paths();
    const req = request(p.workDir);
    const [a, b] = await Promise.all([launcher(jobCommand(p)).launch(req, signal()), launcher(jobCommand(p)).launch(req, signal())]);
    track(a);
    expect(a.state).toBe('running');
    expect(b).toEqual(a);
    await until(() => existsSync(p.record));
    await writeFile(p.gate, '');
    expect((await settle(launcher(jobCommand(p)), req, a)).state).toBe('succeeded');
    expect(await runs(p)).toBe(1);
  });

  it('an intent without a start (the caller died before the wrapper started) is started after the wait, exactly once', async () => {
    const p = paths();
    const req = request(p.workDir);
    await mkdir(p.workDir, { recursive: true });
    await writeFile(join(p.workDir, 'intent'), '{"pid":1}\n');
    await writeFile(p.gate, '');
    const l = launcher(jobCommand(p), { intentWaitMs: 400 });
    const t0 = Date.now();
    const first = track(await l.launch(req, signal()));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(first.state).toBe('running');
    const final = await settle(l, req, first);
    expect(final.state).toBe('succeeded');
    expect(await launcher(jobCommand(p), { intentWaitMs: 400 }).launch(req, signal())).toEqual(final);
    expect(await runs(p)).toBe(1);
  });

  it('two wrappers started for one version at once: only the one that claims the start runs the command', async () => {
    const p = paths();
    const req = request(p.workDir);
    await mkdir(p.workDir, { recursive: true });
    await writeFile(join(p.workDir, 'intent'), '{"pid":1}\n');
    // no wait for the intent: both launchers spawn a wrapper
    const [a, b] = await Promise.all([
      launcher(jobCommand(p), { intentWaitMs: 0 }).launch(req, signal()),
      launcher(jobCommand(p), { intentWaitMs: 0 }).launch(req, signal()),
    ]);
    track(a);
    expect(a.state).toBe('running');
    expect(b).toEqual(a);
    await writeFile(p.gate, '');
    expect((await settle(launcher(jobCommand(p)), req, a)).state).toBe('succeeded');
    await new Promise((r) => setTimeout(r, 200));
    // one run, whether both launches spawned a wrapper (the second then logs "not run twice") or, on a
    // busy machine, the second already saw the first one's start and spawned none
    expect(await runs(p)).toBe(1);
  });

  it('an intent whose wrapper starts during the wait is not started again', async () => {
    const p = paths();
    const req = request(p.workDir);
    await mkdir(p.workDir, { recursive: true });
    await writeFile(join(p.workDir, 'intent'), '{"pid":1}\n');
    const l = launcher(jobCommand(p), { intentWaitMs: 3_000 });
    const pending = l.launch(req, signal());
    // a live process records the start while the launcher waits (as the dying caller's wrapper would)
    const sleeper = spawn('/bin/sh', ['-c', 'sleep 30', 'tributary-job'], { stdio: 'ignore', detached: true });
    started.add(sleeper.pid!);
    await new Promise((r) => setTimeout(r, 300));
    await writeFile(join(p.workDir, 'started'), `${sleeper.pid}\n`);
    const s = await pending;
    expect(s).toEqual({ state: 'running', externalId: String(sleeper.pid) });
    expect(await runs(p)).toBe(0);
  });

  it('a start record whose process is dead with no exit is failed and never run again', async () => {
    const p = paths();
    const req = request(p.workDir);
    await mkdir(p.workDir, { recursive: true });
    const dead = spawnSync('/bin/sh', ['-c', 'echo $$']).stdout.toString().trim();
    await writeFile(join(p.workDir, 'intent'), '{"pid":1}\n');
    await writeFile(join(p.workDir, 'started'), `${dead}\n`);
    const l = launcher(jobCommand(p));
    const s = await l.launch(req, signal());
    expect(s.state).toBe('failed');
    expect(s.externalId).toBe(dead);
    expect(s.error).toContain(`the command (pid ${dead}) ended without recording its exit`);
    expect(s.error).toContain('never trained twice');
    expect(await l.poll(req, { state: 'running', externalId: dead }, signal())).toEqual(s);
    await new Promise((r) => setTimeout(r, 300));
    expect(await runs(p)).toBe(0);
  });

  it('a run killed together with its process group is failed, not re-run', async () => {
    const p = paths();
    const req = request(p.workDir);
    const l = launcher(jobCommand(p));
    const first = track(await l.launch(req, signal()));
    await until(() => existsSync(p.record));
    process.kill(-Number(first.externalId), 'SIGKILL'); // the wrapper leads its own group
    const s = await settle(l, req, first);
    expect(s.state).toBe('failed');
    expect(s.error).toContain('ended without recording its exit');
    expect(await launcher(jobCommand(p)).launch(req, signal())).toEqual(s);
    await writeFile(p.gate, '');
    await new Promise((r) => setTimeout(r, 300));
    expect(await runs(p)).toBe(1);
  });

  it('the exit is recorded when the caller was killed with -9 while the command ran', async () => {
    const p = paths();
    const req = request(p.workDir);
    const command = jobCommand(p);
    const script = join(root, 'caller.mts');
    const modulePath = resolve(import.meta.dirname, '../../../adapters/finetune-launcher/command/command-launcher.ts');
    await writeFile(script, [
      `import { CommandLauncher } from ${JSON.stringify(modulePath)};`,
      `const req = ${JSON.stringify({ ...req, files: [] })};`,
      `req.files = [{ ...${JSON.stringify({ ...req.files[0]!, content: undefined })}, content: Buffer.from(${JSON.stringify(Buffer.from(req.files[0]!.content).toString('base64'))}, 'base64') }];`,
      `const l = new CommandLauncher({ type: 'command', command: ${JSON.stringify(command)}, pollMs: 50 });`,
      `const s = await l.launch(req, new AbortController().signal);`,
      `console.log(JSON.stringify(s));`,
      `setInterval(() => {}, 1000);`,
    ].join('\n'));
    const caller = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((res, rej) => {
      let out = '';
      caller.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) res(out.split('\n')[0]!);
      });
      caller.on('exit', (code) => rej(new Error(`caller exited with ${code}`)));
    });
    const first = track(JSON.parse(line) as LaunchStatus);
    expect(first.state).toBe('running');
    await until(() => existsSync(p.record));
    const gone = new Promise((r) => caller.on('exit', r));
    caller.kill('SIGKILL');
    await gone;

    // the caller is dead; the command goes on, ends, and its exit is recorded for the next caller
    await writeFile(p.gate, '');
    await until(() => existsSync(join(p.workDir, 'exit')));
    const l = launcher(command);
    expect(await l.launch(req, signal())).toEqual({ state: 'succeeded', externalId: first.externalId, model: 'ft:docs:v1', error: null });
    expect(await runs(p)).toBe(1);
  });

  it('a command that cannot be spawned is LAUNCH_REJECTED', async () => {
    const p = paths();
    const req = request(p.workDir);
    // a NUL byte in an argument: spawn refuses it before any process exists
    const err = await launcher(['echo', 'a\0b']).launch(req, signal()).then(() => null, (e: unknown) => e);
    const te = findTributaryError(err);
    expect(te?.code).toBe('LAUNCH_REJECTED');
    expect(te?.retryable).toBe(false);
  });

  it('poll without any record in the work directory is failed', async () => {
    const p = paths();
    const req = request(p.workDir);
    await mkdir(p.workDir, { recursive: true });
    const s = await launcher(jobCommand(p)).poll(req, { state: 'running', externalId: null }, signal());
    expect(s.state).toBe('failed');
    expect(s.error).toContain('nothing was started');
  });
});
