import { describe, expect, it } from 'vitest';
import { buildEnvelope, parseChangeRecord, traceCarrierOf } from '../../../schemas/change-event.ts';
import { TRACE_CONTEXT_FIELD } from '../../../schemas/topics.ts';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const base = { _id: 'd1', category: 'article', author: 'Ada', content: 'Hello.' };

/**
 * The writer's trace context kept with a MongoDB document (TRACE_CONTEXT_FIELD) crosses the CDC hop
 * in the change event (the relay's envelope, or Debezium's full document, flattened or not): the
 * parser hands it out beside the document, and the document itself never holds it.
 */
describe('the trace context field of a change event\'s document', () => {
  it('is read from an envelope\'s `after` and left out of the document', () => {
    const env = buildEnvelope({ op: 'u', db: 'tributary', collection: 'documents', tsMs: 1_700_000_000_000, ord: 3, after: { ...base, [TRACE_CONTEXT_FIELD]: { traceparent: TP, tracestate: 'v=1' } } });
    const c = parseChangeRecord({ key: null, value: Buffer.from(JSON.stringify(env)), offset: 0 });
    expect(c.kind).toBe('upsert');
    if (c.kind !== 'upsert') return;
    expect(c.trace).toEqual({ traceparent: TP, tracestate: 'v=1' });
    expect(c.document).not.toHaveProperty(TRACE_CONTEXT_FIELD);
    expect(JSON.stringify(c.document)).not.toContain('traceparent');
  });

  it('is read from an ExtractNewDocumentState-flattened document too', () => {
    const flat = { ...base, [TRACE_CONTEXT_FIELD]: { traceparent: TP }, __op: 'c', __source_ts_ms: 1_700_000_000_000 };
    const c = parseChangeRecord({ key: 'd1', value: Buffer.from(JSON.stringify(flat)), offset: 0 });
    expect(c.kind === 'upsert' && c.trace).toEqual({ traceparent: TP });
    expect(c.kind === 'upsert' && c.document).not.toHaveProperty(TRACE_CONTEXT_FIELD);
  });

  it('is absent when the document has none, or something else under the name', () => {
    const env = buildEnvelope({ op: 'c', db: 'tributary', collection: 'documents', tsMs: 1_700_000_000_000, ord: 1, after: base });
    const c = parseChangeRecord({ key: null, value: Buffer.from(JSON.stringify(env)), offset: 0 });
    expect(c).not.toHaveProperty('trace');
    expect(traceCarrierOf('00-abc')).toBeNull();
    expect(traceCarrierOf({ traceparent: 7 })).toBeNull();
    expect(traceCarrierOf({ traceparent: TP, tracestate: 3 })).toEqual({ traceparent: TP });
    expect(traceCarrierOf(null)).toBeNull();
  });
});
