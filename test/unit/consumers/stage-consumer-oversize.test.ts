import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EmbeddedEventLog } from '../../../adapters/event-log/embedded/embedded-event-log.ts';
import { openDatabase } from '../../../adapters/sqlite/open-database.ts';
import type { LogRecord } from '../../../ports/event-log.ts';
import { Metrics } from '../../../observability/metrics.ts';
import { StageConsumer, type RecordFailure, type Stage } from '../../../consumers/runtime/stage-consumer.ts';
import { describeDlqRecord } from '../../../consumers/runtime/dlq.ts';
import { DlqHeaders } from '../../../schemas/topics.ts';

/** A record bigger than this process's record limit (written by a producer with a bigger one) is poison. */
describe('StageConsumer: oversize records', () => {
  it('dead-letters an oversize record without calling the stage, cut to the limit and marked; its neighbours are sunk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-oversize-'));
    const db = openDatabase({ path: join(dir, 'db'), synchronous: 'normal' });
    const writer = new EmbeddedEventLog({ db, maxRecordBytes: 1 << 20, pollIntervalMs: 10 });
    writer.ensureTopicsSync([{ name: 'in', partitions: 1, compacted: false, retentionMs: -1 }, { name: 'tributary.dlq', partitions: 1, compacted: false, retentionMs: -1 }]);
    const log = new EmbeddedEventLog({ db, maxRecordBytes: 1024, pollIntervalMs: 10 });
    const seen: string[] = [];
    const stage: Stage = {
      name: 'probe',
      async process(records: LogRecord[]): Promise<RecordFailure[]> {
        for (const r of records) seen.push(new TextDecoder().decode(r.value!).slice(0, 10));
        return [];
      },
    };
    const consumer = new StageConsumer({
      log, stage, group: 'g', topics: ['in'], logger: pino({ level: 'silent' }), metrics: new Metrics(),
      batch: { maxRecords: 100, maxBytes: 1 << 20, maxWaitMs: 5 }, retry: { baseMs: 5, maxMs: 20, maxAttempts: 3 },
    });
    try {
      const big = new Uint8Array(5000).fill(0x41);
      await writer.append('in', [{ key: 'a', value: new TextEncoder().encode('before') }, { key: 'big', value: big }, { key: 'c', value: new TextEncoder().encode('after') }]);
      consumer.start();
      const deadline = Date.now() + 10_000;
      while ((await log.groupOffsets('g')).find((o) => o.topic === 'in')?.committed !== 3) {
        if (Date.now() > deadline) throw new Error('not committed');
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(seen).toEqual(['before', 'after']);
      const [d] = await log.read('tributary.dlq', 0, 0, 10);
      expect(d!.key).toBe('big');
      expect(d!.value!.byteLength).toBe(1024);
      expect(d!.headers[DlqHeaders.valueTruncatedFrom]).toBe('5000');
      expect(describeDlqRecord(d!)).toMatchObject({ code: 'OVERSIZE_RECORD', stage: 'probe', sourceTopic: 'in', sourceOffset: 1 });
    } finally {
      await consumer.stop();
      await log.close();
      await writer.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
