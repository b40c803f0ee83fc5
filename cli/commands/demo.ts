import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../../common/sleep.ts';
import { documentIdFor } from '../../schemas/ids.ts';
import { ApiPaths } from '../api-paths.ts';
import type { ParsedArgs } from '../args.ts';
import { ApiError, type ApiClient } from '../client.ts';
import { clientFor, serverOption, urlEnv, type Command, type CommandContext } from '../command.ts';
import { CliError, ExitCodes } from '../errors.ts';
import { collectFiles, loadItems, type PreparedItem } from '../files.ts';
import { formatDuration, plural, styleFor } from '../format.ts';
import { readHits } from '../hits.ts';
import { ProgressBar } from '../progress.ts';
import { uploadItems } from '../upload.ts';
import { printSummary } from './ingest.ts';

export const DEMO_CORPUS_DIR = fileURLToPath(new URL('../../demo/corpus/', import.meta.url));

/** The commands printed after the demo loads; test/cli checks they name authors and categories of the corpus. */
export const DEMO_NEXT_STEPS: ReadonlyArray<readonly [args: string, why: string]> = [
  ['search "heartbeats during long batches"', 'hybrid search over everything'],
  ['search "approximate nearest neighbour recall" --category paper', 'only papers'],
  ['search "change data capture" --author "Tomás Ibarra"', 'only one author'],
  ['search "OPENAI_API_KEY" --category repository', 'keys and e-mails are masked: [SECRET], [EMAIL]'],
  ['ask "How do I keep a vector index in sync with MongoDB?" --stream', 'an answer with citations'],
  ['lag', 'consumer lag per partition'],
  ['dlq list', 'records that failed a stage'],
];

export interface SearchTarget {
  docId: string;
  title: string;
  author: string;
  category: string;
}

export const demoCommand: Command = {
  spec: {
    name: 'demo',
    summary: 'load the demo corpus through the API and wait until it is searchable',
    usage: '',
    description: [
      'Publishes the demo corpus (demo/corpus/*.json: articles, posts, repositories and papers by four',
      'authors about streaming, CDC, vector search and RAG) to a running Tributary, waits until every',
      'document can be found by search, then prints commands to try. Running it again is harmless:',
      'documents are identified by source + externalId, so unchanged ones are not re-indexed.',
    ].join('\n'),
    options: {
      timeout: { type: 'string', short: 't', value: 'seconds', description: 'how long to wait for the documents to become searchable (1-3600)', defaultText: '60' },
      corpus: { type: 'string', value: 'dir', description: 'directory of JSON item files to load instead', defaultText: 'demo/corpus' },
      server: serverOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['npm start   # in one terminal', 'npm run demo   # in another'],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const timeoutMs = args.int('timeout', { min: 1, max: 3600 }, 60) * 1000;
    const dir = args.string('corpus') ?? DEMO_CORPUS_DIR;
    const client = clientFor(args, ctx);
    const err = styleFor(ctx.stderr, ctx.env);

    const { files } = await collectFiles([join(dir, '*.json')], ctx.cwd);
    if (files.length === 0) throw new CliError(`no JSON files in ${dir}`, ExitCodes.usage);
    const loaded = await loadItems(files, dir, { author: 'demo', source: 'demo' });
    if (loaded.invalid.length > 0) {
      throw new CliError(`the corpus has invalid items`, ExitCodes.failure, { hints: loaded.invalid.map((i) => `${i.label}: ${i.error}`) });
    }
    const authors = new Set(loaded.items.map((i) => i.item.author));
    const categories = countBy(loaded.items, (i) => i.item.category);
    ctx.stderr.write(`Loading ${plural(loaded.items.length, 'document')} by ${plural(authors.size, 'author')} (${Object.entries(categories).map(([c, n]) => `${n} ${c}`).join(', ')}) into ${client.baseUrl}\n`);

    const started = performance.now();
    const result = await uploadItems({
      client, items: loaded.items, batch: { maxItems: 100, maxBytes: 8 * 1024 * 1024 },
      progress: new ProgressBar({ total: loaded.items.length, stream: ctx.stderr }), signal: ctx.signal,
    });
    if (result.interrupted) return ExitCodes.interrupted;
    if (result.failures.length > 0) {
      printSummary(result, loaded, ctx);
      return ExitCodes.failure;
    }
    ctx.stderr.write(err.dim(`  published in ${formatDuration(result.elapsedMs)}; waiting for the pipeline (clean → chunk → embed → index)…`) + '\n');

    const targets = loaded.items.map(toTarget);
    const progress = new ProgressBar({ total: targets.length, stream: ctx.stderr, unit: 'searchable', showBytes: false });
    const wait = await waitUntilSearchable(client, targets, { timeoutMs, signal: ctx.signal, onProgress: (n) => progress.update({ done: n, bytes: 0 }) });
    progress.finish();
    if (ctx.signal.aborted) return ExitCodes.interrupted;
    if (wait.missing.length > 0) {
      throw new CliError(`${plural(wait.missing.length, 'document')} not searchable after ${formatDuration(timeoutMs)}`, ExitCodes.failure, {
        hints: [
          ...wait.missing.slice(0, 5).map((t) => `not found: "${t.title}" (${t.category}, ${t.author})`),
          `Check the pipeline: ${ctx.invokedAs} lag   and   ${ctx.invokedAs} dlq list`,
        ],
      });
    }
    const s = styleFor(ctx.stdout, ctx.env);
    ctx.stdout.write(`${s.green('✓')} ${plural(targets.length, 'document')} by ${plural(authors.size, 'author')} searchable ${formatDuration(performance.now() - started)} after the first upload.\n\n`);
    ctx.stdout.write(renderNextSteps(ctx.invokedAs, client.baseUrl, s));
    return ExitCodes.ok;
  },
};

export function renderNextSteps(invokedAs: string, baseUrl: string, s: ReturnType<typeof styleFor>): string {
  const lines = ['Try next:'];
  const width = Math.max(...DEMO_NEXT_STEPS.map(([a]) => invokedAs.length + 1 + a.length)) + 3;
  for (const [a, why] of DEMO_NEXT_STEPS) lines.push(`  ${s.bold(`${invokedAs} ${a}`.padEnd(width))}${s.dim(`# ${why}`)}`);
  lines.push(`  ${`open ${baseUrl}${ApiPaths.docs}`.padEnd(width)}${s.dim('# the API, interactively')}`);
  return lines.join('\n') + '\n';
}

function toTarget(p: PreparedItem): SearchTarget {
  const { item } = p;
  return { docId: documentIdFor(item.source ?? 'demo', item.externalId ?? p.label), title: item.title ?? p.label, author: item.author, category: item.category };
}

function countBy<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return out;
}

/**
 * Polls search until each target is found (its title as the query, filtered to its author and
 * category, matched by document id, or by title when hits carry no id). Retryable server errors
 * (e.g. 503 while starting) are waited out; others are thrown.
 */
export async function waitUntilSearchable(
  client: ApiClient,
  targets: SearchTarget[],
  o: { timeoutMs: number; signal?: AbortSignal; intervalMs?: number; onProgress?: (found: number) => void },
): Promise<{ missing: SearchTarget[] }> {
  const deadline = performance.now() + o.timeoutMs;
  let pending = [...targets];
  while (pending.length > 0 && !o.signal?.aborted) {
    const found = await mapLimit(pending, 4, async (t) => {
      try {
        const body = await client.json('POST', ApiPaths.search, {
          body: { query: t.title, k: 10, filter: { author: t.author, category: t.category } }, ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 15_000,
        });
        const hits = readHits(body);
        return hits.some((h) => (h.docId !== undefined ? h.docId === t.docId : h.title === t.title));
      } catch (e) {
        if (e instanceof ApiError && e.retryable) return false;
        throw e;
      }
    }).catch((e: unknown) => {
      if (o.signal?.aborted) return pending.map(() => false);
      throw e;
    });
    pending = pending.filter((_, i) => !found[i]);
    o.onProgress?.(targets.length - pending.length);
    if (pending.length === 0 || performance.now() >= deadline) break;
    await sleep(o.intervalMs ?? 250, o.signal);
    if (o.signal?.aborted) break;
  }
  return { missing: pending };
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
