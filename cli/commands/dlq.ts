import { ApiPaths } from '../api-paths.ts';
import type { ParsedArgs } from '../args.ts';
import { clientFor, jsonOption, printJson, serverOption, urlEnv, type Command, type CommandContext } from '../command.ts';
import { parseSince, readDlqEntries, renderDlq } from '../dlq-table.ts';
import { ExitCodes } from '../errors.ts';
import { plural, styleFor } from '../format.ts';

const stageOption = { type: 'string', value: 'name', description: 'only records dead-lettered by this stage (e.g. clean, embed)' } as const;

export const dlqList: Command = {
  spec: {
    name: 'dlq list',
    summary: 'list dead-lettered records (GET /v1/ops/dlq)',
    usage: '',
    description: 'Lists records that failed a stage after their retries: where they came from, the error code and message.',
    options: {
      stage: stageOption,
      limit: { type: 'string', short: 'n', value: 'n', description: 'most entries to show (1-1000)', defaultText: '100' },
      json: jsonOption,
      server: serverOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['tributary dlq list', 'tributary dlq list --stage embed --limit 20'],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const limit = args.int('limit', { min: 1, max: 1000 });
    const stage = args.string('stage');
    const client = clientFor(args, ctx);
    const body = await client.json('GET', ApiPaths.dlq, { query: { stage, limit }, signal: ctx.signal });
    if (args.flag('json')) { printJson(ctx, body); return ExitCodes.ok; }
    const rows = readDlqEntries(body);
    const s = styleFor(ctx.stdout, ctx.env);
    if (rows.length === 0) {
      ctx.stdout.write(s.green(`The dead-letter queue is empty${stage ? ` for stage "${stage}"` : ''}.`) + '\n');
      return ExitCodes.ok;
    }
    ctx.stdout.write(renderDlq(rows, ctx.stdout.columns));
    const pending = rows.filter((r) => r.pending === true).length;
    ctx.stdout.write(`\n${plural(rows.length, 'entry', 'entries')}${pending > 0 ? `, ${pending} not replayed yet. After fixing the cause, replay them: ${ctx.invokedAs} dlq replay${stage ? ` --stage ${stage}` : ''}` : ''}\n`);
    return ExitCodes.ok;
  },
};

export const dlqReplay: Command = {
  spec: {
    name: 'dlq replay',
    summary: 'send dead-lettered records back to their source topics (POST /v1/ops/dlq/replay)',
    usage: '',
    description: [
      'Re-publishes dead-lettered records, with their original key, value and headers, to the topic they',
      'came from, so the stage processes them again. Stages are idempotent, so replaying twice is safe.',
    ].join('\n'),
    options: {
      stage: stageOption,
      since: { type: 'string', value: 'when', description: 'only records dead-lettered since: ISO time, epoch ms, or 30m / 2h / 7d ago' },
      limit: { type: 'string', short: 'n', value: 'n', description: 'most records to replay (1-100000)', defaultText: '1000' },
      json: { ...jsonOption, description: 'print the server\'s JSON response' },
      server: serverOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['tributary dlq replay --stage embed', 'tributary dlq replay --since 2h', 'tributary dlq replay --since 2025-06-01T00:00:00Z'],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const sinceRaw = args.string('since');
    const since = sinceRaw !== undefined ? parseSince(sinceRaw) : undefined;
    const limit = args.int('limit', { min: 1, max: 100_000 });
    const stage = args.string('stage');
    const client = clientFor(args, ctx);
    const request = { ...(stage ? { stage } : {}), ...(since !== undefined ? { sinceMs: since } : {}), ...(limit !== undefined ? { limit } : {}) };
    const body = await client.json('POST', ApiPaths.dlqReplay, { body: request, signal: ctx.signal });
    if (args.flag('json')) { printJson(ctx, body); return ExitCodes.ok; }
    const o = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    const n = [o['replayed'], o['count'], Array.isArray(o['records']) ? o['records'].length : undefined].find((v) => typeof v === 'number') as number | undefined;
    const scope = [stage ? `stage ${stage}` : '', since !== undefined ? `since ${new Date(since).toISOString()}` : ''].filter(Boolean).join(', ');
    if (n === undefined) ctx.stdout.write(`Replay requested${scope ? ` (${scope})` : ''}: ${JSON.stringify(body)}\n`);
    else {
      const skipped = typeof o['skipped'] === 'number' && o['skipped'] > 0 ? `, ${o['skipped']} already replayed or older than --since` : '';
      ctx.stdout.write(`Replayed ${plural(n, 'record')}${scope ? ` (${scope})` : ''}${skipped}.`);
      ctx.stdout.write(n > 0 ? ` Watch them go through: ${ctx.invokedAs} lag --watch\n` : '\n');
    }
    return ExitCodes.ok;
  },
};
