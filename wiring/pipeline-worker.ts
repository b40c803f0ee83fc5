import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { Metrics } from '../observability/metrics.ts';
import { startTracing } from '../observability/tracing.ts';
import { openBackbone } from './backbone.ts';
import type { Config } from './config.ts';
import { buildConsumer, type ConsumerName, type RunnableConsumer } from './consumers.ts';
import { openIndexing } from './vector-index.ts';
import { createValueCodec } from './schema-registry.ts';
import type { ThreadReply, ThreadRequest, PipelineThreadData } from './pipeline-threads.ts';

/**
 * A pipeline thread (wiring/pipeline-threads.ts starts it): the consumers named in `workerData`, on
 * their own connections to the data directory's files (the log and store database, the index, the
 * embedding cache) and their own embedder, so none of their work — parsing, cleaning, chunking,
 * embedding, SQLite writes and their fsyncs — runs on the API's event loop.
 *
 * The thread lowers its own scheduling priority first (Linux: nice +`niceness` for this thread and
 * the threads it starts, such as the ONNX runtime's), so the API thread and its queries get the
 * cores first when both want them.
 */

const data = workerData as PipelineThreadData;
/** Housekeeping cadence, as the API thread's own (wiring/system.ts). */
const MAINTENANCE_MS = 10 * 60_000;
const port = parentPort!;
const send = (m: ThreadReply) => port.postMessage(m);

/** This thread's own id on Linux (/proc/thread-self → "<pid>/task/<tid>"), else null. */
function threadId(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

function lowerPriority(niceness: number): number | null {
  if (niceness === 0) return null;
  const tid = threadId();
  if (tid === null) return null;
  try {
    setPriority(tid, niceness);
    return niceness;
  } catch {
    return null; // not permitted here: the thread keeps the process's priority
  }
}

async function main(): Promise<void> {
  const niceness = lowerPriority(data.niceness);
  const config = data.config as Config;
  const logger = pino({ level: config.logLevel, base: { service: 'tributary', thread: data.names.join('+') } });
  const tracing = await startTracing({ serviceName: 'tributary' });
  // counters and histograms only: the API thread owns the process's gauges and default metrics
  const metrics = new Metrics({ defaultMetrics: false });
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async () => { for (const c of closers.splice(0).reverse()) await c(); };
  const consumers = new Map<ConsumerName, RunnableConsumer>();
  let housekeeping: (() => Promise<void>) | null = null;
  try {
    const backbone = await openBackbone(config, logger, { metrics, relay: false });
    closers.push(() => backbone.close());
    const { embedder, index, cache } = await openIndexing(config, closers, 'pipeline');
    // the API thread's housekeeping writes, done here instead: log retention by the clean thread, cache pruning by the embed thread
    housekeeping = async () => {
      if (data.names.includes('clean')) backbone.maintain();
      if (data.names.includes('embed')) await cache.prune();
    };
    const codec = createValueCodec(config);
    closers.push(() => codec.close());
    for (const name of data.names) {
      consumers.set(name, buildConsumer(name, { config, log: backbone.log, logger, metrics, codec, store: backbone.store, embedder, cache, index, llm: null, closers }));
    }
  } catch (e) {
    await closeAll().catch(() => {});
    send({ type: 'failed', message: (e as Error).message });
    return;
  }

  let last = '';
  const report = () => {
    const statuses = [...consumers.values()].map((c) => c.status);
    const text = JSON.stringify(statuses);
    if (text !== last) {
      last = text;
      send({ type: 'status', statuses });
    }
  };
  const ticker = setInterval(report, 200);
  const maintenance = setInterval(() => {
    void housekeeping?.().catch((e: unknown) => logger.warn({ event: 'maintenance.failed', err: (e as Error).message }));
  }, MAINTENANCE_MS);
  maintenance.unref();
  let closing: Promise<void> | null = null;

  port.on('message', (m: ThreadRequest) => {
    void (async () => {
      switch (m.type) {
        case 'start':
          for (const c of consumers.values()) c.start();
          report();
          return;
        case 'start-consumer':
          consumers.get(m.name)?.start();
          report();
          return;
        case 'stop-consumer':
          await consumers.get(m.name)?.stop();
          report();
          send({ type: 'consumer-stopped', name: m.name });
          return;
        case 'metrics': {
          const json = (await metrics.registry.getMetricsAsJSON()).filter((x) => String(x.type) !== 'gauge');
          send({ type: 'metrics', id: m.id, json });
          return;
        }
        case 'close':
          closing ??= (async () => {
            clearInterval(ticker);
            clearInterval(maintenance);
            await Promise.all([...consumers.values()].map((c) => c.stop()));
            report();
            await closeAll();
            await tracing.shutdown();
          })();
          await closing;
          send({ type: 'closed' });
          port.close();
          return;
      }
    })().catch((e: unknown) => logger.error({ event: 'pipeline_thread.failed', err: (e as Error).message }));
  });
  send({ type: 'ready', niceness });
}

await main();
