import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { context, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { httpSpanName } from '../../observability/metrics.ts';
import { ensureContextPropagation, extractTraceContext, getTracer, recordSpanException, SpanAttributes, SpanKind } from '../../observability/tracing.ts';

/**
 * A server span per HTTP request ("<METHOD> <route pattern>"), continuing the caller's W3C
 * `traceparent` when it sends one. The route's handler runs with the span active, so what it does
 * (a store write and the change event it leaves, a RAG answer, a proxied inference request) is part
 * of the request's trace. The span ends when the response is finished (or the connection dropped),
 * streamed and hijacked replies included. Probes and scrapes (/healthz, /readyz, /metrics) are not traced.
 */

/** Routes polled by machines every few seconds: a span each would bury the traces worth reading. */
const UNTRACED = new Set(['/healthz', '/readyz', '/metrics']);

export function registerTracing(app: FastifyInstance): void {
  // context must flow through the handlers even when no tracer provider is registered
  ensureContextPropagation();
  const spans = new WeakMap<FastifyRequest, { span: Span; ctx: Context }>();

  const end = (request: FastifyRequest, reply: FastifyReply) => {
    const s = spans.get(request);
    if (!s) return;
    spans.delete(request);
    const status = reply.raw.headersSent || reply.sent ? reply.raw.statusCode : 499;
    s.span.setAttribute(SpanAttributes.statusCode, status);
    if (status >= 500) s.span.setStatus({ code: SpanStatusCode.ERROR });
    s.span.end();
  };

  app.addHook('onRequest', (request, reply, done) => {
    const route = request.routeOptions.url;
    if (route !== undefined && UNTRACED.has(route)) {
      done();
      return;
    }
    const parent = extractTraceContext(request.headers);
    const span = getTracer().startSpan(httpSpanName(request.method, route), {
      kind: SpanKind.SERVER,
      attributes: { [SpanAttributes.method]: request.method, [SpanAttributes.path]: request.url.split('?', 1)[0]!, ...(route ? { [SpanAttributes.route]: route } : {}) },
    }, parent);
    const ctx = trace.setSpan(parent, span);
    spans.set(request, { span, ctx });
    // also when the reply is hijacked (SSE, the inference proxy), or the client goes away
    reply.raw.once('close', () => end(request, reply));
    context.with(ctx, done);
  });
  // the body was read outside the request's context: the handler runs inside it again
  app.addHook('preHandler', (request, _reply, done) => {
    const s = spans.get(request);
    if (s) context.with(s.ctx, done);
    else done();
  });
  // the exception as an event; the status (ERROR for a 5xx only) is set from the response
  app.addHook('onError', (request, _reply, error, done) => {
    const s = spans.get(request);
    if (s) recordSpanException(s.span, error);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    end(request, reply);
    done();
  });
}
