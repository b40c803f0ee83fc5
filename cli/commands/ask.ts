import { answerInfo, interpretAskEvent } from '../answer-stream.ts';
import { ApiPaths } from '../api-paths.ts';
import type { ParsedArgs } from '../args.ts';
import { describeServerError } from '../client.ts';
import { clientFor, jsonOption, printJson, serverOption, urlEnv, type Command, type CommandContext } from '../command.ts';
import { CliError, ExitCodes, UsageError } from '../errors.ts';
import { styleFor } from '../format.ts';
import { readHits, renderCitations, summarizeSteps } from '../hits.ts';
import { readSse } from '../sse.ts';
import { searchFilter } from './search.ts';

export const ask: Command = {
  spec: {
    name: 'ask',
    summary: 'ask a question; answered from the index with citations (RAG)',
    usage: '<question>',
    description: [
      'Answers a question from the indexed content: filters are extracted from the question, the query',
      'expanded, hybrid search run, results reranked, and the answer written with numbered citations.',
      'With no LLM configured the answer is extractive (passages quoted from the sources), and says so.',
    ].join('\n'),
    options: {
      k: { type: 'string', short: 'k', value: 'n', description: 'sources to answer from (1-50)', defaultText: '5' },
      stream: { type: 'boolean', short: 's', description: 'print the answer as it is generated (server-sent events)' },
      category: { type: 'string', value: 'name', description: 'only sources of this category', multiple: true },
      author: { type: 'string', value: 'name', description: 'only sources by this author', multiple: true },
      'no-self-query': { type: 'boolean', description: 'do not extract author/category filters from the question' },
      'no-expand': { type: 'boolean', description: 'do not expand the query into variants' },
      'no-rerank': { type: 'boolean', description: 'do not rerank the candidates' },
      json: { ...jsonOption, description: 'print the JSON response (with --stream: one JSON event per line)' },
      server: serverOption,
    },
    positionals: { min: 1, max: 1 },
    examples: [
      'tributary ask "How does CDC keep the vector index fresh?"',
      'tributary ask "What is consumer lag?" --stream',
      'tributary ask "What did Lars Henriksen write about filters?" -k 8 --json',
      'tributary ask "chunk sizes" --category article --no-expand',
    ],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const question = args.positionals[0]!.trim();
    if (question === '') throw new UsageError('the question is empty');
    const k = args.int('k', { min: 1, max: 50 });
    const client = clientFor(args, ctx);
    const stream = args.flag('stream');
    const filter = searchFilter(args);
    const body = {
      query: question,
      ...(k !== undefined ? { k } : {}),
      ...(filter ? { filter } : {}),
      ...(stream ? { stream: true } : {}),
      ...(args.flag('no-self-query') ? { selfQuery: false } : {}),
      ...(args.flag('no-expand') ? { expand: false } : {}),
      ...(args.flag('no-rerank') ? { rerank: false } : {}),
    };

    if (!stream) {
      const res = await client.json('POST', ApiPaths.ask, { body, signal: ctx.signal, timeoutMs: 300_000 });
      if (args.flag('json')) { printJson(ctx, res); return ExitCodes.ok; }
      const info = answerInfo(res && typeof res === 'object' ? (res as Record<string, unknown>) : { answer: String(res) });
      ctx.stdout.write((info.answer ?? '').trimEnd() + '\n');
      printFooter(info, ctx);
      return ExitCodes.ok;
    }

    const res = await client.send('POST', ApiPaths.ask, { body, accept: 'text/event-stream', signal: ctx.signal, timeoutMs: 0 });
    if (!(res.headers.get('content-type') ?? '').includes('text/event-stream') || !res.body) {
      // the server answered in one piece
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = JSON.parse(text); } catch { /* plain text answer */ }
      if (args.flag('json')) { printJson(ctx, parsed); return ExitCodes.ok; }
      const info = answerInfo(parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : { answer: text });
      ctx.stdout.write((info.answer ?? '').trimEnd() + '\n');
      printFooter(info, ctx);
      return ExitCodes.ok;
    }

    const metas: Array<Record<string, unknown>> = [];
    let printed = '';
    let finished = false;
    for await (const ev of readSse(res.body)) {
      const e = interpretAskEvent(ev);
      if (args.flag('json')) {
        let data: unknown = ev.data;
        try { data = JSON.parse(ev.data); } catch { /* keep text */ }
        ctx.stdout.write(JSON.stringify({ event: ev.event, data }) + '\n');
      }
      if (e.kind === 'error') {
        if (printed && !args.flag('json')) ctx.stdout.write('\n');
        const d = describeServerError(500, e.data);
        throw new CliError(`the answer failed mid-stream: ${d.code ? `${d.code}: ` : ''}${d.message}`, ExitCodes.failure, { hints: d.details });
      }
      if (e.kind === 'delta') {
        if (!args.flag('json')) ctx.stdout.write(e.text);
        printed += e.text;
      } else if (e.kind === 'meta') {
        metas.push(e.data);
      } else if (e.kind === 'done') {
        metas.push(e.data);
        finished = true;
        break;
      }
    }
    if (args.flag('json')) return finished ? ExitCodes.ok : ExitCodes.failure;
    const info = answerInfo(...metas);
    if (printed === '' && info.answer) ctx.stdout.write(info.answer);
    ctx.stdout.write('\n');
    if (!finished) throw new CliError('the answer stream ended before the server said it was complete; the answer may be cut short');
    printFooter(info, ctx);
    return ExitCodes.ok;
  },
};

function printFooter(info: ReturnType<typeof answerInfo>, ctx: CommandContext): void {
  const s = styleFor(ctx.stdout, ctx.env);
  const citations = readHits(info.citations);
  if (citations.length > 0) ctx.stdout.write('\n' + renderCitations(citations, s));
  const e = styleFor(ctx.stderr, ctx.env);
  if (info.extractive) ctx.stderr.write(e.dim('\nExtractive answer: no LLM is configured (set TRIBUTARY_LLM_BASE_URL and TRIBUTARY_LLM_MODEL to generate answers).') + '\n');
  const steps = summarizeSteps(info.steps);
  if (steps) ctx.stderr.write(e.dim(`steps: ${steps}`) + '\n');
}
