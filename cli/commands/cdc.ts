import { pino } from 'pino';
import type { ParsedArgs } from '../args.ts';
import type { Command, CommandContext } from '../command.ts';
import { ExitCodes } from '../errors.ts';
import { styleFor } from '../format.ts';
import { onShutdownSignals, signalExitCode } from '../shutdown.ts';
import { Metrics } from '../../observability/metrics.ts';
import { startMetricsServer, type MetricsServer } from '../../observability/metrics-server.ts';
import { commandFailure, loadConfigOrFail, SHUTDOWN_TIMEOUT_MS } from './dev.ts';

/** `tributary cdc`: the MongoDB change-stream relay as a process of its own (Kafka mode). */
export const cdc: Command = {
  handlesSignals: true,
  spec: {
    name: 'cdc',
    summary: 'relay the MongoDB collection\'s change stream to Kafka (the built-in CDC, as its own process)',
    usage: '',
    description: [
      'Reads the change stream of the warehouse collection (MONGODB_URL, a replica set) and appends every',
      'insert, update and delete to the CDC topic as a Debezium-MongoDB envelope, key = document id. The',
      'resume token is saved only after Kafka acknowledged every event before it; an idle stream still',
      'advances it. On first start it snapshots the collection (op "r") from a time taken before the',
      'snapshot, so nothing falls in between; if the stream\'s history is lost it alerts (log, metric, a',
      'record on tributary.ops.events) and snapshots again — never a silent restart from "now".',
      '',
      'Run one or several: one holds the lease and relays, the others wait to take over. Ctrl-C (or',
      'SIGTERM) stops gracefully: the in-flight batch is acknowledged and committed, the lease released.',
      'The alternative is the Debezium MongoDB connector on Kafka Connect (connectors/debezium/).',
    ].join('\n'),
    options: {},
    positionals: { min: 0, max: 0 },
    examples: ['TRIBUTARY_MODE=kafka KAFKA_BROKERS=127.0.0.1:9092 MONGODB_URL=\'mongodb://127.0.0.1:27017/?replicaSet=rs0\' tributary cdc'],
    env: [
      ['MONGODB_URL', 'the MongoDB replica set'],
      ['TRIBUTARY_MODE', 'must be kafka'],
      ['KAFKA_BROKERS', 'bootstrap servers'],
      ['TRIBUTARY_METRICS_PORT', 'where this process serves GET /metrics and GET /healthz, on HOST (default 9464; 0 picks a free port)'],
    ],
  },

  async run(_args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const config = loadConfigOrFail(ctx.env);
    const logger = pino({ level: config.logLevel, base: { service: 'tributary', component: 'cdc' } });
    const metrics = new Metrics({ defaultMetrics: config.metricsEnabled });
    const { openCdc } = await import('../../wiring/backbone.ts');
    let cdcProcess: Awaited<ReturnType<typeof openCdc>>;
    try {
      cdcProcess = await openCdc(config, logger, metrics);
    } catch (e) {
      throw commandFailure(e);
    }
    let server: MetricsServer;
    try {
      // healthy while the relay loop runs; failures it retries are reported (consecutiveFailures, lastError)
      server = await startMetricsServer({ host: config.host, port: config.metricsPort, metrics, process: 'cdc', health: () => ({ ok: cdcProcess.relay.status.running, detail: { relay: cdcProcess.relay.status } }) });
    } catch (e) {
      await cdcProcess.close();
      throw commandFailure(e);
    }
    const opened = cdcProcess;
    cdcProcess = { ...opened, close: async () => { await server.close(); await opened.close(); } };
    cdcProcess.relay.start();
    const s = styleFor(ctx.stdout, ctx.env);
    ctx.stdout.write(`${s.bold('Tributary')} ${s.cyan('cdc')} running — MongoDB change stream → ${s.cyan('tributary.cdc.tributary.documents')} on ${config.kafkaBrokers}; metrics ${server.url}/metrics. Ctrl-C to stop.\n`);
    const err = styleFor(ctx.stderr, ctx.env);
    return new Promise<number>((done) => {
      const dispose = onShutdownSignals(process, {
        stop: (signal) => {
          ctx.stderr.write(`\n${err.yellow(signal)}: stopping — the in-flight batch is acknowledged and committed, then the lease is released (Ctrl-C again to force)\n`);
          const deadline = setTimeout(() => { ctx.stderr.write(err.red(`still stopping after ${SHUTDOWN_TIMEOUT_MS / 1000} s; exiting without waiting`) + '\n'); done(ExitCodes.failure); }, SHUTDOWN_TIMEOUT_MS);
          void cdcProcess.close().then(
            () => { ctx.stderr.write('Stopped.\n'); done(ExitCodes.ok); },
            (e: unknown) => { ctx.stderr.write(err.red(`error while stopping: ${(e as Error).message}`) + '\n'); done(ExitCodes.failure); },
          ).finally(() => { clearTimeout(deadline); dispose(); });
        },
        force: (signal) => {
          ctx.stderr.write(err.red(`${signal} again: exiting now (the uncommitted batch is re-sent by the next relay)`) + '\n');
          done(signalExitCode(signal));
        },
      });
    });
  },
};
