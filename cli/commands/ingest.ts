import { userInfo } from 'node:os';
import { categorySchema, MAX_ITEMS_PER_REQUEST } from '../../schemas/content.ts';
import type { ParsedArgs } from '../args.ts';
import { clientFor, jsonOption, printJson, serverOption, urlEnv, type Command, type CommandContext } from '../command.ts';
import { CliError, ExitCodes, UsageError } from '../errors.ts';
import { collectFiles, loadItems, type LoadedItems } from '../files.ts';
import { formatBytes, formatDuration, formatRate, plural, styleFor, truncate } from '../format.ts';
import { ProgressBar } from '../progress.ts';
import { renderTable } from '../table.ts';
import { uploadItems, type UploadResult } from '../upload.ts';

/** Request bodies stay well under the server's default 16 MB body limit. */
export const MAX_BATCH_BYTES = 8 * 1024 * 1024;
export const DEFAULT_BATCH = 100;

export const ingest: Command = {
  spec: {
    name: 'ingest',
    summary: 'publish files as documents (POST /v1/content)',
    usage: '<files or globs...>',
    description: [
      'Publishes files to Tributary, one document per file: title = the first Markdown heading (or HTML',
      '<title>/<h1>, else the file name), externalId = the path relative to the current directory, so',
      'ingesting the same files again updates documents instead of duplicating them. A .json file of',
      'items ({category, author, title, content, ...}) becomes one document per item, as given.',
      '',
      'Category, unless --category is given: .md .txt .html … → article; code and config → repository.',
      'Quote globs so Tributary expands them ("docs/**/*.md"); directories are read recursively',
      '(node_modules, .git, dist, build are skipped).',
    ].join('\n'),
    options: {
      category: { type: 'string', value: 'name', description: 'category for every file (article, post, repository, or your own)', defaultText: 'inferred from the extension' },
      author: { type: 'string', value: 'name', description: 'author of every file (JSON items keep their own)', defaultText: '$USER' },
      source: { type: 'string', value: 'name', description: 'source name; with externalId it identifies a document', defaultText: 'cli' },
      url: { type: 'string', value: 'base', description: 'link documents to base + relative path (e.g. https://github.com/org/repo/blob/main/)' },
      batch: { type: 'string', value: 'n', description: `documents per request (1-${MAX_ITEMS_PER_REQUEST})`, defaultText: String(DEFAULT_BATCH) },
      'dry-run': { type: 'boolean', description: 'list the documents that would be sent; send nothing' },
      json: { ...jsonOption, description: 'print the summary as JSON' },
      server: serverOption,
    },
    positionals: { min: 1, max: Infinity },
    examples: [
      'tributary ingest README.md "docs/**/*.md"',
      'tributary ingest src --category repository --author "Ada Lovelace" --url https://github.com/acme/app/blob/main/',
      'tributary ingest demo/corpus/*.json',
    ],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const category = args.string('category');
    if (category !== undefined) {
      const c = categorySchema.safeParse(category);
      if (!c.success) throw new UsageError(`--category "${category}": ${c.error.issues[0]?.message ?? 'invalid'}`);
    }
    const urlBase = args.string('url');
    if (urlBase !== undefined && !URL.canParse(urlBase)) throw new UsageError(`--url must be an absolute URL such as https://example.com/docs/ (got "${urlBase}")`);
    const batch = args.int('batch', { min: 1, max: MAX_ITEMS_PER_REQUEST }, DEFAULT_BATCH);
    const author = args.string('author') ?? defaultAuthor(ctx.env);
    const source = args.string('source') ?? 'cli';
    const client = args.flag('dry-run') ? null : clientFor(args, ctx);
    const err = styleFor(ctx.stderr, ctx.env);

    const { files, unmatched } = await collectFiles(args.positionals, ctx.cwd);
    for (const u of unmatched) ctx.stderr.write(`${err.yellow('warning')}: nothing matches "${u}"\n`);
    if (files.length === 0) throw new CliError('no files to ingest', ExitCodes.usage, { hints: ['Pass file names, directories or quoted globs, e.g. tributary ingest "docs/**/*.md"'] });

    const loaded = await loadItems(files, ctx.cwd, { author, source, ...(category ? { category } : {}), ...(urlBase ? { urlBase } : {}) });
    reportLoaded(loaded, files.length, ctx);
    if (args.flag('dry-run')) {
      printDryRun(loaded, ctx);
      return loaded.invalid.length > 0 ? ExitCodes.failure : ExitCodes.ok;
    }
    if (loaded.items.length === 0) {
      throw new CliError('nothing to send: every file was skipped or invalid', ExitCodes.failure);
    }
    const progress = new ProgressBar({ total: loaded.items.length, stream: ctx.stderr });
    const result = await uploadItems({ client: client!, items: loaded.items, batch: { maxItems: batch, maxBytes: MAX_BATCH_BYTES }, progress, signal: ctx.signal });
    if (args.flag('json')) printJson(ctx, { ...result, invalid: loaded.invalid, skipped: loaded.skipped });
    else printSummary(result, loaded, ctx);
    if (result.interrupted) return ExitCodes.interrupted;
    return result.failures.length > 0 || loaded.invalid.length > 0 ? ExitCodes.failure : ExitCodes.ok;
  },
};

export function defaultAuthor(env: NodeJS.ProcessEnv): string {
  const fromEnv = env['USER'] ?? env['USERNAME'];
  if (fromEnv) return fromEnv;
  try { return userInfo().username || 'unknown'; } catch { return 'unknown'; }
}

function reportLoaded(loaded: LoadedItems, fileCount: number, ctx: CommandContext): void {
  const s = styleFor(ctx.stderr, ctx.env);
  const parts = [`${plural(fileCount, 'file')} → ${plural(loaded.items.length, 'document')}`];
  if (loaded.skipped.length) parts.push(`${loaded.skipped.length} skipped`);
  if (loaded.invalid.length) parts.push(`${loaded.invalid.length} invalid`);
  ctx.stderr.write(parts.join(', ') + '\n');
  const shown = loaded.skipped.slice(0, 10);
  for (const sk of shown) ctx.stderr.write(s.dim(`  skipped ${sk.label}: ${sk.reason}`) + '\n');
  if (loaded.skipped.length > shown.length) ctx.stderr.write(s.dim(`  … and ${loaded.skipped.length - shown.length} more skipped`) + '\n');
  for (const inv of loaded.invalid.slice(0, 20)) ctx.stderr.write(`  ${s.red('invalid')} ${inv.label}: ${inv.error}\n`);
}

function printDryRun(loaded: LoadedItems, ctx: CommandContext): void {
  ctx.stdout.write(renderTable(
    [{ header: 'EXTERNAL ID' }, { header: 'CATEGORY' }, { header: 'AUTHOR' }, { header: 'TITLE', flex: true }, { header: 'BYTES', align: 'right' }],
    loaded.items.map((i) => [i.item.externalId ?? i.label, i.item.category, i.item.author, i.item.title ?? '', formatBytes(i.bytes)]),
    ctx.stdout.columns ? { maxWidth: ctx.stdout.columns } : {},
  ));
  ctx.stdout.write(`dry run: ${plural(loaded.items.length, 'document')} would be sent; nothing was sent\n`);
}

export function printSummary(r: UploadResult, loaded: LoadedItems, ctx: CommandContext): void {
  const s = styleFor(ctx.stdout, ctx.env);
  const ok = r.accepted;
  const head = r.interrupted ? s.yellow('Interrupted') + `: ${plural(ok, 'document')} published before Ctrl-C`
    : `${ok === r.sent && r.failures.length === 0 ? s.green('Published') : 'Published'} ${plural(ok, 'document')}`;
  ctx.stdout.write(`${head} (${formatBytes(r.bytes)}) in ${formatDuration(r.elapsedMs)}: ${formatRate(r.sent, r.elapsedMs, 'docs')}, ${formatBytes(r.elapsedMs > 0 ? (r.bytes * 1000) / r.elapsedMs : 0)}/s, ${plural(r.requests, 'request')}\n`);
  // per-document outcomes, when the server reports more than "accepted"
  const outcomes = Object.entries(r.outcomes).filter(([, n]) => n > 0);
  if (outcomes.some(([k]) => k !== 'accepted')) ctx.stdout.write(s.dim(`  ${outcomes.map(([k, n]) => `${k} ${n}`).join(' · ')}`) + '\n');
  const failed = r.failures.length + loaded.invalid.length;
  if (failed > 0) {
    ctx.stdout.write(s.red(`${plural(failed, 'document')} failed:`) + '\n');
    for (const f of loaded.invalid.slice(0, 20)) ctx.stdout.write(`  ${f.label}: ${truncate(f.error, 300)}\n`);
    const shown = r.failures.slice(0, Math.max(0, 20 - loaded.invalid.length));
    for (const f of shown) {
      ctx.stdout.write(`  ${f.label}: ${truncate(f.error, 300)}\n`);
      for (const d of f.details.slice(0, 5)) ctx.stdout.write(s.dim(`      ${truncate(d, 300)}`) + '\n');
    }
    const hidden = failed - Math.min(20, loaded.invalid.length) - shown.length;
    if (hidden > 0) ctx.stdout.write(`  … and ${hidden} more (use --json for all)\n`);
  }
}
