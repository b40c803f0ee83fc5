import { categorySchema } from '../../schemas/content.ts';
import { ApiPaths } from '../api-paths.ts';
import type { ParsedArgs } from '../args.ts';
import { clientFor, jsonOption, printJson, serverOption, urlEnv, type Command, type CommandContext } from '../command.ts';
import { ExitCodes, UsageError } from '../errors.ts';
import { formatDuration, plural, styleFor } from '../format.ts';
import { readHits, renderHits, summarizeSteps } from '../hits.ts';

export const MAX_K = 100;

export const search: Command = {
  spec: {
    name: 'search',
    summary: 'hybrid search (dense + keyword) over the index',
    usage: '<query>',
    description: 'Searches the indexed chunks: dense vectors and BM25 keywords fused with reciprocal rank fusion,\noptionally filtered by category and author.',
    options: {
      k: { type: 'string', short: 'k', value: 'n', description: `results to return (1-${MAX_K})`, defaultText: '5' },
      category: { type: 'string', value: 'name', description: 'only this category', multiple: true },
      author: { type: 'string', value: 'name', description: 'only this author', multiple: true },
      json: jsonOption,
      server: serverOption,
    },
    positionals: { min: 1, max: 1 },
    examples: ['tributary search "consumer lag"', 'tributary search "hnsw recall" --category paper -k 3', 'tributary search "debezium" --author "Tomás Ibarra" --json'],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const query = args.positionals[0]!.trim();
    if (query === '') throw new UsageError('the query is empty');
    const k = args.int('k', { min: 1, max: MAX_K }, 5);
    const filter = searchFilter(args);
    const client = clientFor(args, ctx);
    const started = performance.now();
    const body = await client.json('POST', ApiPaths.search, { body: { query, k, ...(filter ? { filter } : {}) }, signal: ctx.signal });
    const elapsed = performance.now() - started;
    if (args.flag('json')) { printJson(ctx, body); return ExitCodes.ok; }

    const hits = readHits(body);
    const s = styleFor(ctx.stdout, ctx.env);
    const filterText = filter ? Object.entries(filter).map(([key, v]) => `${key}=${([] as string[]).concat(v).join('|')}`).join(' ') : '';
    ctx.stdout.write(`${plural(hits.length, 'result')} for ${s.bold(JSON.stringify(query))}${filterText ? s.dim(`  (${filterText})`) : ''}${s.dim(`  ${formatDuration(elapsed)}`)}\n\n`);
    const steps = body && typeof body === 'object' ? summarizeSteps((body as Record<string, unknown>)['steps']) : null;
    if (steps) ctx.stderr.write(styleFor(ctx.stderr, ctx.env).dim(`steps: ${steps}`) + '\n');
    if (hits.length === 0) {
      ctx.stdout.write(filter ? 'Nothing matches. Try without --category/--author, or check the names.\n' : 'Nothing matches yet. Ingest documents first (tributary ingest … or tributary demo).\n');
      return ExitCodes.ok;
    }
    ctx.stdout.write(renderHits(hits, s, ctx.stdout.columns ?? 100, query));
    return ExitCodes.ok;
  },
};

export type FilterValue = string | string[];

/** The filter for --category/--author: one value as a string, several as an array (any of them). */
export function searchFilter(args: ParsedArgs): { category?: FilterValue; author?: FilterValue } | undefined {
  const category = args.strings('category');
  const author = args.strings('author').map((a) => a.trim()).filter(Boolean);
  for (const c of category) {
    const r = categorySchema.safeParse(c);
    if (!r.success) throw new UsageError(`--category "${c}": ${r.error.issues[0]?.message ?? 'invalid'}`);
  }
  if (category.length === 0 && author.length === 0) return undefined;
  const one = (v: string[]): FilterValue => (v.length === 1 ? v[0]! : v);
  return { ...(category.length ? { category: one(category) } : {}), ...(author.length ? { author: one(author) } : {}) };
}
