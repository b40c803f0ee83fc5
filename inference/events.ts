import type { FailureKind } from './upstream-errors.ts';
import type { TokenUsage } from './usage-scanner.ts';

/**
 * What the gateway reports. The API turns these into metrics and logs (observability/metrics.ts
 * holds the names); the core itself does no logging.
 */
export type InferenceEvent =
  /** A slot on `upstream` was taken after waiting `queueMs`; the request is being sent. */
  | { type: 'dispatched'; upstream: string; model: string; queueMs: number; attempt: number }
  /** One attempt failed before any byte reached the client; `retrying` says whether another follows. */
  | { type: 'attempt_failed'; upstream: string; model: string; kind: FailureKind; detail: string; retrying: boolean }
  /** No upstream could even be tried (unknown model, all ejected, all queues full, queue timeout). */
  | { type: 'rejected'; model: string; upstream: string | null; code: string; message: string }
  /** The first byte of the answer reached the client. */
  | { type: 'first_byte'; upstream: string; model: string; ttftMs: number }
  /** An exchange is over (slot released). */
  | { type: 'completed'; summary: ExchangeSummary }
  | { type: 'ejected'; upstream: string; reason: string; forMs: number }
  | { type: 'recovered'; upstream: string; via: 'request' | 'health_check' }
  | { type: 'health_check'; upstream: string; ok: boolean; detail: string };

export type ExchangeOutcome = 'ok' | FailureKind;

export interface ExchangeSummary {
  requestId: string | undefined;
  endpoint: string;
  model: string;
  upstream: string;
  stream: boolean;
  status: number;
  outcome: ExchangeOutcome;
  attempts: number;
  /** Total time spent waiting for slots, over all attempts. */
  queueMs: number;
  /** Request arrival → first byte to the client (null when no byte was sent). */
  ttftMs: number | null;
  durationMs: number;
  usage: TokenUsage;
  /** Completion tokens per second after the first byte (null when not measurable). */
  tokensPerSecond: number | null;
}

export type InferenceObserver = (e: InferenceEvent) => void;
