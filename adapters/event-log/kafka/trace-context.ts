import { TRACEPARENT_HEADER } from '../../../schemas/topics.ts';
import { isValidTraceparent, newRootTraceHeaders, traceHeaders } from '../../../observability/tracing.ts';

/**
 * W3C trace context (https://www.w3.org/TR/trace-context/) on Kafka records, written with
 * OpenTelemetry's W3C propagator (observability/tracing.ts): a record that carries a `traceparent`
 * keeps it untouched (the stages and the relay put their span's context there); one without gets
 * the producer's active context, or else a new root context, so every record on the log can be
 * followed from its producer to the index.
 */
export { isValidTraceparent };

/** A `traceparent` naming a new root trace. */
export function newTraceparent(): string {
  return newRootTraceHeaders()[TRACEPARENT_HEADER]!;
}

/** The record's headers with a trace context (kept as given when present, else the active one, else a new root). */
export function withTraceContext(headers: Record<string, string> | undefined): Record<string, string> {
  const h = headers ?? {};
  if (h[TRACEPARENT_HEADER] !== undefined) return h;
  const active = traceHeaders();
  return { ...h, ...(active[TRACEPARENT_HEADER] ? active : newRootTraceHeaders()) };
}
