import { ApiPaths } from '../api-paths.ts';
import type { ParsedArgs } from '../args.ts';
import { clientFor, jsonOption, serverOption, urlEnv, type Command, type CommandContext } from '../command.ts';
import { ExitCodes } from '../errors.ts';
import { truncate } from '../format.ts';
import { sleep } from '../../common/sleep.ts';
import type { RagTrace } from '../../schemas/trace.ts';
import type { Judgement } from '../../schemas/judgement.ts';

/** `tributary traces [--follow]`: what the RAG queries did, newest last; --follow prints new ones as they come. */

type Listed = RagTrace & { judgement?: Judgement | null };

/** The judge's verdict, short: groundedness/answer relevance/context relevance. */
function verdict(j: Judgement | null | undefined): string {
  if (!j) return '';
  if (j.status === 'failed' || !j.scores) return '  judge failed';
  return `  judge ${j.scores.groundedness.score}/${j.scores.answerRelevance.score}/${j.scores.contextRelevance.score}`;
}

function line(t: Listed): string {
  const when = t.at.replace('T', ' ').slice(0, 19);
  const cache = t.cache.hit ? ' (cached)' : '';
  const src = t.sources.length;
  return `${when}  ${t.traceId}  ${t.mode.padEnd(7)} ${String(Math.round(t.latencyMs.total)).padStart(6)} ms  ${String(src).padStart(2)} src  ${t.answerMode}${cache}${verdict(t.judgement)}  ${truncate(t.query.replace(/\s+/g, ' '), 70)}\n`;
}

export const traces: Command = {
  spec: {
    name: 'traces',
    summary: 'RAG traces: each query\'s mode, latency, sources and answer mode (GET /v1/traces); --follow for new ones',
    usage: '',
    description: [
      'Lists recent RAG traces, oldest first: time, traceId, search mode, total latency, sources, how it was',
      'answered and whether from the cache, the judge\'s scores when the answer was judged (groundedness/answer',
      'relevance/context relevance, 1-5), and the question. GET /v1/traces/<traceId> has every step of one',
      '(retrieved chunks and scores, rerank order, prompt, citations, latency per step), its feedback and verdict.',
    ].join('\n'),
    options: {
      follow: { type: 'boolean', short: 'f', description: 'keep printing new traces until Ctrl-C' },
      limit: { type: 'string', short: 'n', value: 'n', description: 'how many recent traces (1-1000)', defaultText: '20' },
      json: jsonOption,
      server: serverOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['tributary traces', 'tributary traces --follow', 'tributary traces --json -n 100'],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const limit = args.int('limit', { min: 1, max: 1000 }, 20);
    const client = clientFor(args, ctx);
    const fetchSince = async (since: string | null, n: number) => ((await client.json('GET', `${ApiPaths.traces}?limit=${n}${since ? `&since=${encodeURIComponent(since)}` : ''}`, { signal: ctx.signal, timeoutMs: 15_000 })) as { traces: Listed[] }).traces;
    const print = (ts: Listed[]) => { for (const t of ts) ctx.stdout.write(args.flag('json') ? `${JSON.stringify(t)}\n` : line(t)); };
    const seen = new Set<string>();
    let last: string | null = null;
    const first = (await fetchSince(null, limit)).reverse();
    for (const t of first) { seen.add(t.traceId); last = t.at; }
    print(first);
    if (!args.flag('follow')) return ExitCodes.ok;
    while (!ctx.signal.aborted) {
      await sleep(1000, ctx.signal);
      if (ctx.signal.aborted) break;
      const fresh = (await fetchSince(last, 1000)).reverse().filter((t) => !seen.has(t.traceId));
      for (const t of fresh) { seen.add(t.traceId); last = t.at; }
      print(fresh);
    }
    return ExitCodes.ok;
  },
};
