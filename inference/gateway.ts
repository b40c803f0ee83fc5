import type { Readable } from 'node:stream';
import { context, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { TributaryError, findTributaryError } from '../ports/errors.ts';
import { leastOutstanding, pickWithAffinity } from './balancer.ts';
import type { CircuitBreakerOptions } from './circuit-breaker.ts';
import type { ExchangeSummary, InferenceEvent, InferenceObserver } from './events.ts';
import { ProxyExchange } from './exchange.ts';
import { Upstream, type UpstreamBase, type UpstreamTimeouts } from './upstream.ts';
import type { UpstreamConfig } from './upstream-config.ts';
import { classifyTransportError, errorForKind, isRetryableBeforeFirstByte, isUpstreamFault, type FailureKind } from './upstream-errors.ts';
import { SpanNames } from '../observability/metrics.ts';
import { getTracer, recordSpanError, SpanAttributes, SpanKind, traceHeaders } from '../observability/tracing.ts';

export const INFERENCE_ENDPOINTS = ['chat/completions', 'completions', 'embeddings'] as const;
export type InferenceEndpoint = (typeof INFERENCE_ENDPOINTS)[number];

export interface InferenceGatewayOptions {
  upstreams: readonly UpstreamConfig[];
  /** In-process upstreams (a local model): routed, capped, queued, ejected and measured like remote ones. The gateway closes them. */
  localUpstreams?: readonly UpstreamBase[];
  timeouts: UpstreamTimeouts;
  /** Attempts per request, all before the first byte reaches the client (1 = no retry). */
  maxAttempts: number;
  breaker: CircuitBreakerOptions;
  /** Active health check period; 0 turns active checks off (passive ejection still works). */
  healthIntervalMs: number;
  now?: () => number;
}

export interface ProxyRequest {
  endpoint: InferenceEndpoint;
  model: string;
  /** The client's body, byte for byte: it is sent on unchanged. */
  body: Buffer;
  stream: boolean;
  /** A session key: requests with the same key prefer the same upstream. */
  affinityKey?: string | undefined;
  requestId?: string | undefined;
  /** Extra headers for the upstream. Authorization is always the upstream's own; the trace context is the gateway's span. */
  headers?: Record<string, string>;
  /** Aborts queueing and the upstream request (client disconnect). */
  signal: AbortSignal;
}

/** The models list entry (GET /v1/models). */
export interface ModelEntry { id: string; object: 'model'; created: number; owned_by: string }

/**
 * The proxy core: routes a request by model to an upstream (least outstanding requests, or session
 * affinity), waits for a slot, sends it, and fails over to another upstream while nothing has
 * reached the client. Passive ejection (circuit breakers) and active health checks keep failing
 * upstreams out of rotation. No HTTP server here: the API pipes the returned exchange.
 * Each request is a span (tributary.inference.request, a child of the caller's active span) from
 * the first attempt to the last byte; every attempt sends the span's W3C trace context upstream.
 */
export class InferenceGateway {
  private readonly o: InferenceGatewayOptions;
  private readonly upstreams: UpstreamBase[];
  private readonly byModel = new Map<string, UpstreamBase[]>();
  private readonly observers = new Set<InferenceObserver>();
  private readonly now: () => number;
  private rotation = 0;
  private healthTimer: NodeJS.Timeout | null = null;
  private readonly checking = new Set<UpstreamBase>();
  private closed = false;

  constructor(options: InferenceGatewayOptions) {
    this.o = options;
    this.now = options.now ?? (() => performance.now());
    this.upstreams = [...options.upstreams.map((u) => new Upstream(u, options.timeouts, options.breaker)), ...(options.localUpstreams ?? [])];
    for (const u of this.upstreams) {
      for (const m of u.models) {
        const list = this.byModel.get(m) ?? [];
        list.push(u);
        this.byModel.set(m, list);
      }
    }
  }

  /** Every model some upstream serves, sorted. */
  get models(): string[] {
    return [...this.byModel.keys()].sort();
  }

  modelList(): ModelEntry[] {
    return this.models.map((id) => ({ id, object: 'model' as const, created: 0, owned_by: 'tributary' }));
  }

  hasModel(model: string): boolean {
    return this.byModel.has(model);
  }

  /** Per upstream: state, in flight, queued (for ops and tests). */
  status(): Array<{ name: string; state: string; inFlight: number; queued: number; models: string[] }> {
    const now = this.now();
    return this.upstreams.map((u) => ({ name: u.name, state: u.breaker.state(now), inFlight: u.limiter.inFlight, queued: u.limiter.queued, models: [...u.models] }));
  }

  observe(fn: InferenceObserver): () => void {
    this.observers.add(fn);
    return () => { this.observers.delete(fn); };
  }

  /** Starts active health checks (idempotent). The timer does not keep the process alive. */
  start(): void {
    if (this.healthTimer || this.closed || this.o.healthIntervalMs <= 0) return;
    this.healthTimer = setInterval(() => { void this.checkAll(); }, this.o.healthIntervalMs);
    this.healthTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    const err = new TributaryError('SHUTTING_DOWN', 'the inference gateway is closing');
    for (const u of this.upstreams) u.limiter.rejectAll(err);
    await Promise.all(this.upstreams.map((u) => u.close()));
  }

  /**
   * Sends the request and resolves once an upstream has answered with its first body byte (or an
   * error status that is passed on). Rejects with UNKNOWN_MODEL, INFERENCE_OVERLOADED (429),
   * INFERENCE_QUEUE_TIMEOUT / INFERENCE_UNAVAILABLE (503), TIMEOUT (504) or the abort reason.
   */
  async send(req: ProxyRequest): Promise<ProxyExchange> {
    const parent = context.active();
    const span = getTracer().startSpan(SpanNames.inferenceRequest, {
      kind: SpanKind.CLIENT,
      attributes: { [SpanAttributes.model]: req.model, [SpanAttributes.endpoint]: req.endpoint, 'tributary.inference.stream': req.stream },
    }, parent);
    try {
      // the exchange ends the span with the last byte
      return await this.dispatch(req, span, trace.setSpan(parent, span));
    } catch (e) {
      recordSpanError(span, e);
      span.end();
      throw e;
    }
  }

  private async dispatch(req: ProxyRequest, span: Span, traced: Context): Promise<ProxyExchange> {
    const startedAt = this.now();
    const all = this.byModel.get(req.model);
    if (!all) {
      const known = this.models;
      const err = new TributaryError('UNKNOWN_MODEL', `model "${req.model}" is not served here; known models: ${known.length ? known.join(', ') : '(none configured: set TRIBUTARY_INFERENCE_UPSTREAMS)'}`, { details: { known } });
      this.emit({ type: 'rejected', model: req.model, upstream: null, code: err.code, message: err.message });
      throw err;
    }
    if (this.closed) throw new TributaryError('SHUTTING_DOWN', 'the inference gateway is closing');
    const tried = new Set<UpstreamBase>();
    let queueMs = 0;
    let last: { kind: FailureKind; detail: string } | null = null;
    for (let attempt = 1; attempt <= this.o.maxAttempts; attempt++) {
      if (req.signal.aborted) throw req.signal.reason;
      let u: UpstreamBase;
      try {
        u = this.pick(all, req.affinityKey, tried);
      } catch (e) {
        // nothing left to try: report the last real failure if there was one
        if (last) throw errorForKind(last.kind, last.detail, attempt - 1);
        const te = findTributaryError(e)!;
        this.emit({ type: 'rejected', model: req.model, upstream: null, code: te.code, message: te.message });
        throw e;
      }
      tried.add(u);
      // in half-open this takes the probe slot at once, so concurrent requests go elsewhere
      const probe = u.breaker.onDispatch(this.now());
      const waitStart = this.now();
      try {
        await u.limiter.acquire(req.signal);
      } catch (e) {
        if (probe) u.breaker.onProbeCancelled();
        queueMs += this.now() - waitStart;
        if (req.signal.aborted) throw req.signal.reason;
        const te = findTributaryError(e);
        if (te?.code === 'INFERENCE_UNAVAILABLE') { // ejected while we waited: try another
          last = { kind: 'ejected', detail: te.message };
          this.emit({ type: 'attempt_failed', upstream: u.name, model: req.model, kind: 'ejected', detail: te.message, retrying: attempt < this.o.maxAttempts });
          continue;
        }
        this.emit({ type: 'rejected', model: req.model, upstream: u.name, code: te?.code ?? 'INTERNAL', message: (e as Error).message });
        throw e;
      }
      const waited = this.now() - waitStart;
      queueMs += waited;
      this.emit({ type: 'dispatched', upstream: u.name, model: req.model, queueMs: waited, attempt });

      const result = await this.attempt(u, req, traced);
      if (result.ok) {
        const { statusCode, headers, body, firstChunk, ended } = result;
        if (statusCode >= 500 || statusCode === 429) {
          const kind: FailureKind = statusCode === 429 ? 'status_429' : 'status_5xx';
          const retrying = attempt < this.o.maxAttempts && this.hasAlternative(all, tried, statusCode === 429);
          if (retrying) {
            body.destroy();
            this.settle(u, kind, probe);
            last = { kind, detail: `upstream "${u.name}" answered ${statusCode}` };
            this.emit({ type: 'attempt_failed', upstream: u.name, model: req.model, kind, detail: last.detail, retrying });
            continue;
          }
        }
        return new ProxyExchange({
          endpoint: req.endpoint, model: req.model, upstream: u.name, stream: req.stream, requestId: req.requestId,
          requestBytes: req.body.byteLength, statusCode, headers, body, firstChunk, ended, attempts: attempt, queueMs, startedAt,
          signal: req.signal, now: this.now,
          onFirstByte: (ttftMs) => this.emit({ type: 'first_byte', upstream: u.name, model: req.model, ttftMs }),
          onDone: (summary, fault) => {
            this.finish(u, summary, fault, probe);
            endExchangeSpan(span, summary);
          },
        });
      }
      const { kind, detail } = result;
      this.settle(u, kind, probe);
      const retrying = isRetryableBeforeFirstByte(kind) && attempt < this.o.maxAttempts;
      this.emit({ type: 'attempt_failed', upstream: u.name, model: req.model, kind, detail, retrying });
      if (kind === 'client_abort') throw req.signal.reason ?? new Error('aborted');
      last = { kind, detail };
      if (!retrying) throw errorForKind(kind, detail, attempt);
    }
    throw errorForKind(last?.kind ?? 'upstream_error', last?.detail ?? 'no attempt succeeded', this.o.maxAttempts);
  }

  /** One attempt: send, then wait for the response headers and the first body chunk. */
  private async attempt(u: UpstreamBase, req: ProxyRequest, traced: Context): Promise<
    | { ok: true; statusCode: number; headers: import('node:http').IncomingHttpHeaders; body: Readable; firstChunk: Buffer | null; ended: boolean }
    | { ok: false; kind: FailureKind; detail: string }
  > {
    const headers: Record<string, string> = { accept: req.stream ? 'text/event-stream' : 'application/json', ...req.headers, ...traceHeaders(traced) };
    if (req.requestId) headers['x-request-id'] = req.requestId;
    let res;
    try {
      res = await u.post(req.endpoint, req.body, headers, req.signal);
    } catch (e) {
      const kind = classifyTransportError(e, req.signal);
      return { ok: false, kind, detail: `upstream "${u.name}": ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`.trim() };
    }
    try {
      const first = await firstChunk(res.body);
      return { ok: true, statusCode: res.statusCode, headers: res.headers, body: res.body, firstChunk: first.chunk, ended: first.ended };
    } catch (e) {
      res.body.destroy();
      const kind = classifyTransportError(e, req.signal);
      return { ok: false, kind, detail: `upstream "${u.name}" broke before the first byte: ${(e as Error).message}` };
    }
  }

  private pick(all: UpstreamBase[], affinityKey: string | undefined, tried: Set<UpstreamBase>): UpstreamBase {
    const now = this.now();
    const routable = all.filter((u) => u.breaker.canRoute(now));
    if (routable.length === 0) {
      const wait = Math.min(...all.map((u) => u.breaker.retryAfterMs(now) || 1000));
      throw new TributaryError('INFERENCE_UNAVAILABLE', `every upstream for this model is ejected after failures (${all.map((u) => u.name).join(', ')}); retry shortly`, { retryAfterMs: Math.max(1, Math.ceil(wait)) });
    }
    const fresh = routable.filter((u) => !tried.has(u));
    const pool = fresh.length > 0 ? fresh : routable;
    const u = affinityKey ? pickWithAffinity(affinityKey, pool) : leastOutstanding(pool, this.rotation++);
    if (!u) {
      const retryAfterMs = Math.min(...pool.map((x) => x.limiter.retryAfterMs));
      throw new TributaryError('INFERENCE_OVERLOADED', `every upstream for this model is at its concurrency limit with a full queue (${pool.map((x) => x.name).join(', ')}); retry later`, { retryAfterMs });
    }
    return u;
  }

  private hasAlternative(all: UpstreamBase[], tried: Set<UpstreamBase>, untriedOnly: boolean): boolean {
    const now = this.now();
    return all.some((u) => (untriedOnly ? !tried.has(u) : true) && u.breaker.canRoute(now) && !u.full);
  }

  /** Ends an attempt that did not become an exchange: slot back, breaker told. */
  private settle(u: UpstreamBase, kind: FailureKind, probe: boolean): void {
    u.limiter.release();
    this.report(u, isUpstreamFault(kind) ? kind : null, probe, kind === 'client_abort');
  }

  private finish(u: UpstreamBase, summary: ExchangeSummary, fault: FailureKind | null, probe: boolean): void {
    u.limiter.release();
    this.report(u, fault, probe, summary.outcome === 'client_abort');
    this.emit({ type: 'completed', summary });
  }

  private report(u: UpstreamBase, fault: FailureKind | null, probe: boolean, cancelled: boolean): void {
    const now = this.now();
    if (cancelled) {
      if (probe) u.breaker.onProbeCancelled();
      return;
    }
    if (fault) {
      if (u.breaker.onFailure(now) === 'ejected') this.ejected(u, `${fault} (passive)`);
    } else if (u.breaker.onSuccess(now) === 'recovered') {
      this.emit({ type: 'recovered', upstream: u.name, via: 'request' });
    }
  }

  private ejected(u: UpstreamBase, reason: string): void {
    this.emit({ type: 'ejected', upstream: u.name, reason, forMs: u.breaker.openForMs });
    // the queued requests fail over (or fail) now rather than wait on a sick upstream
    u.limiter.rejectAll(new TributaryError('INFERENCE_UNAVAILABLE', `upstream "${u.name}" was ejected: ${reason}`));
  }

  /** One round of active health checks (also the half-open probe when no traffic arrives). */
  async checkAll(): Promise<void> {
    await Promise.all(this.upstreams.map(async (u) => {
      if (this.checking.has(u) || this.closed) return;
      const now = this.now();
      const state = u.breaker.state(now);
      if (state === 'open' || !u.breaker.canRoute(now)) return; // cooling down, or a probe is already out
      this.checking.add(u);
      const probe = u.breaker.onDispatch(now);
      try {
        const r = await u.check(Math.max(1000, this.o.timeouts.connectMs + 1000));
        if (this.closed) return;
        this.emit({ type: 'health_check', upstream: u.name, ok: r.ok, detail: r.detail });
        if (!r.ok) {
          if (u.breaker.onFailure(this.now()) === 'ejected') this.ejected(u, `health check: ${r.detail}`);
        } else if (probe && u.breaker.onSuccess(this.now()) === 'recovered') {
          this.emit({ type: 'recovered', upstream: u.name, via: 'health_check' });
        }
      } finally {
        this.checking.delete(u);
      }
    }));
  }

  private emit(e: InferenceEvent): void {
    for (const fn of this.observers) {
      try { fn(e); } catch { /* an observer never breaks a request */ }
    }
  }
}

/** The request span's end: where it went, and how it ended. */
function endExchangeSpan(span: Span, summary: ExchangeSummary): void {
  span.setAttributes({
    [SpanAttributes.upstream]: summary.upstream, [SpanAttributes.attempts]: summary.attempts, [SpanAttributes.statusCode]: summary.status,
    [SpanAttributes.outcome]: summary.outcome, 'gen_ai.usage.input_tokens': summary.usage.promptTokens, 'gen_ai.usage.output_tokens': summary.usage.completionTokens,
  });
  if (summary.outcome !== 'ok' && isUpstreamFault(summary.outcome)) span.setStatus({ code: SpanStatusCode.ERROR, message: summary.outcome });
  span.end();
}

function ignore(): void { /* see firstChunk */ }

/** Waits for the first body chunk (then pauses the body) or its end. */
function firstChunk(body: Readable): Promise<{ chunk: Buffer | null; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    const onData = (c: Buffer) => {
      body.pause();
      cleanup();
      // until the exchange attaches its own listeners, an error (reset, abort) must not go unheard:
      // it stays on `body.errored` for the exchange to find
      body.on('error', ignore);
      resolve({ chunk: c, ended: false });
    };
    const onEnd = () => { cleanup(); resolve({ chunk: null, ended: true }); };
    const onError = (e: unknown) => { cleanup(); reject(e); };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
  });
}
