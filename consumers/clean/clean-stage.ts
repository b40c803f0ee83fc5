import { TributaryError, findTributaryError } from '../../ports/errors.ts';
import type { EventLog, LogRecord, ProducerRecord } from '../../ports/event-log.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import { parseChangeRecord } from '../../schemas/change-event.ts';
import { DOC_VERSION_HEADER, SOURCE_TS_HEADER, Topics } from '../../schemas/topics.ts';
import { cleanDocument } from '../../streams/clean/index.ts';
import { recordFailure, type RecordFailure, type Stage } from '../runtime/stage-consumer.ts';

/**
 * clean: CDC change event → cleaned document on tributary.content.cleaned (key = document id;
 * a null value with the version header = deleted). Bad events are per-record failures (DLQ).
 */
export class CleanStage implements Stage {
  readonly name = 'clean';
  private readonly log: EventLog;
  private readonly outputTopic: string;
  private readonly codec: ValueCodec;

  /** `codec`: how cleaned documents are written (Schema Registry wire format or plain JSON, both validated). */
  constructor(opts: { log: EventLog; codec: ValueCodec; outputTopic?: string }) {
    this.log = opts.log;
    this.outputTopic = opts.outputTopic ?? Topics.cleaned;
    this.codec = opts.codec;
  }

  async process(records: LogRecord[]): Promise<RecordFailure[]> {
    const failures: RecordFailure[] = [];
    const out: ProducerRecord[] = [];
    for (const rec of records) {
      try {
        const change = parseChangeRecord(rec);
        const trace = rec.headers['traceparent'];
        const baseHeaders: Record<string, string> = trace ? { traceparent: trace } : {};
        if (change.kind === 'skip') continue;
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
        // a registry outage (or a schema not applied yet) is no fault of the record: retry the batch
        if (findTributaryError(err)?.code === 'SCHEMA_REGISTRY_UNAVAILABLE') throw err;
        failures.push(recordFailure(rec, err));
      }
    }
    // a failure to write the output is an infrastructure failure: thrown, the whole batch is retried
    if (out.length > 0) await this.log.append(this.outputTopic, out);
    return failures;
  }
}
