import { z } from 'zod';
import { describeIssues, issueDetails } from '../common/zod-issues.ts';
import { TributaryError } from '../ports/errors.ts';
import { rawDocumentSchema, type RawDocument } from './content.ts';
import { TRACE_CONTEXT_FIELD, TRACEPARENT_HEADER, TRACESTATE_HEADER } from './topics.ts';
import { packVersion } from './version.ts';

/**
 * Change events use the Debezium MongoDB envelope: op c|u|d|r, `after` as extended JSON (a string),
 * `source.ts_ms` and `source.ord`. The ExtractNewDocumentState-flattened form (the document itself,
 * with `__op`, `__source_ts_ms`, `__deleted`) and tombstones are accepted too. The built-in relay and
 * the embedded store emit the same envelope, so this is the one parser.
 */

export const debeziumSourceSchema = z.looseObject({
  connector: z.string().optional(),
  name: z.string().optional(),
  ts_ms: z.number().int().nonnegative(),
  snapshot: z.union([z.string(), z.boolean()]).optional(),
  db: z.string().optional(),
  collection: z.string().optional(),
  ord: z.number().int().nonnegative().optional(),
});

export const debeziumEnvelopeSchema = z.looseObject({
  op: z.enum(['c', 'u', 'd', 'r']),
  before: z.string().nullish(),
  after: z.string().nullish(),
  source: debeziumSourceSchema,
  ts_ms: z.number().int().nonnegative().optional(),
});
export type DebeziumEnvelope = z.infer<typeof debeziumEnvelopeSchema>;

export type ChangeOp = 'c' | 'u' | 'd' | 'r';

export type ParsedChange =
  | {
    kind: 'upsert'; op: 'c' | 'u' | 'r'; docId: string; version: number; sourceTsMs: number; document: RawDocument;
    /** The writer's trace context kept with the document (TRACE_CONTEXT_FIELD), as W3C headers, when it has one. */
    trace?: Record<string, string>;
  }
  | { kind: 'delete'; op: 'd'; docId: string; version: number | null; sourceTsMs: number }
  /** A Debezium tombstone that follows a delete event: nothing to do. */
  | { kind: 'skip'; reason: string; docId: string | null };

/** Converts MongoDB extended JSON (canonical or relaxed) into plain JSON values. */
export function fromExtendedJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromExtendedJson);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const k = keys[0]!;
    const inner = o[k];
    switch (k) {
      case '$oid': return String(inner);
      case '$numberLong': case '$numberInt': case '$numberDouble': return Number(inner);
      case '$numberDecimal': return String(inner);
      case '$date': {
        const d = fromExtendedJson(inner);
        const ms = typeof d === 'number' ? d : typeof d === 'string' ? Date.parse(d) : NaN;
        return Number.isFinite(ms) ? new Date(ms).toISOString() : d;
      }
      case '$uuid': return String(inner);
      default: break;
    }
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = fromExtendedJson(o[k]);
  return out;
}

function malformed(message: string, details?: unknown): TributaryError {
  return new TributaryError('MALFORMED_EVENT', message, { details });
}

function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw malformed(`${what} is not valid JSON: ${(e as Error).message}. Producers must write JSON change events (Debezium JsonConverter).`);
  }
}

/** The document id from a record key: a plain string, `{"id": "<ext json>"}`, or `{"_id": ...}`. */
export function docIdFromKey(key: string | null): string | null {
  if (key === null || key === '') return null;
  const trimmed = key.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('"')) return key;
  let parsed: unknown;
  try { parsed = JSON.parse(trimmed); } catch { return key; }
  if (typeof parsed === 'string') return idToString(tryParseJson(parsed));
  if (parsed && typeof parsed === 'object') {
    const o = (parsed as { payload?: unknown }).payload && typeof (parsed as { payload?: unknown }).payload === 'object'
      ? (parsed as { payload: Record<string, unknown> }).payload
      : (parsed as Record<string, unknown>);
    const id = o['id'] ?? o['_id'];
    if (typeof id === 'string') {
      const parsed = tryParseJson(id);
      // a flattened key holds the plain value: keep "1e3" or an all-digit hex id as written
      if (typeof parsed === 'number' ? String(parsed) !== id : typeof parsed === 'boolean' || parsed === null) return id;
      return idToString(parsed);
    }
    if (id !== undefined) return idToString(id);
  }
  return null;
}

function tryParseJson(s: string): unknown {
  try { return JSON.parse(s); } catch { return s; }
}

function idToString(id: unknown): string | null {
  const plain = fromExtendedJson(id);
  if (typeof plain === 'string' && plain.length > 0) return plain;
  if (typeof plain === 'number') return String(plain);
  return null;
}

function toRawDocument(doc: unknown, docId: string): RawDocument {
  const plain = fromExtendedJson(doc) as Record<string, unknown>;
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) throw malformed('document is not a JSON object');
  const candidate = { ...plain, _id: idToString(plain['_id']) ?? docId };
  for (const k of Object.keys(candidate)) if (k.startsWith('__')) delete (candidate as Record<string, unknown>)[k];
  const parsed = rawDocumentSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new TributaryError('SCHEMA_VIOLATION', `document ${docId} does not match the raw document schema: ${describeIssues(parsed.error.issues)}`, {
      details: issueDetails(parsed.error.issues),
    });
  }
  return parsed.data;
}

/**
 * A trace context kept with a document (TRACE_CONTEXT_FIELD) as W3C headers, or null when `v` is not
 * one (a string `traceparent`, an optional string `tracestate`; the propagator validates the values).
 */
export function traceCarrierOf(v: unknown): Record<string, string> | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  const tp = o[TRACEPARENT_HEADER];
  if (typeof tp !== 'string' || tp.length === 0 || tp.length > 512) return null;
  const ts = o[TRACESTATE_HEADER];
  return typeof ts === 'string' && ts.length > 0 && ts.length <= 512 ? { [TRACEPARENT_HEADER]: tp, [TRACESTATE_HEADER]: ts } : { [TRACEPARENT_HEADER]: tp };
}

/** The trace context field of a change event's document, if any (the raw-document schema drops the field itself). */
function traceOf(doc: unknown): { trace?: Record<string, string> } {
  const trace = doc !== null && typeof doc === 'object' ? traceCarrierOf((doc as Record<string, unknown>)[TRACE_CONTEXT_FIELD]) : null;
  return trace ? { trace } : {};
}

export interface RecordLike {
  key: string | null;
  value: Uint8Array | null;
  offset: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses one CDC record. Throws TributaryError (MALFORMED_EVENT / SCHEMA_VIOLATION) on bad input. */
export function parseChangeRecord(rec: RecordLike): ParsedChange {
  const keyId = docIdFromKey(rec.key);
  if (rec.value === null || rec.value.byteLength === 0) {
    if (keyId === null) throw malformed('tombstone without a usable key: cannot tell which document was deleted');
    return { kind: 'skip', reason: 'tombstone', docId: keyId };
  }
  let text: string;
  try { text = utf8.decode(rec.value); } catch {
    throw malformed('record value is not valid UTF-8');
  }
  let value = parseJsonText(text, 'record value');
  if (value && typeof value === 'object' && 'payload' in value && 'schema' in value) value = (value as { payload: unknown }).payload;
  if (value === null) {
    if (keyId === null) throw malformed('tombstone without a usable key');
    return { kind: 'skip', reason: 'tombstone', docId: keyId };
  }
  if (typeof value !== 'object' || Array.isArray(value)) throw malformed('record value must be a JSON object (a Debezium envelope or a flattened document)');
  const obj = value as Record<string, unknown>;

  if ('op' in obj && 'source' in obj) {
    const env = debeziumEnvelopeSchema.safeParse(obj);
    if (!env.success) throw malformed(`not a valid Debezium MongoDB envelope: ${describeIssues(env.error.issues)}`);
    const e = env.data;
    const tsMs = e.source.ts_ms;
    const version = packVersion(tsMs, e.source.ord ?? fallbackOrd(tsMs, rec.offset));
    if (e.op === 'd') {
      const beforeId = e.before ? idToString((parseJsonText(e.before, 'before') as Record<string, unknown>)?.['_id']) : null;
      const docId = keyId ?? beforeId;
      if (!docId) throw malformed('delete event without a document id in its key or `before`');
      return { kind: 'delete', op: 'd', docId, version, sourceTsMs: tsMs };
    }
    if (e.after === null || e.after === undefined) {
      throw malformed(`op "${e.op}" event has no \`after\` document; configure Debezium capture.mode=change_streams_update_full(_with_pre_image)`);
    }
    const after = parseJsonText(e.after, 'after');
    const docId = idToString((after as Record<string, unknown>)?.['_id']) ?? keyId;
    if (!docId) throw malformed('change event document has no _id');
    return { kind: 'upsert', op: e.op, docId, version, sourceTsMs: tsMs, document: toRawDocument(after, docId), ...traceOf(after) };
  }

  // ExtractNewDocumentState-flattened form
  const docId = idToString(obj['_id']) ?? keyId;
  if (!docId) throw malformed('flattened change event has no _id and no key; expected a Debezium envelope {op, after, source} or a document with _id');
  const tsRaw = obj['__source_ts_ms'] ?? obj['__ts_ms'];
  const tsMs = typeof tsRaw === 'number' ? tsRaw : Date.now();
  const ordRaw = obj['__source_ord'];
  const version = packVersion(tsMs, typeof ordRaw === 'number' ? ordRaw : fallbackOrd(tsMs, rec.offset));
  const deleted = obj['__deleted'] === true || obj['__deleted'] === 'true' || obj['__op'] === 'd';
  if (deleted) return { kind: 'delete', op: 'd', docId, version, sourceTsMs: tsMs };
  const op = obj['__op'] === 'c' || obj['__op'] === 'u' || obj['__op'] === 'r' ? obj['__op'] : 'u';
  // ExtractNewDocumentState writes BSON dates as Kafka Timestamps: epoch ms with JsonConverter schemas off
  const dated: Record<string, unknown> = { ...obj };
  for (const k of ['createdAt', 'updatedAt']) if (typeof dated[k] === 'number') dated[k] = new Date(dated[k] as number).toISOString();
  return { kind: 'upsert', op, docId, version, sourceTsMs: tsMs, document: toRawDocument(dated, docId), ...traceOf(obj) };
}

/** Without source.ord, order within one second by the millisecond and the record offset. */
function fallbackOrd(tsMs: number, offset: number): number {
  return (tsMs % 1000) * 2048 + (offset % 2048);
}

/** Builds the Debezium-shaped envelope the embedded store and the relay emit. */
export function buildEnvelope(args: {
  op: ChangeOp; db: string; collection: string; tsMs: number; ord: number;
  after: Record<string, unknown> | null; before?: Record<string, unknown> | null; snapshot?: boolean; connectorName?: string;
}): DebeziumEnvelope {
  return {
    op: args.op,
    before: args.before ? JSON.stringify(args.before) : null,
    after: args.after ? JSON.stringify(args.after) : null,
    source: {
      version: 'tributary-1',
      connector: 'mongodb',
      name: args.connectorName ?? 'tributary',
      ts_ms: args.tsMs,
      snapshot: args.snapshot ? 'true' : 'false',
      db: args.db,
      rs: 'embedded',
      collection: args.collection,
      ord: args.ord,
    },
    ts_ms: Date.now(),
  };
}

/** Record key in Debezium's MongoDB form: {"id": "<extended JSON of _id>"} */
export function buildKey(docId: string): string {
  return JSON.stringify({ id: JSON.stringify(docId) });
}
