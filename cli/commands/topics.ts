import { pino } from 'pino';
import type { ParsedArgs } from '../args.ts';
import { jsonOption, printJson, type Command, type CommandContext } from '../command.ts';
import { CliError, ExitCodes } from '../errors.ts';
import { styleFor } from '../format.ts';
import { renderTable } from '../table.ts';
import { findTributaryError } from '../../ports/errors.ts';
import { topicSpecs } from '../../schemas/topics.ts';
import { loadConfig, type Config } from '../../wiring/config.ts';
import { configError } from './dev.ts';

/**
 * Topics as code (schemas/topics.ts): `topics apply` creates or updates every Tributary topic,
 * idempotently; `topics list` shows them. Kafka when TRIBUTARY_MODE=kafka, else the embedded log
 * in the data directory.
 */

const commonOptions = {
  'data-dir': { type: 'string', short: 'd', value: 'dir', description: 'embedded mode: where the SQLite files live (TRIBUTARY_DATA_DIR)', defaultText: './data' },
  json: jsonOption,
} as const;

const env: Array<[string, string]> = [
  ['TRIBUTARY_MODE', 'kafka: apply to the cluster in KAFKA_BROKERS; embedded (default): the data directory'],
  ['KAFKA_BROKERS', 'bootstrap servers, e.g. 127.0.0.1:9092'],
  ['TRIBUTARY_PARTITIONS', 'partitions of the keyed topics (default 4)'],
  ['TRIBUTARY_KAFKA_REPLICATION_FACTOR', 'replication factor of created topics (default -1: the broker default)'],
];

function configFor(args: ParsedArgs, ctx: CommandContext, extra: Record<string, string> = {}): Config {
  const overrides: Record<string, string> = { ...extra };
  const dataDir = args.string('data-dir');
  if (dataDir !== undefined) overrides['dataDir'] = dataDir;
  try {
    return loadConfig(ctx.env, overrides);
  } catch (e) {
    throw configError(e);
  }
}

async function withLog<T>(config: Config, fn: (tools: Awaited<ReturnType<typeof import('../../wiring/backbone.ts').openLogForTools>>) => Promise<T>): Promise<T> {
  const { openLogForTools } = await import('../../wiring/backbone.ts');
  let tools: Awaited<ReturnType<typeof openLogForTools>>;
  try {
    tools = await openLogForTools(config, pino({ level: 'silent' }), { ensureTopics: false });
  } catch (e) {
    throw logError(e, config);
  }
  try {
    return await fn(tools);
  } catch (e) {
    throw logError(e, config);
  } finally {
    await tools.close();
  }
}

function logError(e: unknown, config: Config): unknown {
  const te = findTributaryError(e);
  if (!te) return e;
  if (te.code === 'LOG_UNAVAILABLE') return new CliError(`Kafka at ${config.kafkaBrokers} is not reachable: ${te.message}`, ExitCodes.unavailable, { cause: e, hints: ['Check KAFKA_BROKERS and that the brokers are up.'] });
  return new CliError(`${te.code}: ${te.message}`, ExitCodes.failure, { cause: e });
}

export const topicsApply: Command = {
  spec: {
    name: 'topics apply',
    summary: 'create or update every Tributary topic (partitions, compaction, retention), idempotently',
    usage: '',
    description: [
      'Brings the topics in line with schemas/topics.ts: creates the missing ones, grows partition counts',
      '(never shrinks them), and sets cleanup.policy (compact for tributary.content.cleaned), retention.ms and',
      'max.message.bytes where they differ. Other topic settings are kept. Safe to run again and again',
      '(e.g. as a deploy step); prints what changed.',
    ].join('\n'),
    options: {
      ...commonOptions,
      partitions: { type: 'string', short: 'p', value: 'n', description: 'partitions of the keyed topics (TRIBUTARY_PARTITIONS)', defaultText: '4' },
      'dry-run': { type: 'boolean', description: 'show what would change, change nothing (Kafka mode)' },
    },
    positionals: { min: 0, max: 0 },
    examples: ['TRIBUTARY_MODE=kafka KAFKA_BROKERS=127.0.0.1:9092 tributary topics apply', 'tributary topics apply --partitions 12 --dry-run'],
    env,
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const partitions = args.string('partitions');
    const config = configFor(args, ctx, partitions !== undefined ? { partitions } : {});
    const specs = topicSpecs(config.partitions);
    const dryRun = args.flag('dry-run');
    const changes = await withLog(config, async ({ log, kafka }) => {
      if (kafka) return kafka.applyTopics(specs, { dryRun });
      const before = new Set(await log.listTopics());
      const counts = new Map<string, number>();
      for (const s of specs) if (before.has(s.name)) counts.set(s.name, await log.partitionCount(s.name));
      if (!dryRun) await log.ensureTopics(specs);
      return specs.map((s) => {
        const had = counts.get(s.name);
        const changed = had === undefined ? [`created with ${s.partitions} partitions`] : had < s.partitions ? [`partitions ${had} → ${s.partitions}`] : [];
        return { topic: s.name, action: had === undefined ? 'created' : changed.length ? 'updated' : 'unchanged', partitions: Math.max(had ?? 0, s.partitions), changes: changed };
      });
    });
    if (args.flag('json')) { printJson(ctx, { mode: config.mode, dryRun, topics: changes }); return ExitCodes.ok; }
    const s = styleFor(ctx.stdout, ctx.env);
    ctx.stdout.write(renderTable(
      [{ header: 'TOPIC' }, { header: 'PARTITIONS', align: 'right' }, { header: dryRun ? 'WOULD' : 'ACTION' }, { header: 'CHANGES', flex: true }],
      changes.map((c) => [c.topic, String(c.partitions), c.action === 'unchanged' ? s.dim('unchanged') : c.action === 'created' ? s.green(c.action) : s.yellow(c.action), c.changes.join('; ')]),
      ctx.stdout.columns !== undefined ? { maxWidth: ctx.stdout.columns } : {},
    ));
    const n = changes.filter((c) => c.action !== 'unchanged').length;
    const where = config.mode === 'kafka' ? `Kafka ${config.kafkaBrokers}` : 'the embedded log';
    ctx.stdout.write(`\n${n === 0 ? `Every topic on ${where} is up to date.` : `${n} topic${n === 1 ? '' : 's'} ${dryRun ? 'would change' : 'changed'} on ${where}.`}\n`);
    return ExitCodes.ok;
  },
};

export const topicsList: Command = {
  spec: {
    name: 'topics list',
    summary: 'list the topics with their partitions and record counts',
    usage: '',
    description: 'Lists the topics of the event log (Kafka when TRIBUTARY_MODE=kafka, else the embedded log) with partitions and the records each holds.',
    options: { ...commonOptions },
    positionals: { min: 0, max: 0 },
    examples: ['TRIBUTARY_MODE=kafka KAFKA_BROKERS=127.0.0.1:9092 tributary topics list'],
    env,
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const config = configFor(args, ctx);
    const rows = await withLog(config, async ({ log }) => {
      const out: Array<{ topic: string; partitions: number; records: number; end: number }> = [];
      for (const t of await log.listTopics()) {
        const offs = await log.offsets(t);
        out.push({ topic: t, partitions: offs.length, records: offs.reduce((a, o) => a + (o.end - o.start), 0), end: offs.reduce((a, o) => a + o.end, 0) });
      }
      return out;
    });
    if (args.flag('json')) { printJson(ctx, { mode: config.mode, topics: rows }); return ExitCodes.ok; }
    ctx.stdout.write(renderTable(
      [{ header: 'TOPIC' }, { header: 'PARTITIONS', align: 'right' }, { header: 'RECORDS', align: 'right' }, { header: 'END OFFSETS', align: 'right' }],
      rows.map((r) => [r.topic, String(r.partitions), String(r.records), String(r.end)]),
    ));
    return ExitCodes.ok;
  },
};
