import { TributaryError } from '../ports/errors.ts';

/**
 * What went wrong with one upstream attempt, as a closed list: metric label `kind`, the failover
 * decision and the circuit breaker all read it.
 */
export type FailureKind =
  | 'connect'
  | 'connect_timeout'
  | 'first_byte_timeout'
  | 'idle_timeout'
  | 'reset'
  | 'status_5xx'
  | 'status_429'
  | 'status_4xx'
  | 'stream_cut'
  | 'stream_error_event'
  | 'ejected'
  | 'client_abort'
  | 'upstream_error';

/** Kinds that say the upstream is unwell (they count towards ejection). */
export function isUpstreamFault(kind: FailureKind): boolean {
  return kind === 'connect' || kind === 'connect_timeout' || kind === 'first_byte_timeout' || kind === 'idle_timeout'
    || kind === 'reset' || kind === 'status_5xx' || kind === 'stream_cut' || kind === 'stream_error_event' || kind === 'upstream_error';
}

/** Kinds worth another attempt (on another upstream when there is one) while nothing has reached the client. */
export function isRetryableBeforeFirstByte(kind: FailureKind): boolean {
  return kind !== 'client_abort' && kind !== 'status_4xx';
}

/** Classifies a transport error from undici by its code (never by its message). */
export function classifyTransportError(err: unknown, signal: AbortSignal | undefined): FailureKind {
  if (signal?.aborted) return 'client_abort';
  const code = (err as { code?: unknown } | null)?.code ?? (err as { cause?: { code?: unknown } } | null)?.cause?.code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT': return 'connect_timeout';
    case 'ECONNREFUSED': case 'ENOTFOUND': case 'EHOSTUNREACH': case 'ENETUNREACH': case 'EAI_AGAIN': case 'EADDRNOTAVAIL': return 'connect';
    case 'UND_ERR_HEADERS_TIMEOUT': return 'first_byte_timeout';
    case 'UND_ERR_BODY_TIMEOUT': return 'idle_timeout';
    case 'UND_ERR_SOCKET': case 'ECONNRESET': case 'EPIPE': case 'UND_ERR_CLOSED': case 'UND_ERR_DESTROYED': return 'reset';
    case 'UND_ERR_ABORTED': case 'ABORT_ERR': return 'client_abort';
    default: return 'upstream_error';
  }
}

/** The error a client gets when every attempt failed this way before any byte reached it. */
export function errorForKind(kind: FailureKind, detail: string, attempts: number): TributaryError {
  const tries = attempts > 1 ? ` (after ${attempts} attempts)` : '';
  switch (kind) {
    case 'first_byte_timeout':
      return new TributaryError('TIMEOUT', `inference upstream did not answer in time: ${detail}${tries}`);
    case 'idle_timeout':
      return new TributaryError('TIMEOUT', `inference upstream stopped sending before the first byte: ${detail}${tries}`);
    default:
      return new TributaryError('INFERENCE_UNAVAILABLE', `inference upstream failed: ${detail}${tries}`, { retryAfterMs: 1000 });
  }
}
