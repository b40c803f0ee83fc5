import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedEventLog } from '../../adapters/event-log/embedded/embedded-event-log.ts';
import { openDatabase } from '../../adapters/sqlite/open-database.ts';
import { toDlqRecord } from '../../consumers/runtime/dlq.ts';
import { CDC_TOPIC, Topics, topicSpecs } from '../../schemas/topics.ts';
import { runCli } from './helpers.ts';

/** topics apply/list and dlq --direct on the embedded log (the Kafka side is in test/kafka/cli.test.ts). */
describe('tributary topics / dlq --direct (embedded log)', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'tributary-cli-topics-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('topics apply creates the topics once, then reports them up to date; partitions grow', async () => {
    const first = await runCli(['topics', 'apply', '--data-dir', dir]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/tributary\.content\.cleaned\s+4\s+created/);
    expect(first.stdout).toContain(`${topicSpecs(4).length} topics changed on the embedded log.`);
    const again = await runCli(['topics', 'apply', '--data-dir', dir]);
    expect(again.stdout).toContain('Every topic on the embedded log is up to date.');
    const grow = await runCli(['topics', 'apply', '--data-dir', dir, '--partitions', '6', '--json']);
    const cdc = JSON.parse(grow.stdout).topics.find((t: { topic: string }) => t.topic === CDC_TOPIC);
    expect(cdc).toMatchObject({ action: 'updated', partitions: 6, changes: ['partitions 4 → 6'] });
    const list = await runCli(['topics', 'list', '--data-dir', dir]);
    expect(list.stdout).toMatch(/tributary\.cdc\.tributary\.documents\s+6\s+0/);
  });

  it('dlq list --direct reads the data directory without an API', async () => {
    await runCli(['topics', 'apply', '--data-dir', dir]);
    const db = openDatabase({ path: join(dir, 'tributary.db'), synchronous: 'normal' });
    const log = new EmbeddedEventLog({ db, maxRecordBytes: 1 << 20 });
    await log.append(Topics.dlq, [toDlqRecord(
      { topic: CDC_TOPIC, partition: 1, offset: 7, key: 'k', value: new TextEncoder().encode('{x'), headers: {}, timestamp: 1 },
      { stage: 'clean', code: 'MALFORMED_EVENT', message: 'record value is not JSON', attempts: 1, firstSeenMs: Date.now() },
    )]);
    await log.close(); db.close();
    const r = await runCli(['dlq', 'list', '--direct', '--data-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('MALFORMED_EVENT');
    expect(r.stdout).toContain(`${CDC_TOPIC}[1]@7`);
  });
});
