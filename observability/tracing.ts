import { randomBytes } from 'node:crypto';
import {
  context, isSpanContextValid, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags,
  type Attributes, type Context, type Link, type Span, type SpanContext, type TextMapGetter, type TextMapSetter, type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { findTributaryError, TributaryError } from '../ports/errors.ts';

/**
 * OpenTelemetry traces across the pipeline (span names: `SpanNames` in observability/metrics.ts).
 *
 * - `startTracing()` once per process (the CLI does it for `dev`, `consume` and `cdc`): with
 *   OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) the Node SDK exports spans
 *   over OTLP (OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf by default, http/json or grpc); without, no tracer provider is registered and every span is the API's no-op.
 *   Either way an AsyncLocalStorage context manager and the W3C propagator are registered, so trace
 *   context keeps flowing: a request's `traceparent` reaches the change event and the upstream.
 * - Trace context rides on records as W3C `traceparent`/`tracestate` headers, read and written with
 *   OTel's W3C propagator over the record's headers (`traceHeaders`, `extractTraceContext`). A
 *   MongoDB document keeps its writer's context in a reserved field (`documentTraceCarrier`), so the
 *   change stream relay and Debezium carry it across the CDC hop.
 * - A record's hop (the relay, the clean stage) is a span under the record's own context, whose
 *   context goes on the record it writes (`startRecordSpan`). Batched work (a stage batch, a relay
 *   append) is one span whose parent is the batch's first traced record and which links the others
 *   (`withBatchSpan`): one publish is one trace from the HTTP request to the index write.
 * - When tracing is off, a span started under a context carries that context on (the no-op span
 *   keeps its parent's ids), so records forward the producer's `traceparent` unchanged.
 */

const TRACER_NAME = 'tributary';
/** Links a batch span keeps (the SDK's default limit is 128). */
const MAX_LINKS = 128;

/** W3C trace context, the format of record headers and of the document field (a contract of the topics, whatever the process's SDK propagates). */
const w3c = new W3CTraceContextPropagator();

/** Reads and writes a record's headers (or an HTTP request's: a repeated header counts once). */
const headerGetter: TextMapGetter<Record<string, string | string[] | undefined>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const v = carrier[key];
    return Array.isArray(v) ? v[0] : v;
  },
};
const headerSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => { carrier[key] = value; },
};

let tracer: Tracer = trace.getTracer(TRACER_NAME);
/** A tracer provider is registered: spans are recorded (links are worth computing). */
let recording = false;
let propagationReady = false;

/** Span attribute names used across the pipeline (semantic-convention names where one exists). */
export const SpanAttributes = {
  stage: 'tributary.stage',
  documentId: 'tributary.document.id',
  documents: 'tributary.documents',
  records: 'messaging.batch.message_count',
  topic: 'messaging.destination.name',
  partition: 'messaging.destination.partition.id',
  group: 'messaging.consumer.group.name',
  offset: 'messaging.kafka.offset',
  linkedTraces: 'tributary.batch.linked_traces',
  failures: 'tributary.batch.failures',
  errorCode: 'tributary.error.code',
  store: 'tributary.store.kind',
  feed: 'tributary.change_feed.kind',
  index: 'tributary.index.kind',
  indexOperations: 'tributary.index.operations',
  points: 'tributary.index.points',
  embedder: 'tributary.embedder.id',
  texts: 'tributary.embedder.texts',
  model: 'gen_ai.request.model',
  endpoint: 'tributary.inference.endpoint',
  upstream: 'tributary.inference.upstream',
  attempts: 'tributary.inference.attempts',
  outcome: 'tributary.outcome',
  ragTraceId: 'tributary.rag.trace_id',
  ragStep: 'tributary.rag.step_status',
  method: 'http.request.method',
  route: 'http.route',
  path: 'url.path',
  statusCode: 'http.response.status_code',
} as const;

export { SpanKind };

export interface TracingOptions {
  /** service.name when OTEL_SERVICE_NAME is not set, e.g. "tributary-api". */
  serviceName: string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * Tests: export every span to this exporter (synchronously, e.g. the SDK's InMemorySpanExporter),
   * whatever the environment says.
   */
  exporter?: SpanExporter;
}

export interface Tracing {
  /** Where spans go, for the one start-up line: "off …", "OTLP …" or "test exporter". */
  readonly description: string;
  readonly enabled: boolean;
  /** Flushes what is buffered and stops exporting. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * The AsyncLocalStorage context manager and the W3C propagator, registered once (idempotent):
 * context flows through async calls, and `propagation` speaks W3C, with or without an SDK.
 */
export function ensureContextPropagation(): void {
  if (propagationReady) return;
  propagationReady = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(w3c);
}

const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;

/**
 * The OTLP protocol the environment asks for (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else
 * OTEL_EXPORTER_OTLP_PROTOCOL; the specification's default, http/protobuf, when neither is set). An
 * unknown value is refused, naming the variable: it is never silently replaced by another protocol.
 */
export function otlpTracesProtocol(env: NodeJS.ProcessEnv): (typeof OTLP_PROTOCOLS)[number] {
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const v = env[name]?.trim();
    if (!v) continue;
    if ((OTLP_PROTOCOLS as readonly string[]).includes(v)) return v as (typeof OTLP_PROTOCOLS)[number];
    throw new TributaryError('INVALID_CONFIG', `${name}: "${v}" is not an OTLP protocol; use ${OTLP_PROTOCOLS.join(', ')}`);
  }
  return 'http/protobuf';
}

/** The OTLP traces endpoint the environment names, or null (tracing off). */
export function otlpTracesEndpoint(env: NodeJS.ProcessEnv): string | null {
  const traces = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim();
  if (traces) return traces;
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim();
  return base ? `${base.replace(/\/+$/, '')}/v1/traces` : null;
}

/**
 * Starts tracing for this process (see the module comment). Call once, before the process builds
 * anything that traces; `shutdown()` on the way out flushes the spans still buffered.
 */
export async function startTracing(opts: TracingOptions): Promise<Tracing> {
  const env = opts.env ?? process.env;
  const serviceName = env['OTEL_SERVICE_NAME']?.trim() || opts.serviceName;
  if (opts.exporter) {
    const { TracerProvider, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace');
    const { resourceFromAttributes } = await import('@opentelemetry/resources');
    ensureContextPropagation();
    const provider = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': serviceName }), spanProcessors: [new SimpleSpanProcessor({ exporter: opts.exporter })] });
    return registerProvider(provider, 'test exporter', () => provider.shutdown());
  }
  const endpoint = otlpTracesEndpoint(env);
  const disabled = /^true$/i.test(env['OTEL_SDK_DISABLED']?.trim() ?? '');
  if (!endpoint || disabled) {
    ensureContextPropagation();
    return {
      description: disabled ? 'off (OTEL_SDK_DISABLED=true)' : 'off (set OTEL_EXPORTER_OTLP_ENDPOINT to export OpenTelemetry traces)',
      enabled: false,
      async shutdown() {},
    };
  }
  const protocol = otlpTracesProtocol(env);
  // loaded only when tracing is on: the SDK pulls in every exporter it knows
  const [{ NodeSDK }, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    protocol === 'grpc' ? import('@opentelemetry/exporter-trace-otlp-grpc') : protocol === 'http/json' ? import('@opentelemetry/exporter-trace-otlp-http') : import('@opentelemetry/exporter-trace-otlp-proto'),
  ]);
  const sdk = new NodeSDK({
    ...(env['OTEL_SERVICE_NAME']?.trim() ? {} : { serviceName }),
    traceExporter: new OTLPTraceExporter(),
    // traces only: this process's metrics are Prometheus (GET /metrics), its logs pino
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  propagationReady = true;
  return registerProvider(null, `OTLP (${protocol}) to ${endpoint} as service "${serviceName}"`, () => sdk.shutdown());
}

function registerProvider(provider: Parameters<typeof trace.setGlobalTracerProvider>[0] | null, description: string, stop: () => Promise<void>): Tracing {
  if (provider) trace.setGlobalTracerProvider(provider);
  tracer = trace.getTracer(TRACER_NAME);
  recording = true;
  let stopped = false;
  return {
    description,
    enabled: true,
    async shutdown() {
      if (stopped) return;
      stopped = true;
      try {
        await stop();
      } finally {
        trace.disable();
        tracer = trace.getTracer(TRACER_NAME);
        recording = false;
      }
    },
  };
}

/** This process's tracer (the no-op one while tracing is off). */
export function getTracer(): Tracer {
  return tracer;
}

/** Records `err` on the span as an exception event (and its code, when it is a Tributary error); the status is left alone. */
export function recordSpanException(span: Span, err: unknown): void {
  const te = findTributaryError(err);
  if (te) span.setAttribute(SpanAttributes.errorCode, te.code);
  span.recordException(err instanceof Error ? err : String(err));
}

/** Marks the span failed with `err` (status ERROR; the exception and its code recorded). */
export function recordSpanError(span: Span, err: unknown): void {
  recordSpanException(span, err);
  const te = findTributaryError(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: te ? `${te.code}: ${te.message}` : err instanceof Error ? err.message : String(err) });
}

export interface SpanOptions {
  kind?: SpanKind;
  /** The parent context (default: the active one). */
  parent?: Context;
  links?: Link[];
}

/**
 * Runs `fn` in a new active span: nested spans (and context injected into records and requests)
 * are its children. An exception is recorded on the span (status ERROR) and rethrown.
 */
export async function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T> | T, opts: SpanOptions = {}): Promise<T> {
  const parent = opts.parent ?? context.active();
  const span = tracer.startSpan(name, { attributes, ...(opts.kind !== undefined ? { kind: opts.kind } : {}), ...(opts.links ? { links: opts.links } : {}) }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), fn, undefined, span);
  } catch (e) {
    recordSpanError(span, e);
    throw e;
  } finally {
    span.end();
  }
}

/** The W3C trace context of `ctx` (default: the active one) as record headers; {} when there is none. */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const out: Record<string, string> = {};
  w3c.inject(ctx, out, headerSetter);
  return out;
}

/** The context `headers` carry (a record's, or an HTTP request's), on top of `base` (default: the root context). */
export function extractTraceContext(headers: Record<string, string | string[] | undefined> | undefined, base: Context = ROOT_CONTEXT): Context {
  return headers ? w3c.extract(base, headers, headerGetter) : base;
}

/** The span context `headers` carry, or null. */
export function spanContextOf(headers: Record<string, string | string[] | undefined> | undefined): SpanContext | null {
  if (!headers) return null;
  const sc = trace.getSpanContext(w3c.extract(ROOT_CONTEXT, headers, headerGetter));
  return sc && isSpanContextValid(sc) ? sc : null;
}

/**
 * The trace context a record continues: its headers', else `fallback`'s (e.g. the one kept with its
 * document, for a Debezium change event), else the active one.
 */
export function recordTraceContext(headers: Record<string, string> | undefined, fallback?: Record<string, string>): Context {
  const sc = spanContextOf(headers) ?? (fallback ? spanContextOf(fallback) : null);
  return sc ? trace.setSpanContext(ROOT_CONTEXT, sc) : context.active();
}

/** A `traceparent` value OTel's W3C propagator accepts. */
export function isValidTraceparent(v: string | undefined): boolean {
  return v !== undefined && spanContextOf({ traceparent: v }) !== null;
}

/** Headers naming a new root trace (a random trace and span id, sampled): for records written outside any trace. */
export function newRootTraceHeaders(): Record<string, string> {
  const b = randomBytes(24);
  const root = trace.setSpanContext(ROOT_CONTEXT, { traceId: b.subarray(0, 16).toString('hex'), spanId: b.subarray(16).toString('hex'), traceFlags: TraceFlags.SAMPLED });
  return traceHeaders(root);
}

/**
 * The trace context to keep with a stored document (MongoDB's reserved field, TRACE_CONTEXT_FIELD):
 * the active context as W3C headers, or null when there is none.
 */
export function documentTraceCarrier(ctx: Context = context.active()): Record<string, string> | null {
  const h = traceHeaders(ctx);
  return h['traceparent'] ? h : null;
}

/**
 * A record's hop as its own span, under `parent` (the record's context). `headers` is what the
 * record written by this hop carries: this span's context (or, when tracing is off, the parent's,
 * unchanged). End the span when the hop is done.
 */
export function startRecordSpan(name: string, parent: Context, attributes: Attributes, link?: SpanContext | null): { span: Span; headers: Record<string, string> } {
  const span = tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes, ...(link && recording ? { links: [{ context: link }] } : {}) }, parent);
  return { span, headers: traceHeaders(trace.setSpan(parent, span)) };
}

/**
 * Batched work over records of many traces as one span: its parent is the first record that
 * carries a trace context (so a lone publish stays one trace down to the index write), and it links
 * the others. `fn` runs with the span active.
 */
export async function withBatchSpan<T>(name: string, headers: ReadonlyArray<Record<string, string> | undefined>, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  let parent: Context = ROOT_CONTEXT;
  let links: Link[] | undefined;
  let first: SpanContext | null = null;
  let i = 0;
  for (; i < headers.length && !first; i++) first = spanContextOf(headers[i]);
  if (first) parent = trace.setSpanContext(ROOT_CONTEXT, first);
  // links are only worth their parsing when spans are recorded
  if (recording && first) {
    const seen = new Set<string>([first.spanId]);
    links = [];
    for (; i < headers.length && links.length < MAX_LINKS; i++) {
      const sc = spanContextOf(headers[i]);
      if (!sc || seen.has(sc.spanId)) continue;
      seen.add(sc.spanId);
      links.push({ context: sc });
    }
  }
  return withSpan(name, links && links.length > 0 ? { ...attributes, [SpanAttributes.linkedTraces]: links.length } : attributes, fn, { kind: SpanKind.CONSUMER, parent, ...(links && links.length > 0 ? { links } : {}) });
}

/** The active span's context (to link record spans to their batch), or null. */
export function activeSpanContext(): SpanContext | null {
  const sc = trace.getSpanContext(context.active());
  return sc && isSpanContextValid(sc) ? sc : null;
}
