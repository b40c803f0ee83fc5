import type { Headers, LogRecord } from '../../../ports/event-log.ts';

/** Kafka records as kafkajs decodes them → the port's LogRecord (consumer batches and raw fetches alike). */

/** A record as kafkajs decodes it. */
export interface DecodedMessage {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | string | Array<Buffer | string> | undefined>;
}

const EMPTY_HEADERS: Headers = Object.freeze({}) as Headers;

/** A header value as kafkajs decodes it → string (the last one when a key repeats). */
export function headerString(v: Buffer | string | Array<Buffer | string> | undefined): string | undefined {
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[v.length - 1] : v;
  if (one === undefined) return undefined;
  return typeof one === 'string' ? one : one.toString('utf8');
}

export function toLogRecord(topic: string, partition: number, m: DecodedMessage): LogRecord {
  let headers: Headers = EMPTY_HEADERS;
  if (m.headers) {
    const entries = Object.entries(m.headers);
    if (entries.length > 0) {
      headers = {};
      for (const [k, v] of entries) {
        const one = headerString(v);
        if (one !== undefined) headers[k] = one;
      }
    }
  }
  return {
    topic,
    partition,
    offset: Number(m.offset),
    key: m.key === null ? null : m.key.toString('utf8'),
    value: m.value,
    headers,
    timestamp: Number(m.timestamp),
  };
}
