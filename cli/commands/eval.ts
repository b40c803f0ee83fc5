import { z } from 'zod';
import { ApiPaths } from '../api-paths.ts';
import { helpHint, type ParsedArgs } from '../args.ts';
import { clientFor, jsonOption, printJson, serverOption, urlEnv, type Command, type CommandContext } from '../command.ts';
import { ExitCodes, UsageError } from '../errors.ts';
import { parseJsonlSet, readDatasetOption } from '../jsonl-set.ts';
import { renderTable, type Column } from '../table.ts';
import { documentIdFor } from '../../schemas/ids.ts';
import { queryMetrics, rankedDocuments, summarise, type ModeSummary, type QueryMetrics } from '../../streams/eval/retrieval-metrics.ts';

/**
 * `tributary eval retrieval`: how well each search mode finds the documents a labelled set says are
 * relevant, through the running API (POST /v1/search). The set is JSONL, one
 * `{query, relevant: [docId or externalId, …], filter?, source?}` a line; an externalId is turned into
 * its document id with the line's `source` (or --source, default "demo", the demo corpus's).
 */

const MODES = ['hybrid', 'dense', 'keyword'] as const;
type Mode = (typeof MODES)[number];
const DOC_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const lineSchema = z.strictObject({
  query: z.string().trim().min(1).max(2000),
  relevant: z.array(z.string().min(1)).min(1, 'list at least one relevant document (docId or externalId)'),
  filter: z.strictObject({ category: z.string().min(1).optional(), author: z.string().min(1).optional() }).optional(),
  source: z.string().min(1).optional(),
  note: z.string().optional(),
});

export interface EvalQuery { query: string; relevant: Set<string>; filter?: { category?: string; author?: string } }

/** Reads the JSONL set; an unusable line is an error naming its number and field. */
export function parseEvalSet(text: string, defaultSource: string): EvalQuery[] {
  return parseJsonlSet(text, lineSchema, '{"query": "...", "relevant": ["docId or externalId", ...], "filter"?: {...}}', 'queries').map(({ query, relevant, filter, source }) => ({
    query,
    relevant: new Set(relevant.map((r) => (DOC_ID.test(r) ? r : documentIdFor(source ?? defaultSource, r)))),
    ...(filter ? { filter } : {}),
  }));
}

export const evalRetrieval: Command = {
  spec: {
    name: 'eval retrieval',
    summary: 'retrieval quality per search mode on a labelled set: MRR@k, nDCG@k, recall@5, recall@k',
    usage: '',
    description: [
      'Runs every query of a labelled set through POST /v1/search in each mode (hybrid, dense, keyword) and',
      'prints the metrics side by side. A document counts at the rank of its first chunk. The set is JSONL,',
      'one {"query": "...", "relevant": ["docId or externalId", ...], "filter"?: {"category"?, "author"?}} a line;',
      'externalIds are turned into document ids with the line\'s "source" or --source. The team\'s set over the',
      'demo corpus is demo/eval/retrieval.jsonl (load the corpus first: tributary demo).',
    ].join('\n'),
    options: {
      dataset: { type: 'string', value: 'file', description: 'the labelled set (JSONL)' },
      k: { type: 'string', value: 'n', description: 'cut-off for MRR, nDCG and recall (1-50)', defaultText: '10' },
      modes: { type: 'string', value: 'list', description: 'comma-separated modes', defaultText: 'hybrid,dense,keyword' },
      source: { type: 'string', value: 'name', description: 'the source of the externalIds in the set', defaultText: 'demo' },
      json: jsonOption,
      server: serverOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['tributary eval retrieval --dataset demo/eval/retrieval.jsonl', 'tributary eval retrieval --dataset set.jsonl --k 5 --modes hybrid,keyword --json'],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const text = await readDatasetOption(args, ctx, 'tributary eval retrieval --dataset <file> [options]');
    const k = args.int('k', { min: 1, max: 50 }, 10);
    const modes = (args.string('modes') ?? MODES.join(',')).split(',').map((m) => m.trim()).filter(Boolean);
    const bad = modes.filter((m) => !(MODES as readonly string[]).includes(m));
    if (bad.length > 0 || modes.length === 0) throw new UsageError(`--modes: unknown mode ${bad.map((b) => `"${b}"`).join(', ') || '(none given)'}; the modes are ${MODES.join(', ')}`, [helpHint(args.command)]);
    const queries = parseEvalSet(text, args.string('source') ?? 'demo');
    const client = clientFor(args, ctx);
    const results: Record<string, ModeSummary> = {};
    for (const mode of modes as Mode[]) {
      const per: QueryMetrics[] = [];
      for (const q of queries) {
        // chunks, not documents: ask for more so that k distinct documents can be ranked
        const body = await client.json('POST', ApiPaths.search, { body: { query: q.query, k: Math.min(100, k * 4), mode, ...(q.filter ? { filter: q.filter } : {}) }, signal: ctx.signal, timeoutMs: 30_000 }) as { hits?: Array<{ docId: string }> };
        per.push(queryMetrics(rankedDocuments((body.hits ?? []).map((h) => h.docId)), q.relevant, k));
      }
      results[mode] = summarise(per);
    }
    if (args.flag('json')) { printJson(ctx, { k, queries: queries.length, modes: results }); return ExitCodes.ok; }
    const columns: Column[] = [{ header: 'MODE' }, { header: `MRR@${k}`, align: 'right' }, { header: `NDCG@${k}`, align: 'right' }, { header: 'RECALL@5', align: 'right' }, { header: `RECALL@${k}`, align: 'right' }];
    const rows = Object.entries(results).map(([mode, r]) => [mode, r.mrr.toFixed(3), r.ndcg.toFixed(3), r.recallAt5.toFixed(3), r.recallAtK.toFixed(3)]);
    ctx.stdout.write(renderTable(columns, rows));
    ctx.stdout.write(`\n${queries.length} queries, k = ${k}.\n`);
    return ExitCodes.ok;
  },
};
