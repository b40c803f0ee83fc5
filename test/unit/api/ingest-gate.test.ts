import { describe, expect, it } from 'vitest';
import { IngestGate } from '../../../api/services/ingest-gate.ts';
import type { EventLog } from '../../../ports/event-log.ts';
import { TributaryError } from '../../../ports/errors.ts';
import { CDC_TOPIC, Topics } from '../../../schemas/topics.ts';

/** A log whose offsets answer as told: `ends` per topic, `committed` per group, or an outage. */
function fakeLog(state: { cdcEnd: number; cleanCommitted: number; cleanedEnd: number; embedCommitted: number; mode: 'ok' | 'down' | 'hang' }): EventLog {
  const gate = async <T>(v: () => T): Promise<T> => {
    if (state.mode === 'down') throw new TributaryError('LOG_UNAVAILABLE', 'broker down');
    if (state.mode === 'hang') return new Promise<T>(() => {});
    return v();
  };
  return {
    kind: 'kafka',
    offsets: (topic: string) => gate(() => [{ topic, partition: 0, start: 0, end: topic === CDC_TOPIC ? state.cdcEnd : state.cleanedEnd, lastTimestamp: null }]),
    groupOffsets: (group?: string) => gate(() => (group === 'clean'
      ? [{ group, topic: CDC_TOPIC, partition: 0, committed: state.cleanCommitted, committedAt: 0 }]
      : [{ group: group!, topic: Topics.cleaned, partition: 0, committed: state.embedCommitted, committedAt: 0 }])),
  } as unknown as EventLog;
}

describe('IngestGate', () => {
  it('refuses past the limit with a Retry-After from the drain rate, and admits again once drained', async () => {
    let now = 0;
    const state = { cdcEnd: 150, cleanCommitted: 0, cleanedEnd: 0, embedCommitted: 0, mode: 'ok' as const };
    const g = new IngestGate({ log: fakeLog(state), maxBacklog: 100, refreshMs: 100, now: () => now });
    await expect(g.admit(1)).rejects.toMatchObject({ code: 'INGEST_BACKLOG_FULL', retryAfterMs: 5_000 });
    // 100 consumed in one second: 100 events/s; 130 waiting, 80 over half the limit → 0.8 s, at least 1 s
    now = 1_000;
    Object.assign(state, { cdcEnd: 180, cleanCommitted: 100, cleanedEnd: 100, embedCommitted: 50 });
    await expect(g.admit(1)).rejects.toMatchObject({ retryAfterMs: 1_000 });
    now = 2_000;
    Object.assign(state, { cleanCommitted: 180, cleanedEnd: 180, embedCommitted: 150 });
    await expect(g.admit(10)).resolves.toBeUndefined();
  });

  it('a log that is down or does not answer never fails or holds a write: the last reading stands, or the write goes on', async () => {
    const state = { cdcEnd: 0, cleanCommitted: 0, cleanedEnd: 0, embedCommitted: 0, mode: 'down' as 'ok' | 'down' | 'hang' };
    const g = new IngestGate({ log: fakeLog(state), maxBacklog: 100, refreshMs: 0, readTimeoutMs: 50 });
    await expect(g.admit(5)).resolves.toBeUndefined();
    state.mode = 'hang';
    const t0 = performance.now();
    await expect(g.admit(5)).resolves.toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(1_000);
  });
});
