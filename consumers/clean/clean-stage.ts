import type { Span } from '@opentelemetry/api';
import { TributaryError } from '../../ports/errors.ts';
import type { EventLog, LogRecord, ProducerRecord } from '../../ports/event-log.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import { parseChangeRecord } from '../../schemas/change-event.ts';
import { DOC_VERSION_HEADER, SOURCE_TS_HEADER, Topics } from '../../schemas/topics.ts';
import { cleanDocument } from '../../streams/clean/index.ts';
import { recordFailure, type RecordFailure, type Stage } from '../runtime/stage-consumer.ts';
import { SpanNames, type Metrics } from '../../observability/metrics.ts';
import { activeSpanContext, recordSpanError, recordTraceContext, SpanAttributes, startRecordSpan } from '../../observability/tracing.ts';

/**
 * clean: CDC change event → cleaned document on tributary.content.cleaned (key = document id;
 * a null value with the version header = deleted). Bad events are per-record failures (DLQ); a
 * registry or log outage concerns the batch (the runtime keeps it: consumers/runtime/stage-consumer.ts).
 * Each event is a span (tributary.clean.document) under the trace context it carries (its headers,
 * else the one Debezium copied with the document), and its cleaned record carries that span's context.
 */
export class CleanStage implements Stage {
  readonly name = 'clean';
  private readonly log: EventLog;
  private readonly outputTopic: string;
  private readonly codec: ValueCodec;
  private readonly metrics: Metrics | undefined;

  /** `codec`: how cleaned documents are written (Schema Registry wire format or plain JSON, both validated); `metrics`: freshness at this stage. */
  constructor(opts: { log: EventLog; codec: ValueCodec; outputTopic?: string; metrics?: Metrics }) {
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.outputTopic = opts.outputTopic ?? Topics.cleaned;
    this.codec = opts.codec;
  }

  async process(records: LogRecord[]): Promise<RecordFailure[]> {
    const failures: RecordFailure[] = [];
    const out: ProducerRecord[] = [];
    const batch = activeSpanContext();
    for (const rec of records) {
      let span: Span | null = null;
      try {
        const change = parseChangeRecord(rec);
        if (change.kind === 'skip') continue;
        const hop = startRecordSpan(SpanNames.cleanDocument, recordTraceContext(rec.headers, change.kind === 'upsert' ? change.trace : undefined), { [SpanAttributes.documentId]: change.docId }, batch);
        span = hop.span;
        const baseHeaders = hop.headers;
        if (change.kind === 'delete') {
          out.push({
            key: change.docId, value: null,
            headers: { ...baseHeaders, [SOURCE_TS_HEADER]: String(change.sourceTsMs), ...(change.version === null ? {} : { [DOC_VERSION_HEADER]: String(change.version) }) },
          });
          continue;
        }
        const cleaned = cleanDocument(change.document, { version: change.version, sourceTsMs: change.sourceTsMs, nowMs: Date.now() });
        const value = await this.codec.encode(Topics.cleaned, cleaned);
        if (value.byteLength > this.log.capabilities.maxRecordBytes) {
          throw new TributaryError('OVERSIZE_RECORD', `cleaned document ${change.docId} is ${value.byteLength} bytes, over the ${this.log.capabilities.maxRecordBytes}-byte record limit`);
        }
        out.push({ key: change.docId, value, headers: { ...baseHeaders, [DOC_VERSION_HEADER]: String(change.version), [SOURCE_TS_HEADER]: String(change.sourceTsMs) } });
      } catch (err) {
        if (span) recordSpanError(span, err);
        failures.push(recordFailure(rec, err));
      } finally {
        span?.end();
      }
    }
    // a failure to write the output is thrown: the runtime decides by its scope
    if (out.length > 0) {
      await this.log.append(this.outputTopic, out);
      const now = Date.now();
      for (const r of out) if (r.value !== null) this.metrics?.stageFreshnessSeconds.observe({ stage: 'cleaned' }, Math.max(0, now - Number(r.headers?.[SOURCE_TS_HEADER])) / 1000);
    }
    return failures;
  }
}
