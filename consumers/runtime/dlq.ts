import type { ErrorCode } from '../../ports/errors.ts';
import type { LogRecord, ProducerRecord } from '../../ports/event-log.ts';
import { DlqHeaders } from '../../schemas/topics.ts';

export interface DlqEntryInfo {
  stage: string;
  code: ErrorCode;
  message: string;
  attempts: number;
  firstSeenMs: number;
  /**
   * Largest value the DLQ accepts. A bigger one (an oversize record) is cut to this size and marked
   * with the truncated-from header: the DLQ entry still names the source offset, where the whole
   * record stays, and a poison record never blocks its partition because its DLQ write fails.
   */
  maxValueBytes?: number;
}

/** A DLQ record keeps the original key, value bytes and headers, plus why and where it failed. */
export function toDlqRecord(rec: LogRecord, info: DlqEntryInfo): ProducerRecord {
  const size = rec.value?.byteLength ?? 0;
  const cut = info.maxValueBytes !== undefined && rec.value !== null && size > info.maxValueBytes;
  return {
    key: rec.key,
    value: cut ? rec.value!.subarray(0, info.maxValueBytes) : rec.value,
    headers: {
      ...rec.headers,
      [DlqHeaders.stage]: info.stage,
      [DlqHeaders.errorCode]: info.code,
      [DlqHeaders.errorMessage]: info.message.slice(0, 2000),
      [DlqHeaders.sourceTopic]: rec.topic,
      [DlqHeaders.sourcePartition]: String(rec.partition),
      [DlqHeaders.sourceOffset]: String(rec.offset),
      [DlqHeaders.attempts]: String(info.attempts),
      [DlqHeaders.firstSeen]: String(info.firstSeenMs),
      ...(cut ? { [DlqHeaders.valueTruncatedFrom]: String(size) } : {}),
    },
    timestamp: Date.now(),
  };
}

export interface DlqEntry {
  offset: number;
  partition: number;
  stage: string;
  code: string;
  message: string;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: number;
  attempts: number;
  firstSeenMs: number;
  key: string | null;
  valuePreview: string | null;
  valueBytes: number;
}

export function describeDlqRecord(rec: LogRecord): DlqEntry {
  const h = rec.headers;
  const preview = rec.value ? Buffer.from(rec.value.subarray(0, 300)).toString('utf8') : null;
  return {
    offset: rec.offset,
    partition: rec.partition,
    stage: h[DlqHeaders.stage] ?? 'unknown',
    code: h[DlqHeaders.errorCode] ?? 'INTERNAL',
    message: h[DlqHeaders.errorMessage] ?? '',
    sourceTopic: h[DlqHeaders.sourceTopic] ?? '',
    sourcePartition: Number(h[DlqHeaders.sourcePartition] ?? -1),
    sourceOffset: Number(h[DlqHeaders.sourceOffset] ?? -1),
    attempts: Number(h[DlqHeaders.attempts] ?? 0),
    firstSeenMs: Number(h[DlqHeaders.firstSeen] ?? rec.timestamp),
    key: rec.key,
    valuePreview: preview,
    valueBytes: rec.value?.byteLength ?? 0,
  };
}

/** Strips the DLQ headers so a replayed record looks like the original. */
export function stripDlqHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const dlq = new Set<string>(Object.values(DlqHeaders));
  for (const [k, v] of Object.entries(headers)) if (!dlq.has(k)) out[k] = v;
  return out;
}
