import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { toDlqRecord } from '../../consumers/runtime/dlq.ts';
import { CDC_TOPIC, Topics, topicSpecs } from '../../schemas/topics.ts';
import { runCli } from '../cli/helpers.ts';
import { describeKafka } from '../setup/kafka-env.ts';
import { resetKafka, testLog } from './harness.ts';

/** The Kafka-facing CLI against the real broker: topics as code, the DLQ read and replayed on Kafka, consume's guard rails. */

describeKafka('tributary CLI on Kafka: topics, dlq, consume', (brokers) => {
  let dataDir: string;
  const log = testLog(brokers);
  const env = () => ({ TRIBUTARY_MODE: 'kafka', KAFKA_BROKERS: brokers, TRIBUTARY_DATA_DIR: dataDir, TRIBUTARY_LOG_LEVEL: 'silent' });

  beforeAll(async () => {
    await resetKafka(brokers);
    dataDir = mkdtempSync(join(tmpdir(), 'tributary-kafka-cli-'));
  });
  afterAll(async () => {
    await log.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('topics apply creates every topic, is idempotent, grows partitions (dry run first) and sets compaction', async () => {
    const first = await runCli(['topics', 'apply'], { env: env() });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/tributary\.content\.cleaned\s+4\s+created/);
    expect(first.stdout).toContain(`${topicSpecs(4).length} topics changed on Kafka`);
    const again = await runCli(['topics', 'apply', '--json'], { env: env() });
    expect(JSON.parse(again.stdout).topics.every((t: { action: string }) => t.action === 'unchanged')).toBe(true);

    const dry = await runCli(['topics', 'apply', '--partitions', '6', '--dry-run'], { env: env() });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('partitions 4 → 6');
    expect(await log.partitionCount(CDC_TOPIC)).toBe(4);
    const grow = await runCli(['topics', 'apply', '--partitions', '6'], { env: env() });
    expect(grow.code).toBe(0);
    const fresh = testLog(brokers);
    try {
      expect(await fresh.partitionCount(CDC_TOPIC)).toBe(6);
      const changes = await fresh.applyTopics([{ name: Topics.cleaned, partitions: 6, compacted: true, retentionMs: -1 }], { dryRun: true });
      expect(changes[0]).toMatchObject({ action: 'unchanged' }); // compact, retention and size limit already set
    } finally {
      await fresh.close();
    }
    const list = await runCli(['topics', 'list'], { env: env() });
    expect(list.stdout).toMatch(/tributary\.dlq\s+1\s+0/);
  });

  it('dlq list and replay work on Kafka directly (no API running), by stage and since', async () => {
    const original = { topic: CDC_TOPIC, partition: 0, offset: 0, key: 'k1', value: new TextEncoder().encode('{bad'), headers: { traceparent: '00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01' }, timestamp: Date.now() };
    const old = Date.now() - 3 * 3600_000;
    await log.append(Topics.dlq, [
      toDlqRecord(original, { stage: 'clean', code: 'MALFORMED_EVENT', message: 'not JSON', attempts: 1, firstSeenMs: old }),
      toDlqRecord({ ...original, key: 'k2', topic: Topics.cleaned }, { stage: 'embed', code: 'SCHEMA_VIOLATION', message: 'docId: required', attempts: 1, firstSeenMs: Date.now() }),
    ]);
    const all = await runCli(['dlq', 'list'], { env: env() });
    expect(all.code).toBe(0);
    expect(all.stdout).toContain('MALFORMED_EVENT');
    expect(all.stdout).toContain('2 entries, 2 not replayed yet');
    const recent = await runCli(['dlq', 'list', '--since', '1h', '--json'], { env: env() });
    expect(JSON.parse(recent.stdout).entries.map((e: { key: string }) => e.key)).toEqual(['k2']);

    const endBefore = (await log.offsets(CDC_TOPIC)).reduce((a, p) => a + p.end, 0);
    const replay = await runCli(['dlq', 'replay', '--stage', 'clean'], { env: env() });
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('Replayed 1 record (stage clean)');
    expect((await log.offsets(CDC_TOPIC)).reduce((a, p) => a + p.end, 0)).toBe(endBefore + 1);
    const twice = await runCli(['dlq', 'replay', '--stage', 'clean'], { env: env() });
    expect(twice.stdout).toContain('Replayed 0 records');
    const after = await runCli(['dlq', 'list', '--json'], { env: env() });
    expect(JSON.parse(after.stdout).entries.map((e: { key: string; pending: boolean }) => [e.key, e.pending])).toEqual([['k1', false], ['k2', true]]);
  });

  it('consume refuses embedded mode and unknown consumers; an unreachable broker is exit 3', async () => {
    const embedded = await runCli(['consume', 'clean'], { env: { TRIBUTARY_DATA_DIR: dataDir } });
    expect(embedded.code).toBe(78);
    expect(embedded.stderr).toContain('TRIBUTARY_MODE=kafka');
    const unknown = await runCli(['consume', 'cleen'], { env: env() });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Consumers: clean, embed, archive');
    const down = await runCli(['topics', 'list'], { env: { ...env(), KAFKA_BROKERS: '127.0.0.1:1' } });
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('not reachable');
  });
});
