import type { ParsedArgs } from '../args.ts';
import type { Command, CommandContext } from '../command.ts';
import { ExitCodes, UsageError } from '../errors.ts';
import { styleFor } from '../format.ts';
import { onShutdownSignals, signalExitCode } from '../shutdown.ts';
import { CONSUMER_NAMES, ConsumerSpecs, isConsumerName } from '../../wiring/consumers.ts';
import { commandFailure, loadConfigOrFail, SHUTDOWN_TIMEOUT_MS } from './dev.ts';

/** `tributary consume <name>`: one pipeline consumer as its own process, in its own consumer group (Kafka mode). */
export const consume: Command = {
  handlesSignals: true,
  spec: {
    name: 'consume',
    summary: 'run one consumer as its own process on Kafka: clean, embed, archive, finetune-trigger or lag-monitor',
    usage: `<${CONSUMER_NAMES.join('|')}|lag-monitor>`,
    description: [
      'Runs one pipeline consumer in this process, as a member of its consumer group on Kafka',
      '(TRIBUTARY_MODE=kafka, KAFKA_BROKERS). Start several processes of the same consumer to share its',
      'partitions; Kafka rebalances them as processes come and go.',
      '',
      ...CONSUMER_NAMES.map((n) => `  ${n.padEnd(16)} ${ConsumerSpecs[n].summary} (group "${ConsumerSpecs[n].group}")`),
      `  ${'lag-monitor'.padEnd(16)} every group's lag and Burrow status → tributary.ops.lag (served by GET /v1/ops/lag)`,
      '',
      'Offsets are committed only after the sink acknowledged; a killed process loses nothing (its',
      'uncommitted batch is redone by the partition\'s next owner). Ctrl-C (or SIGTERM) stops gracefully:',
      'the in-flight batch finishes and commits, then the process leaves the group. A second Ctrl-C exits at once.',
      'The embed consumer writes to the vector index: Qdrant with QDRANT_URL (no local files; the embedding',
      'cache reads vectors back from Qdrant), else the SQLite index in the data directory. The archive consumer',
      'runs inside the API process (TRIBUTARY_CONSUMERS=archive) while the document store is its SQLite file.',
      'The finetune-trigger keeps its state and the pinned dataset versions in its data directory: run exactly',
      'one (a single replica with a volume); it needs TRIBUTARY_FINETUNE_DATASETS.',
    ].join('\n'),
    options: {
      'data-dir': { type: 'string', short: 'd', value: 'dir', description: 'where the SQLite files live (TRIBUTARY_DATA_DIR)', defaultText: './data' },
    },
    positionals: { min: 1, max: 1 },
    examples: [
      'TRIBUTARY_MODE=kafka KAFKA_BROKERS=127.0.0.1:9092 tributary consume clean',
      'TRIBUTARY_MODE=kafka KAFKA_BROKERS=127.0.0.1:9092 tributary consume embed --data-dir /var/lib/tributary',
    ],
    env: [
      ['TRIBUTARY_MODE', 'must be kafka'],
      ['KAFKA_BROKERS', 'bootstrap servers, e.g. 127.0.0.1:9092'],
      ['TRIBUTARY_KAFKA_SESSION_TIMEOUT_MS', 'how long a silent member keeps its partitions (default 10000)'],
      ['TRIBUTARY_BATCH_MAX_RECORDS', 'records per batch handed to the stage'],
      ['TRIBUTARY_METRICS_PORT', 'where this process serves GET /metrics and GET /healthz, on HOST (default 9464; 0 picks a free port)'],
    ],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const name = args.positionals[0]!;
    if (!isConsumerName(name) && name !== 'lag-monitor') {
      throw new UsageError(`unknown consumer "${name}"`, [`Consumers: ${CONSUMER_NAMES.join(', ')}, lag-monitor.`]);
    }
    const overrides: Record<string, string> = {};
    const dataDir = args.string('data-dir');
    if (dataDir !== undefined) overrides['dataDir'] = dataDir;
    const config = loadConfigOrFail(ctx.env, overrides);
    const { createConsumerProcess, createLagMonitorProcess } = await import('../../wiring/consumer-process.ts');
    let proc: { sink: string | null; metricsUrl: string; start(): void; close(): Promise<void> };
    try {
      proc = name === 'lag-monitor' ? await createLagMonitorProcess(config) : await createConsumerProcess(config, name);
    } catch (e) {
      throw commandFailure(e);
    }
    proc.start();
    const s = styleFor(ctx.stdout, ctx.env);
    if (name === 'lag-monitor') {
      ctx.stdout.write(`${s.bold('Tributary')} consumer ${s.cyan('lag-monitor')} running — every group's lag by Burrow's rules, published to tributary.ops.lag, brokers ${config.kafkaBrokers}; metrics ${proc.metricsUrl}/metrics. Ctrl-C to stop.\n`);
    } else {
      const spec = ConsumerSpecs[name];
      ctx.stdout.write(`${s.bold('Tributary')} consumer ${s.cyan(name)} running — group "${spec.group}", topics ${spec.topics.join(', ')}, brokers ${config.kafkaBrokers}${proc.sink ? ` → ${proc.sink}` : ''}; metrics ${proc.metricsUrl}/metrics. Ctrl-C to stop.\n`);
    }

    const err = styleFor(ctx.stderr, ctx.env);
    return new Promise<number>((done) => {
      const dispose = onShutdownSignals(process, {
        stop: (signal) => {
          ctx.stderr.write(`\n${err.yellow(signal)}: stopping — the in-flight batch finishes and commits, then the consumer leaves the group (Ctrl-C again to force)\n`);
          const deadline = setTimeout(() => {
            ctx.stderr.write(err.red(`still stopping after ${SHUTDOWN_TIMEOUT_MS / 1000} s; exiting without waiting`) + '\n');
            done(ExitCodes.failure);
          }, SHUTDOWN_TIMEOUT_MS);
          void proc.close().then(
            () => { ctx.stderr.write('Stopped.\n'); done(ExitCodes.ok); },
            (e: unknown) => { ctx.stderr.write(err.red(`error while stopping: ${(e as Error).message}`) + '\n'); done(ExitCodes.failure); },
          ).finally(() => { clearTimeout(deadline); dispose(); });
        },
        force: (signal) => {
          ctx.stderr.write(err.red(`${signal} again: exiting now (the in-flight batch will be redone by the partition's next owner)`) + '\n');
          done(signalExitCode(signal));
        },
      });
    });
  },
};
