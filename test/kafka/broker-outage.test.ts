import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { publishContent } from '../../connectors/content-events/publish-content.ts';
import { findTributaryError } from '../../ports/errors.ts';
import { documentIdFor } from '../../schemas/ids.ts';
import { Groups, Topics } from '../../schemas/topics.ts';
import { loadConfig } from '../../wiring/config.ts';
import { api, type RunningSystem } from '../e2e/harness.ts';
import { describeWith } from '../helpers/ci.ts';
import { javaAvailable, KafkaBroker } from '../setup/kafka-broker.ts';
import { assertIndexExact, makeItem, type Item } from '../helpers/index-expectations.ts';
import { embeddedTarget } from '../helpers/index-target.ts';
import { caughtUp, kafkaEnv, outboxPending, PIPELINE_GROUPS, sleep, startApi, startConsumer, testLog, waitUntil, type Proc } from './harness.ts';

/**
 * The broker goes away for 20 s in the middle of a stream and comes back (same node, same data).
 * Nobody is restarted: the API keeps accepting documents (they wait in the store's outbox), the
 * relay, the consumers and a Kafka producer (publishContent from this process, retrying on
 * LOG_UNAVAILABLE) reconnect by themselves, and nothing is lost: the index ends exact.
 *
 * This suite stops its broker, so it always runs its own (even when KAFKA_BROKERS names a shared
 * cluster). Without Java it is skipped on a developer machine and fails in CI.
 */

const DIM = loadConfig({}).hashingDimension;
const OUTAGE_MS = 20_000;
const JAVA = { toRun: javaAvailable() ? null : 'install a JDK 17+ and Maven (`npm test` then fetches Kafka)', inCi: 'fail' } as const;

describeWith(JAVA, 'Kafka mode: the broker stops for 20 s mid-stream', () => {
  let broker: KafkaBroker;
  let dataDir: string;
  let apiProc: RunningSystem | null = null;
  const procs: Proc[] = [];

  beforeAll(async () => {
    broker = await KafkaBroker.start();
    dataDir = mkdtempSync(join(tmpdir(), 'tributary-kafka-outage-'));
  });
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill9()));
    if (apiProc) { await apiProc.kill9(); apiProc = null; }
  });
  afterAll(async () => {
    await broker?.destroy();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('API, relay, consumers and producers recover by themselves; nothing is lost', async () => {
    const log = testLog(broker.bootstrap);
    const env = kafkaEnv(broker.bootstrap);
    // the archive consumer writes to the store: it runs in the API process, which owns the store and its relay
    apiProc = await startApi(dataDir, { ...env, TRIBUTARY_CONSUMERS: 'archive' });
    for (const name of ['clean', 'embed']) procs.push(await startConsumer(name, dataDir, env));

    const expected = new Map<string, Item>();
    const httpStatusDuringOutage: number[] = [];
    let outage = false;
    let publishFailures = 0;
    const ROUNDS = 40;
    // two producers at once: through the API (store → outbox → relay → Kafka) …
    const httpWriter = (async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const items = Array.from({ length: 20 }, (_, j) => makeItem(r * 20 + j, 0, 'outage-http'));
        const during = outage;
        const res = await api(apiProc!.url, 'POST', '/v1/content', { items });
        if (during && outage) httpStatusDuringOutage.push(res.status);
        expect(res.status).toBe(202);
        items.forEach((it, j) => expected.set(documentIdFor('outage-http', `doc-${r * 20 + j}`), it));
        await sleep(800);
      }
    })();
    // … and straight to Kafka (content events → archive consumer), each batch retried until acknowledged
    const kafkaWriter = (async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const events = Array.from({ length: 10 }, (_, j) => makeItem(r * 10 + j, 0, 'outage-kafka'));
        for (;;) {
          try {
            const published = await publishContent(log, events);
            published.forEach((p, j) => expected.set(p.id, events[j]!));
            break;
          } catch (e) {
            expect(findTributaryError(e)?.code).toBe('LOG_UNAVAILABLE');
            expect(findTributaryError(e)?.retryable).toBe(true);
            publishFailures++;
            await sleep(500);
          }
        }
        await sleep(800);
      }
    })();
    const writer = Promise.all([httpWriter, kafkaWriter]);

    await sleep(6_000);
    await broker.stop();
    outage = true;
    const stoppedAt = Date.now();
    await sleep(OUTAGE_MS);
    outage = false;
    // the API's writes of the last 20 s wait in the store's outbox
    const bufferedInOutbox = outboxPending(dataDir);
    await broker.restart();
    const downMs = Date.now() - stoppedAt;
    const restartedAt = Date.now();
    await waitUntil('the relay drained the outbox', () => outboxPending(dataDir) === 0, 60_000, 100);
    const relayRecoveredMs = Date.now() - restartedAt;
    await writer;

    const groups = [...PIPELINE_GROUPS, { group: Groups.archive, topic: Topics.contentEvents }];
    await waitUntil('the pipeline caught up after the outage', () => caughtUp(log, dataDir, groups).catch(() => false), 180_000, 500);
    expect(downMs).toBeGreaterThanOrEqual(OUTAGE_MS);
    expect(bufferedInOutbox).toBeGreaterThan(0);
    console.info(`[outage] broker down ${downMs} ms (restart took ${broker.lastStartMs} ms); ${bufferedInOutbox} change events buffered in the outbox; relay caught up ${relayRecoveredMs} ms after the restart; ${publishFailures} publish attempts refused during the outage`);
    // producers noticed the outage, and the API never did
    expect(publishFailures).toBeGreaterThan(0);
    expect(httpStatusDuringOutage.length).toBeGreaterThan(3);
    expect(httpStatusDuringOutage.every((s) => s === 202)).toBe(true);
    // no process died or was restarted
    for (const p of procs) expect(p.alive, `${p.name} still running`).toBe(true);
    expect(apiProc.child.exitCode).toBeNull();
    // nothing dead-lettered: an outage is an infrastructure failure, not the records' fault
    expect((await log.offsets(Topics.dlq)).reduce((a, p) => a + p.end, 0)).toBe(0);

    for (const p of procs.splice(0)) expect(await p.stop(), `${p.name} exit code`).toBe(0);
    expect(await apiProc.stop()).toBe(0);
    apiProc = null;
    await log.close();
    expect(expected.size).toBe(ROUNDS * 30);
    await assertIndexExact(embeddedTarget(), dataDir, DIM, expected);
  });
});
