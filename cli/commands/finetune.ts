import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, open, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ApiPaths } from '../api-paths.ts';
import { closest, helpHint, type ParsedArgs } from '../args.ts';
import type { ApiClient } from '../client.ts';
import { clientFor, jsonOption, printJson, serverOption, urlEnv, type Command, type CommandContext } from '../command.ts';
import { CliError, ExitCodes, UsageError } from '../errors.ts';
import { formatBytes, plural, styleFor, truncate, type Style } from '../format.ts';
import { renderTable, type Column } from '../table.ts';
import { DATASET_NAME_PATTERN, JOB_STATES } from '../../schemas/finetune.ts';

/**
 * `tributary finetune <datasets|jobs|trigger|export>`: continuous training over the API (admin
 * scope). `datasets` shows the finetune-trigger consumer's view of each dataset, `jobs` the
 * fine-tune jobs, `trigger` asks for a window now, and `export` downloads a pinned dataset version,
 * verifying every file against the manifest's sha256 and size before anything is put in place.
 */

const datasetOption = { type: 'string', value: 'name', description: 'the dataset (as configured in TRIBUTARY_FINETUNE_DATASETS)' } as const;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MANIFEST_FILE = 'manifest.json';
const SHA256_HEADER = 'x-tributary-sha256';
/** A file download gives up when no byte has arrived for this long. */
const DOWNLOAD_IDLE_MS = 60_000;

// ---- reading the API's answers (tolerant: missing fields show as "-") ----

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const listOf = (body: unknown, key: string): Obj[] => {
  const v = Array.isArray(body) ? body : obj(body)[key];
  return Array.isArray(v) ? v.map(obj) : [];
};

/** An ISO time as `YYYY-MM-DD HH:MM:SS` (UTC, like the other tables); "-" when absent. */
function when(v: unknown): string {
  const s = str(v);
  if (s === null) return '-';
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? s : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

function paintState(state: string | null, s: Style): string {
  if (state === null) return '-';
  if (state === 'succeeded') return s.green(state);
  if (state === 'failed') return s.red(state);
  if (state === 'cancelled') return s.dim(state);
  if (state === 'running' || state === 'launched') return s.cyan(state);
  return s.yellow(state);
}

// ---- options ----

/** A required string option: the same usage error as a missing argument. */
function required(args: ParsedArgs, name: string, placeholder: string, usage: string): string {
  const v = args.string(name);
  if (v === undefined) throw new UsageError(`missing --${name} <${placeholder}> (usage: tributary ${args.command} ${usage} [options])`, [helpHint(args.command)]);
  return v;
}

function datasetName(raw: string, command: string): string {
  if (!DATASET_NAME_PATTERN.test(raw)) {
    throw new UsageError(`--dataset "${raw}" is not a dataset name (1–64 lower-case letters, digits, "_" or "-")`, [helpHint(command)]);
  }
  return raw;
}

function versionId(raw: string, command: string): string {
  if (!VERSION_PATTERN.test(raw)) throw new UsageError(`--version "${raw}" is not a dataset version (e.g. 3f2a9c0d1e4b5a6c7d8e)`, [`List them: tributary finetune jobs --dataset <name>`, helpHint(command)]);
  return raw;
}

// ---- finetune datasets ----

export const finetuneDatasets: Command = {
  spec: {
    name: 'finetune datasets',
    summary: 'fine-tuning datasets: items pending against the threshold, last version and launch (GET /v1/finetune/datasets)',
    usage: '',
    description: [
      'Lists the configured fine-tuning datasets as the finetune-trigger consumer last reported them: net-new',
      'items pending against the threshold that opens a window, items held, the last pinned version and launch,',
      'and what became of the last window (job, empty, failed, or still pending).',
    ].join('\n'),
    options: { json: jsonOption, server: serverOption },
    positionals: { min: 0, max: 0 },
    examples: ['tributary finetune datasets', 'tributary finetune datasets --json'],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const body = await clientFor(args, ctx).json('GET', ApiPaths.finetuneDatasets, { signal: ctx.signal, timeoutMs: 15_000 });
    if (args.flag('json')) { printJson(ctx, body); return ExitCodes.ok; }
    const datasets = listOf(body, 'datasets');
    const s = styleFor(ctx.stdout, ctx.env);
    if (datasets.length === 0) {
      ctx.stdout.write('No fine-tuning datasets are configured (TRIBUTARY_FINETUNE_DATASETS).\n');
      return ExitCodes.ok;
    }
    const columns: Column[] = [
      { header: 'NAME' }, { header: 'SOURCE' }, { header: 'FORMAT' }, { header: 'PENDING', align: 'right' }, { header: 'TOTAL', align: 'right' },
      { header: 'LAST VERSION' }, { header: 'LAST LAUNCH' }, { header: 'LAST WINDOW', flex: true }, { header: 'LAUNCHER' },
    ];
    const rows = datasets.map((d) => {
      const w = d['lastWindow'] === null || d['lastWindow'] === undefined ? null : obj(d['lastWindow']);
      const outcome = w ? str(w['outcome']) ?? '?' : null;
      const message = w ? str(w['message']) : null;
      // not coloured: the column shrinks on a narrow terminal, and a cut would split an escape sequence
      const windowCell = outcome === null ? '-' : `${outcome}${message ? `: ${truncate(message, 60)}` : ''}`;
      const pending = num(d['pending']);
      const threshold = num(d['threshold']);
      return [
        str(d['name']) ?? '?', str(d['source']) ?? '-', str(d['format']) ?? '-',
        `${pending ?? '-'}/${threshold ?? '-'}`, String(num(d['total']) ?? '-'),
        str(d['lastVersion']) ?? '-', when(d['lastLaunchAt']), windowCell, str(d['launcher']) ?? '-',
      ];
    });
    ctx.stdout.write(renderTable(columns, rows, ctx.stdout.columns !== undefined ? { maxWidth: ctx.stdout.columns } : {}));
    const silent = datasets.filter((d) => d['updatedAt'] === null || d['updatedAt'] === undefined).map((d) => str(d['name']) ?? '?');
    if (silent.length > 0) {
      ctx.stdout.write(`\n${s.yellow('not reported yet')}: ${silent.join(', ')} (is the finetune-trigger consumer running?)\n`);
    }
    ctx.stdout.write(`\nLaunch one now: ${ctx.invokedAs} finetune trigger --dataset <name>\n`);
    return ExitCodes.ok;
  },
};

// ---- finetune jobs ----

export const finetuneJobs: Command = {
  spec: {
    name: 'finetune jobs',
    summary: 'fine-tune jobs, newest first: version, state, launcher, model (GET /v1/finetune/jobs)',
    usage: '',
    description: [
      'Lists fine-tune jobs, newest first: the pinned dataset version each trains on, its state',
      `(${JOB_STATES.join(', ')}),`,
      'the launcher and its id for the job, the fine-tuned model once there is one, and the error of a failed job.',
    ].join('\n'),
    options: {
      dataset: { ...datasetOption, description: 'only jobs of this dataset' },
      state: { type: 'string', value: 'state', description: `only jobs in this state (${JOB_STATES.join(', ')})` },
      limit: { type: 'string', short: 'n', value: 'n', description: 'most jobs to show (1-1000)', defaultText: 'the server\'s' },
      json: jsonOption,
      server: serverOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['tributary finetune jobs', 'tributary finetune jobs --dataset support-sft --state failed', 'tributary finetune jobs --limit 5 --json'],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const rawDataset = args.string('dataset');
    const dataset = rawDataset === undefined ? undefined : datasetName(rawDataset, args.command);
    const state = args.string('state');
    if (state !== undefined && !(JOB_STATES as readonly string[]).includes(state)) {
      const guess = closest(state, JOB_STATES);
      throw new UsageError(`--state "${state}" is not a job state (${JOB_STATES.join(', ')})`, [...(guess ? [`Did you mean --state ${guess}?`] : []), helpHint(args.command)]);
    }
    const limit = args.int('limit', { min: 1, max: 1000 });
    const body = await clientFor(args, ctx).json('GET', ApiPaths.finetuneJobs, { query: { dataset, state, limit }, signal: ctx.signal, timeoutMs: 15_000 });
    if (args.flag('json')) { printJson(ctx, body); return ExitCodes.ok; }
    const jobs = listOf(body, 'jobs');
    const s = styleFor(ctx.stdout, ctx.env);
    if (jobs.length === 0) {
      const scope = [dataset ? `for dataset ${dataset}` : '', state ? `in state ${state}` : ''].filter(Boolean).join(' ');
      ctx.stdout.write(`No fine-tune jobs${scope ? ` ${scope}` : ''} yet.\n`);
      return ExitCodes.ok;
    }
    const withError = jobs.some((j) => str(j['error']) !== null);
    const columns: Column[] = [
      { header: 'ID' }, { header: 'DATASET' }, { header: 'VERSION' }, { header: 'ITEMS', align: 'right' }, { header: 'STATE' },
      { header: 'LAUNCHER' }, { header: 'EXTERNAL ID' }, { header: 'MODEL' }, { header: 'UPDATED' },
      ...(withError ? [{ header: 'ERROR', flex: true }] : []),
    ];
    const rows = jobs.map((j) => [
      str(j['id']) ?? '?', str(j['dataset']) ?? '-', str(j['datasetVersion']) ?? '-', String(num(j['items']) ?? '-'),
      paintState(str(j['state']), s), str(j['launcher']) ?? '-', str(j['externalId']) ?? '-', str(j['model']) ?? '-', when(j['updatedAt']),
      ...(withError ? [truncate(str(j['error']) ?? '', 300)] : []),
    ]);
    ctx.stdout.write(renderTable(columns, rows, ctx.stdout.columns !== undefined ? { maxWidth: ctx.stdout.columns } : {}));
    const first = jobs[0]!;
    const [d, v] = [str(first['dataset']), str(first['datasetVersion'])];
    ctx.stdout.write(`\n${plural(jobs.length, 'job')}.`);
    ctx.stdout.write(d && v ? ` Export a version's files: ${ctx.invokedAs} finetune export --dataset ${d} --version ${v}\n` : '\n');
    return ExitCodes.ok;
  },
};

// ---- finetune trigger ----

const TRIGGER_USAGE = '--dataset <name>';

export const finetuneTrigger: Command = {
  spec: {
    name: 'finetune trigger',
    summary: 'open a fine-tuning window now, without waiting for the threshold (POST /v1/finetune/trigger)',
    usage: TRIGGER_USAGE,
    description: [
      'Asks the finetune-trigger consumer to open a window for the dataset now: it pins the dataset as it is',
      '(a version) and launches a job for it, or reuses the job of that version if it was launched before.',
      'Waits up to --wait ms for the answer. Exit code 0 when a job stands for the data (new or existing) or',
      'the answer is still pending; 1 when the dataset held nothing to train on (empty) or the window failed.',
    ].join('\n'),
    options: {
      dataset: datasetOption,
      wait: { type: 'string', short: 'w', value: 'ms', description: 'how long to wait for the trigger\'s answer (0-60000)', defaultText: '15000' },
      json: { ...jsonOption, description: 'print the server\'s JSON response' },
      server: serverOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['tributary finetune trigger --dataset support-sft', 'tributary finetune trigger --dataset prefs-dpo --wait 0', 'tributary finetune trigger --dataset support-sft --json'],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const dataset = datasetName(required(args, 'dataset', 'name', TRIGGER_USAGE), args.command);
    const waitMs = args.int('wait', { min: 0, max: 60_000 }, 15_000);
    const body = await clientFor(args, ctx).json('POST', ApiPaths.finetuneTrigger, { body: { dataset, waitMs }, signal: ctx.signal, timeoutMs: waitMs + 30_000 });
    const b = obj(body);
    const outcome = str(b['outcome']);
    const code = outcome === 'job' || outcome === 'pending' ? ExitCodes.ok : ExitCodes.failure;
    if (args.flag('json')) { printJson(ctx, body); return code; }
    const s = styleFor(ctx.stdout, ctx.env);
    const requestId = str(b['requestId']);
    const message = str(b['message']);
    if (outcome === 'job') {
      const job = obj(b['job']);
      const id = str(job['id']) ?? '?';
      const version = str(job['datasetVersion']) ?? '?';
      const ids = Array.isArray(job['requestIds']) ? job['requestIds'] : [];
      // a job this request opened carries its request id first; an existing one (threshold, another trigger) does not
      const isNew = job['trigger'] === 'manual' && requestId !== null && ids[0] === requestId;
      const items = num(job['items']);
      ctx.stdout.write(isNew
        ? `${s.green('New fine-tune job')} ${s.bold(id)} for dataset ${dataset}: version ${version}${items !== null ? ` (${plural(items, 'item')})` : ''}, state ${paintState(str(job['state']), s)}, launcher ${str(job['launcher']) ?? '-'}.\n`
        : `Dataset ${dataset} has not changed since version ${version}: its ${s.bold('existing job')} ${s.bold(id)} stands (state ${paintState(str(job['state']), s)}, launcher ${str(job['launcher']) ?? '-'}).\n`);
      if (message) ctx.stdout.write(`  ${message}\n`);
      ctx.stdout.write(`Follow it: ${ctx.invokedAs} finetune jobs --dataset ${dataset}\n`);
      return code;
    }
    if (outcome === 'pending') {
      ctx.stdout.write(`${s.yellow('Pending')}: the trigger for dataset ${dataset}${requestId ? ` (request ${requestId})` : ''} was sent, but the finetune-trigger consumer has not answered within ${waitMs} ms.\n`);
      if (message) ctx.stdout.write(`  ${message}\n`);
      ctx.stdout.write(`The window opens when it does. Follow it: ${ctx.invokedAs} finetune jobs --dataset ${dataset} (and ${ctx.invokedAs} finetune datasets for the window's outcome)\n`);
      return code;
    }
    const err = styleFor(ctx.stderr, ctx.env);
    if (outcome === 'empty') {
      ctx.stderr.write(`${err.yellow('empty')}: dataset ${dataset} holds nothing to train on; no job was launched${message ? `: ${message}` : ''}\n`);
    } else if (outcome === 'failed') {
      ctx.stderr.write(`${err.red('failed')}: the window for dataset ${dataset} failed; no job was launched${message ? `: ${message}` : ''}\n`);
      ctx.stderr.write(`  See the dataset's last window: ${ctx.invokedAs} finetune datasets\n`);
    } else {
      ctx.stderr.write(`${err.red('error')}: unexpected answer from the server: ${JSON.stringify(body)}\n`);
    }
    return code;
  },
};

// ---- finetune export ----

const EXPORT_USAGE = '--dataset <name> --version <version>';

interface ManifestFile { name: string; bytes: number; sha256: string }

/** The manifest's shape as far as the export depends on it; the object itself is written as received. */
function checkManifest(body: unknown, dataset: string, version: string): { manifest: Obj; files: ManifestFile[] } {
  const m = obj(body);
  const bad = (why: string) => new CliError(`the server's manifest of ${dataset} version ${version} is not usable: ${why}`, ExitCodes.failure);
  if (m['dataset'] !== dataset || m['version'] !== version) throw bad(`it is for ${String(m['dataset'])} version ${String(m['version'])}`);
  if (!Array.isArray(m['files'])) throw bad('it lists no files');
  const seen = new Set<string>();
  const files = m['files'].map((raw): ManifestFile => {
    const f = obj(raw);
    const name = f['name'];
    if (typeof name !== 'string' || !FILE_NAME.test(name) || name === MANIFEST_FILE) throw bad(`file name ${JSON.stringify(name)} is not a plain file name`);
    if (seen.has(name)) throw bad(`file ${name} is listed twice`);
    seen.add(name);
    const bytes = f['bytes'];
    const sha256 = f['sha256'];
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) throw bad(`file ${name} has no byte count`);
    if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) throw bad(`file ${name} has no sha256`);
    return { name, bytes, sha256 };
  });
  return { manifest: m, files };
}

type Target = { kind: 'absent' } | { kind: 'empty' } | { kind: 'non-empty'; entries: string[] } | { kind: 'not-a-directory' };

async function inspectTarget(dir: string): Promise<Target> {
  try {
    const st = await lstat(dir);
    if (!st.isDirectory()) return { kind: 'not-a-directory' };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw e;
  }
  const entries = await readdir(dir);
  return entries.length === 0 ? { kind: 'empty' } : { kind: 'non-empty', entries };
}

/**
 * Downloads one file into `dest`, hashing and counting as it goes; stops as soon as more bytes
 * arrive than the manifest says. Returns what arrived; the caller compares.
 */
async function download(client: ApiClient, path: string, dest: string, expectedBytes: number, signal: AbortSignal): Promise<{ sha256: string; bytes: number; header: string | null; over: boolean }> {
  const idle = new AbortController();
  let timer = setTimeout(() => idle.abort(), DOWNLOAD_IDLE_MS);
  const poke = () => { clearTimeout(timer); timer = setTimeout(() => idle.abort(), DOWNLOAD_IDLE_MS); };
  const hash = createHash('sha256');
  let bytes = 0;
  let over = false;
  try {
    const res = await client.send('GET', path, { accept: 'application/x-ndjson, application/octet-stream', signal: AbortSignal.any([signal, idle.signal]), timeoutMs: 0 });
    const header = res.headers.get(SHA256_HEADER);
    const fh = await open(dest, 'wx');
    try {
      if (res.body) {
        for await (const chunk of res.body) {
          poke();
          bytes += chunk.byteLength;
          if (bytes > expectedBytes) { over = true; break; }
          hash.update(chunk);
          await fh.write(chunk);
        }
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    return { sha256: hash.digest('hex'), bytes, header: header?.trim().toLowerCase() ?? null, over };
  } catch (e) {
    if (idle.signal.aborted && !signal.aborted) throw new CliError(`downloading ${path}: no data for ${DOWNLOAD_IDLE_MS / 1000} s`, ExitCodes.failure, { cause: e });
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** Removes the directories this export created, innermost first, as long as they are empty. */
async function removeCreatedParents(from: string, upTo: string | undefined): Promise<void> {
  if (upTo === undefined) return;
  for (let d = from; ; d = dirname(d)) {
    try { await rmdir(d); } catch { return; }
    if (d === upTo || dirname(d) === d) return;
  }
}

function shown(dir: string, cwd: string): string {
  const rel = relative(cwd, dir);
  return rel === '' ? '.' : !rel.startsWith('..') && !isAbsolute(rel) ? `.${sep}${rel}` : dir;
}

export const finetuneExport: Command = {
  spec: {
    name: 'finetune export',
    summary: 'download a pinned dataset version\'s files and manifest, sha256-verified',
    usage: EXPORT_USAGE,
    description: [
      'Downloads a dataset version: its manifest and every file it lists. Each file is checked against the',
      'manifest\'s sha256 and byte count (and the server\'s x-tributary-sha256 header) before anything is put',
      'in place; the files are written byte for byte, with manifest.json, into --out. They are downloaded to a',
      'temporary directory first, so an export that fails (a mismatch, Ctrl-C) leaves nothing behind.',
      'A non-empty --out is refused unless --force, which writes into it, replacing files of the same names.',
    ].join('\n'),
    options: {
      dataset: datasetOption,
      version: { type: 'string', value: 'version', description: 'the dataset version (see `tributary finetune jobs` or `finetune datasets`)' },
      out: { type: 'string', short: 'o', value: 'dir', description: 'the directory to write to', defaultText: './<dataset>-<version>' },
      force: { type: 'boolean', description: 'write into a non-empty directory (files of the same names are replaced, others left alone)' },
      json: { type: 'boolean', description: 'print {dir, manifest, files} as JSON instead of text' },
      server: serverOption,
    },
    positionals: { min: 0, max: 0 },
    examples: [
      'tributary finetune export --dataset support-sft --version 3f2a9c0d1e4b5a6c7d8e',
      'tributary finetune export --dataset support-sft --version 3f2a9c0d1e4b5a6c7d8e --out ./train --force',
    ],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const dataset = datasetName(required(args, 'dataset', 'name', EXPORT_USAGE), args.command);
    const version = versionId(required(args, 'version', 'version', EXPORT_USAGE), args.command);
    const force = args.flag('force');
    const target = resolve(ctx.cwd, args.string('out') ?? `${dataset}-${version}`);
    const display = shown(target, ctx.cwd);

    const refuse = (t: Target) => {
      if (t.kind === 'not-a-directory') throw new CliError(`${display} exists and is not a directory`, ExitCodes.failure, { hints: ['Choose another directory with --out.'] });
      if (t.kind === 'non-empty' && !force) {
        throw new CliError(`${display} is not empty`, ExitCodes.failure, { hints: ['Add --force to write into it (files of the same names are replaced), or choose another directory with --out.'] });
      }
    };
    refuse(await inspectTarget(target));

    const client = clientFor(args, ctx);
    const body = await client.json('GET', ApiPaths.finetuneVersion(dataset, version), { signal: ctx.signal, timeoutMs: 30_000 });
    const { manifest, files } = checkManifest(body, dataset, version);

    // checked again now that the names are known: nothing may have appeared meanwhile, and with
    // --force no file name may be taken by a directory
    const now = await inspectTarget(target);
    refuse(now);
    if (now.kind === 'non-empty') {
      for (const name of [...files.map((f) => f.name), MANIFEST_FILE]) {
        if (!now.entries.includes(name)) continue;
        const st = await lstat(join(target, name));
        if (!st.isFile()) throw new CliError(`${display}${sep}${name} exists and is not a file; not overwriting it`, ExitCodes.failure);
      }
    }

    // the staging directory is on the same file system as the target, so the renames are moves
    const into = now.kind !== 'absent';
    let createdParent: string | undefined;
    if (!into) createdParent = await mkdir(dirname(target), { recursive: true });
    const staging = await mkdtemp(into ? join(target, '.tributary-export-') : join(dirname(target), `.${basename(target)}.export-`));
    const verified: Array<ManifestFile & { verified: true }> = [];
    let done = false;
    try {
      for (const f of files) {
        const got = await download(client, ApiPaths.finetuneFile(dataset, version, f.name), join(staging, f.name), f.bytes, ctx.signal);
        const problems: string[] = [];
        if (got.over) problems.push(`the server sent more than the manifest's ${f.bytes} bytes`);
        else {
          if (got.bytes !== f.bytes) problems.push(`${got.bytes} bytes arrived, the manifest says ${f.bytes}`);
          if (got.sha256 !== f.sha256) problems.push(`sha256 mismatch: the manifest says ${f.sha256}, the bytes received hash to ${got.sha256}`);
        }
        if (got.header !== null && got.header !== f.sha256) problems.push(`the ${SHA256_HEADER} header says ${got.header}, the manifest ${f.sha256}`);
        if (problems.length > 0) {
          throw new CliError(`${f.name} (dataset ${dataset} version ${version}) failed verification: ${problems.join('; ')}`, ExitCodes.failure, {
            hints: [`Nothing was written${into ? ` to ${display}` : ''}.`],
          });
        }
        verified.push({ ...f, verified: true });
      }
      await writeFile(join(staging, MANIFEST_FILE), JSON.stringify(manifest, null, 2), { flag: 'wx' });
      if (into) {
        for (const name of [...files.map((f) => f.name), MANIFEST_FILE]) await rename(join(staging, name), join(target, name));
      } else {
        try {
          await rename(staging, target);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new CliError(`${display} appeared while exporting; not overwriting it`, ExitCodes.failure, { cause: e });
          throw e;
        }
      }
      done = true;
    } finally {
      if (into || !done) await rm(staging, { recursive: true, force: true }).catch(() => undefined);
      if (!done) await removeCreatedParents(dirname(target), createdParent);
    }

    if (args.flag('json')) {
      printJson(ctx, { dir: target, manifest, files: verified.map((f) => ({ name: f.name, sha256: f.sha256, bytes: f.bytes, verified: f.verified })) });
      return ExitCodes.ok;
    }
    const s = styleFor(ctx.stdout, ctx.env);
    ctx.stdout.write(renderTable(
      [{ header: 'FILE' }, { header: 'BYTES', align: 'right' }, { header: 'SHA256' }, { header: '' }],
      verified.map((f) => [f.name, String(f.bytes), f.sha256, s.green('verified')]),
    ));
    const total = verified.reduce((a, f) => a + f.bytes, 0);
    ctx.stdout.write(`\nExported dataset ${dataset} version ${version} (${str(manifest['format']) ?? 'unknown format'}): ${plural(verified.length, 'file')}, ${formatBytes(total)}, and ${MANIFEST_FILE} to ${display}\n`);
    return ExitCodes.ok;
  },
};
