import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CDC_TOPIC, Topics, topicSpecs } from '../../schemas/topics.ts';
import { describeKafka } from '../setup/kafka-env.ts';
import { kafkaEnv, resetKafka, startConsumer, testLog, waitUntil, type Proc } from './harness.ts';

/** `tributary consume lag-monitor` on the real broker: a stalled group's lag is published on tributary.ops.lag. */

describeKafka('tributary consume lag-monitor (own process)', (brokers) => {
  let dataDir: string;
  let proc: Proc | null = null;
  const log = testLog(brokers);

  beforeAll(async () => {
    await resetKafka(brokers);
    dataDir = mkdtempSync(join(tmpdir(), 'tributary-kafka-lag-'));
  });
  afterAll(async () => {
    if (proc) await proc.stop();
    await log.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('publishes per-group lag with a status, counting a group that never committed from offset 0', async () => {
    await log.ensureTopics(topicSpecs(2));
    await log.append(CDC_TOPIC, Array.from({ length: 7 }, (_, i) => ({ key: `doc-${i}`, value: new TextEncoder().encode('{}') })));
    proc = await startConsumer('lag-monitor', dataDir, kafkaEnv(brokers));
    let report: Record<string, unknown> | null = null;
    await waitUntil('a lag report for group clean on tributary.ops.lag', async () => {
      for (const o of await log.offsets(Topics.opsLag)) {
        for (const r of await log.read(Topics.opsLag, o.partition, o.start, 1000)) {
          const v = JSON.parse(new TextDecoder().decode(r.value!)) as Record<string, unknown>;
          if (v['group'] === 'clean') report = v;
        }
      }
      return report !== null;
    }, 30_000, 250);
    const text = JSON.stringify(report);
    expect(text).toContain(CDC_TOPIC);
    expect(text).toMatch(/"status":"(OK|WARN|STALL|STOP|REWIND)"/);
    expect(text).toMatch(/"lag":[1-9]/);
    expect(await proc.stop()).toBe(0);
    proc = null;
  });
});
