import { randomBytes } from 'node:crypto';
import { TRACEPARENT_HEADER } from '../../../schemas/topics.ts';

/**
 * W3C trace context (https://www.w3.org/TR/trace-context/) on Kafka records: a record that
 * carries a `traceparent` keeps it untouched (stages copy it from input to output; headers are the
 * caller's); one without gets a new root context, so every record on the log can be followed from
 * its producer to the index.
 */
const TRACEPARENT = /^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

export function isValidTraceparent(v: string | undefined): boolean {
  return v !== undefined && TRACEPARENT.test(v) && !v.startsWith('ff');
}

export function newTraceparent(): string {
  const b = randomBytes(24);
  return `00-${b.subarray(0, 16).toString('hex')}-${b.subarray(16).toString('hex')}-01`;
}

/** The record's headers with a traceparent (kept as given when present, else a new root context). */
export function withTraceContext(headers: Record<string, string> | undefined): Record<string, string> {
  const h = headers ?? {};
  if (h[TRACEPARENT_HEADER] !== undefined) return h;
  return { ...h, [TRACEPARENT_HEADER]: newTraceparent() };
}
