import type { Logger } from 'pino';
import type { InferenceEvent } from '../../inference/events.ts';
import type { InferenceGateway } from '../../inference/gateway.ts';
import { LogEvents, type Metrics } from '../../observability/metrics.ts';

/**
 * Turns the gateway's events into metrics (per upstream and model) and logs. Request logs carry
 * model, upstream, status, timings and token counts — never the prompt (see TRIBUTARY_INFERENCE_LOG_PROMPTS).
 * Returns the unsubscribe function.
 */
export function observeInference(gateway: InferenceGateway, metrics: Metrics, logger: Logger): () => void {
  for (const s of gateway.status()) metrics.inferenceUpstreamUp.set({ upstream: s.name }, s.state === 'open' ? 0 : 1);
  return gateway.observe((e: InferenceEvent) => {
    switch (e.type) {
      case 'dispatched':
        metrics.inferenceQueueSeconds.observe({ upstream: e.upstream, model: e.model }, e.queueMs / 1000);
        metrics.inferenceInFlight.inc({ upstream: e.upstream, model: e.model });
        break;
      case 'attempt_failed':
        if (e.kind !== 'ejected') metrics.inferenceInFlight.dec({ upstream: e.upstream, model: e.model });
        metrics.inferenceErrors.inc({ upstream: e.upstream, model: e.model, kind: e.kind });
        if (e.kind !== 'client_abort') logger.warn({ event: LogEvents.inferenceAttemptFailed, upstream: e.upstream, model: e.model, kind: e.kind, detail: e.detail, retrying: e.retrying });
        break;
      case 'rejected': {
        const kind = e.code === 'INFERENCE_OVERLOADED' ? 'queue_full' : e.code === 'INFERENCE_QUEUE_TIMEOUT' ? 'queue_timeout' : e.code === 'UNKNOWN_MODEL' ? 'unknown_model' : 'no_upstream';
        if (kind !== 'unknown_model') metrics.inferenceErrors.inc({ upstream: e.upstream ?? 'none', model: e.model, kind });
        logger.info({ event: LogEvents.inferenceRejected, model: e.model, upstream: e.upstream, code: e.code, msg: e.message });
        break;
      }
      case 'first_byte':
        metrics.inferenceTtftSeconds.observe({ upstream: e.upstream, model: e.model }, e.ttftMs / 1000);
        break;
      case 'completed': {
        const s = e.summary;
        const labels = { upstream: s.upstream, model: s.model };
        metrics.inferenceInFlight.dec(labels);
        metrics.inferenceRequests.inc({ ...labels, outcome: s.outcome });
        metrics.inferenceRequestSeconds.observe(labels, s.durationMs / 1000);
        metrics.inferenceTokens.inc({ ...labels, kind: 'prompt' }, s.usage.promptTokens);
        metrics.inferenceTokens.inc({ ...labels, kind: 'completion' }, s.usage.completionTokens);
        if (s.tokensPerSecond !== null) metrics.inferenceTokensPerSecond.observe(labels, s.tokensPerSecond);
        if (s.outcome !== 'ok') metrics.inferenceErrors.inc({ ...labels, kind: s.outcome });
        const level = s.outcome === 'ok' || s.outcome === 'client_abort' ? 'info' : 'warn';
        logger[level]({
          event: LogEvents.inferenceRequest, reqId: s.requestId, endpoint: s.endpoint, model: s.model, upstream: s.upstream, stream: s.stream,
          status: s.status, outcome: s.outcome, attempts: s.attempts, queueMs: round(s.queueMs), ttftMs: s.ttftMs === null ? null : round(s.ttftMs),
          durationMs: round(s.durationMs), promptTokens: s.usage.promptTokens, completionTokens: s.usage.completionTokens, tokensEstimated: s.usage.estimated,
        });
        break;
      }
      case 'ejected':
        metrics.inferenceEjections.inc({ upstream: e.upstream });
        metrics.inferenceUpstreamUp.set({ upstream: e.upstream }, 0);
        logger.warn({ event: LogEvents.inferenceEjected, upstream: e.upstream, reason: e.reason, forMs: e.forMs });
        break;
      case 'recovered':
        metrics.inferenceUpstreamUp.set({ upstream: e.upstream }, 1);
        logger.info({ event: LogEvents.inferenceRecovered, upstream: e.upstream, via: e.via });
        break;
      case 'health_check':
        if (!e.ok) logger.warn({ event: LogEvents.inferenceHealthCheckFailed, upstream: e.upstream, detail: e.detail });
        break;
    }
  });
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
