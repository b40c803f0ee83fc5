import { pino } from 'pino';
import { ApiPaths } from '../api-paths.ts';
import type { ParsedArgs } from '../args.ts';
import { clientFor, jsonOption, printJson, serverOption, urlEnv, type Command, type CommandContext } from '../command.ts';
import { URL_ENV } from '../client.ts';
import { parseSince, readDlqEntries, renderDlq } from '../dlq-table.ts';
import { CliError, ExitCodes } from '../errors.ts';
import { plural, styleFor } from '../format.ts';
import { findTributaryError } from '../../ports/errors.ts';
import { loadConfig, type Config } from '../../wiring/config.ts';
import { configError } from './dev.ts';

const stageOption = { type: 'string', value: 'name', description: 'only records dead-lettered by this stage (e.g. clean, embed)' } as const;
const directOption = {
  type: 'boolean',
  description: 'read the DLQ topic on the event log itself (Kafka when TRIBUTARY_MODE=kafka, else the data directory) instead of asking the API; the default in Kafka mode when no --server / TRIBUTARY_URL is given',
} as const;
const dataDirOption = { type: 'string', short: 'd', value: 'dir', description: '--direct in embedded mode: where the SQLite files live (TRIBUTARY_DATA_DIR)', defaultText: './data' } as const;
const directEnv: Array<[string, string]> = [
  ['TRIBUTARY_MODE, KAFKA_BROKERS', 'with --direct (or in Kafka mode): the event log to read'],
];

/**
 * --direct, or Kafka mode with no API named: the DLQ is a topic like any other, so the CLI reads and
 * replays it through the EventLog port (consumers run as their own processes; no API needs to run).
 */
function isDirect(args: ParsedArgs, ctx: CommandContext): boolean {
  if (args.flag('direct')) return true;
  return ctx.env['TRIBUTARY_MODE'] === 'kafka' && args.string('server') === undefined && !ctx.env[URL_ENV];
}

async function withDirectLog<T>(args: ParsedArgs, ctx: CommandContext, fn: (log: import('../../ports/event-log.ts').EventLog, config: Config) => Promise<T>): Promise<T> {
  const overrides: Record<string, string> = {};
  const dataDir = args.string('data-dir');
  if (dataDir !== undefined) overrides['dataDir'] = dataDir;
  let config: Config;
  try {
    config = loadConfig(ctx.env, overrides);
  } catch (e) {
    throw configError(e);
  }
  const { openLogForTools } = await import('../../wiring/backbone.ts');
  const fail = (e: unknown) => {
    const te = findTributaryError(e);
    if (te?.code === 'LOG_UNAVAILABLE') return new CliError(`the event log is not reachable (${config.mode === 'kafka' ? `Kafka at ${config.kafkaBrokers}` : config.dataDir}): ${te.message}`, ExitCodes.unavailable, { cause: e });
    if (te) return new CliError(`${te.code}: ${te.message}`, ExitCodes.failure, { cause: e });
    return e;
  };
  let tools: Awaited<ReturnType<typeof openLogForTools>>;
  try {
    tools = await openLogForTools(config, pino({ level: 'silent' }));
  } catch (e) {
    throw fail(e);
  }
  try {
    return await fn(tools.log, config);
  } catch (e) {
    throw fail(e);
  } finally {
    await tools.close();
  }
}

export const dlqList: Command = {
  spec: {
    name: 'dlq list',
    summary: 'list dead-lettered records (GET /v1/ops/dlq)',
    usage: '',
    description: 'Lists records that failed a stage after their retries: where they came from, the error code and message.',
    options: {
      stage: stageOption,
      since: { type: 'string', value: 'when', description: 'only records dead-lettered since: ISO time, epoch ms, or 30m / 2h / 7d ago' },
      limit: { type: 'string', short: 'n', value: 'n', description: 'most entries to show (1-1000)', defaultText: '100' },
      json: jsonOption,
      server: serverOption,
      direct: directOption,
      'data-dir': dataDirOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['tributary dlq list', 'tributary dlq list --stage embed --limit 20', 'TRIBUTARY_MODE=kafka KAFKA_BROKERS=127.0.0.1:9092 tributary dlq list --since 2h'],
    env: [urlEnv, ...directEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const limit = args.int('limit', { min: 1, max: 1000 });
    const stage = args.string('stage');
    const sinceRaw = args.string('since');
    const since = sinceRaw !== undefined ? parseSince(sinceRaw) : undefined;
    let body: unknown;
    if (isDirect(args, ctx)) {
      const { listDlq } = await import('../../api/services/dlq.ts');
      body = await withDirectLog(args, ctx, async (log) => {
        const all = await listDlq(log, { limit: Number.MAX_SAFE_INTEGER, ...(stage ? { stage } : {}) });
        const entries = all.filter((e) => since === undefined || e.firstSeenMs >= since).slice(-(limit ?? 100));
        return { entries };
      });
    } else {
      const client = clientFor(args, ctx);
      body = await client.json('GET', ApiPaths.dlq, { query: { stage, limit }, signal: ctx.signal });
      if (since !== undefined && body && typeof body === 'object' && Array.isArray((body as { entries?: unknown }).entries)) {
        const b = body as { entries: Array<{ firstSeenMs?: unknown }> };
        body = { ...b, entries: b.entries.filter((e) => typeof e.firstSeenMs !== 'number' || e.firstSeenMs >= since) };
      }
    }
    if (args.flag('json')) { printJson(ctx, body); return ExitCodes.ok; }
    const rows = readDlqEntries(body);
    const s = styleFor(ctx.stdout, ctx.env);
    if (rows.length === 0) {
      ctx.stdout.write(s.green(`The dead-letter queue is empty${stage ? ` for stage "${stage}"` : ''}${since !== undefined ? ` since ${new Date(since).toISOString()}` : ''}.`) + '\n');
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
      direct: directOption,
      'data-dir': dataDirOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['tributary dlq replay --stage embed', 'tributary dlq replay --since 2h', 'tributary dlq replay --since 2025-06-01T00:00:00Z', 'TRIBUTARY_MODE=kafka KAFKA_BROKERS=127.0.0.1:9092 tributary dlq replay --stage clean'],
    env: [urlEnv, ...directEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const sinceRaw = args.string('since');
    const since = sinceRaw !== undefined ? parseSince(sinceRaw) : undefined;
    const limit = args.int('limit', { min: 1, max: 100_000 });
    const stage = args.string('stage');
    const request = { ...(stage ? { stage } : {}), ...(since !== undefined ? { sinceMs: since } : {}), ...(limit !== undefined ? { limit } : {}) };
    let body: unknown;
    if (isDirect(args, ctx)) {
      const { replayDlq } = await import('../../api/services/dlq.ts');
      body = await withDirectLog(args, ctx, (log) => replayDlq(log, { ...request, limit: limit ?? 1000 }));
    } else {
      const client = clientFor(args, ctx);
      body = await client.json('POST', ApiPaths.dlqReplay, { body: request, signal: ctx.signal });
    }
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
