import { z } from 'zod';
import { ApiPaths } from '../api-paths.ts';
import { helpHint, type ParsedArgs } from '../args.ts';
import { ApiError } from '../client.ts';
import { clientFor, jsonOption, printJson, serverOption, urlEnv, type Command, type CommandContext } from '../command.ts';
import { ExitCodes, UsageError } from '../errors.ts';
import { parseJsonlSet, readDatasetOption } from '../jsonl-set.ts';
import { renderTable, type Column } from '../table.ts';
import { JUDGE_CRITERIA, type JudgeCriterion, type Judgement } from '../../schemas/judgement.ts';

/**
 * `tributary eval answers`: a golden set of questions answered through the running API
 * (POST /v1/rag/query), each answer judged by the server's LLM (POST /v1/traces/:id/judge):
 * groundedness, answer relevance, context relevance, and correctness against the line's `expected`
 * answer when it has one. The set is JSONL, one `{query, expected?, filter?}` a line. With no LLM on
 * the server nothing is judged and the command says so: no score is ever made up.
 */

const lineSchema = z.strictObject({
  query: z.string().trim().min(1).max(4000),
  expected: z.string().trim().min(1).max(32_000).optional(),
  filter: z.strictObject({ category: z.string().min(1).optional(), author: z.string().min(1).optional() }).optional(),
  note: z.string().optional(),
});
type GoldenLine = z.infer<typeof lineSchema>;

export function parseGoldenSet(text: string): GoldenLine[] {
  return parseJsonlSet(text, lineSchema, '{"query": "...", "expected"?: "...", "filter"?: {...}}', 'questions');
}

interface Row { query: string; traceId: string; answer: string; status: Judgement['status']; scores: Judgement['scores']; error: string | null }

const HEADERS: Record<JudgeCriterion, string> = { groundedness: 'GROUNDED', answerRelevance: 'ANSWER REL', contextRelevance: 'CONTEXT REL', correctness: 'CORRECT' };

function means(rows: readonly Row[]): Partial<Record<JudgeCriterion, number>> {
  const out: Partial<Record<JudgeCriterion, number>> = {};
  for (const c of JUDGE_CRITERIA) {
    const s = rows.map((r) => r.scores?.[c]?.score).filter((x): x is number => x !== undefined);
    if (s.length) out[c] = Math.round((s.reduce((a, b) => a + b, 0) / s.length) * 100) / 100;
  }
  return out;
}

export const evalAnswers: Command = {
  spec: {
    name: 'eval answers',
    summary: 'answer quality on a golden set, judged by the server\'s LLM: groundedness, relevance, correctness (1-5)',
    usage: '',
    description: [
      'Asks every question of a golden set through POST /v1/rag/query and has the server\'s LLM judge each answer',
      '(POST /v1/traces/:id/judge): groundedness (is each claim supported by the sources it cites), answer relevance,',
      'context relevance, and correctness against the line\'s "expected" answer. Each score is 1-5 with a reason; the',
      'verdict is also recorded on the answer\'s trace. The set is JSONL, one {"query": "...", "expected"?: "...",',
      '"filter"?: {"category"?, "author"?}} a line; the team\'s set over the demo corpus is demo/eval/answers.jsonl.',
      'Without an LLM on the server nothing is judged (the judge endpoint answers 409 LLM_NOT_CONFIGURED, naming the',
      'settings that configure one): the command says so and exits 0 without scores.',
    ].join('\n'),
    options: {
      dataset: { type: 'string', value: 'file', description: 'the golden set (JSONL)' },
      k: { type: 'string', value: 'n', description: 'sources per answer (1-50)', defaultText: '5' },
      mode: { type: 'string', value: 'mode', description: 'search mode: hybrid, dense or keyword', defaultText: 'hybrid' },
      json: jsonOption,
      server: serverOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['tributary eval answers --dataset demo/eval/answers.jsonl', 'tributary eval answers --dataset golden.jsonl --k 3 --json'],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const text = await readDatasetOption(args, ctx, 'tributary eval answers --dataset <file> [options]');
    const k = args.int('k', { min: 1, max: 50 }, 5);
    const mode = args.string('mode') ?? 'hybrid';
    if (!['hybrid', 'dense', 'keyword'].includes(mode)) throw new UsageError(`--mode: unknown mode "${mode}"; the modes are hybrid, dense, keyword`, [helpHint(args.command)]);
    const golden = parseGoldenSet(text);
    const client = clientFor(args, ctx);
    const rows: Row[] = [];
    for (const q of golden) {
      const answer = await client.json('POST', ApiPaths.ask, { body: { query: q.query, k, mode, ...(q.filter ? { filter: q.filter } : {}) }, signal: ctx.signal, timeoutMs: 300_000 }) as { traceId: string; answer: string };
      let judgement: Judgement;
      try {
        ({ judgement } = await client.json('POST', ApiPaths.judge(answer.traceId), { body: q.expected ? { expected: q.expected } : {}, signal: ctx.signal, timeoutMs: 300_000 }) as { judgement: Judgement });
      } catch (e) {
        if (e instanceof ApiError && e.code === 'LLM_NOT_CONFIGURED') {
          const why = 'the server has no LLM configured, so no answer was judged (no score is made up); configure one (TRIBUTARY_LLM_BASE_URL, TRIBUTARY_LLM_UPSTREAM or TRIBUTARY_LLM_GGUF) and run again';
          if (args.flag('json')) printJson(ctx, { judged: false, reason: why, questions: golden.length });
          else ctx.stderr.write(`Skipped: ${why}.\n`);
          return ExitCodes.ok;
        }
        throw e;
      }
      rows.push({ query: q.query, traceId: answer.traceId, answer: answer.answer, status: judgement.status, scores: judgement.scores, error: judgement.error });
    }
    const avg = means(rows);
    const failed = rows.filter((r) => r.status === 'failed').length;
    if (args.flag('json')) {
      printJson(ctx, { judged: true, questions: rows.length, failed, means: avg, results: rows });
      return ExitCodes.ok;
    }
    const criteria = JUDGE_CRITERIA.filter((c) => rows.some((r) => r.scores?.[c]));
    const columns: Column[] = [{ header: '#', align: 'right' }, ...criteria.map((c) => ({ header: HEADERS[c], align: 'right' as const })), { header: 'QUESTION' }];
    const table = rows.map((r, i) => [String(i + 1), ...criteria.map((c) => (r.status === 'failed' ? 'failed' : String(r.scores?.[c]?.score ?? '-'))), r.query.length > 60 ? `${r.query.slice(0, 59)}…` : r.query]);
    table.push(['mean', ...criteria.map((c) => (avg[c] === undefined ? '-' : avg[c].toFixed(2))), '']);
    ctx.stdout.write(renderTable(columns, table));
    ctx.stdout.write(`\n${rows.length} questions judged by the server's LLM${failed ? `; ${failed} verdict(s) failed (the judge's reply was unusable; see the traces)` : ''}. Scores are 1-5.\n`);
    return ExitCodes.ok;
  },
};
