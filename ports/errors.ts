/**
 * One base error with a stable code from a closed list and a `retryable` flag.
 * Retry loops read the flag; they never parse messages. A retired code is never reused.
 */

export const ErrorCodes = {
  // input and contract violations (never retryable)
  INVALID_INPUT: { status: 400, retryable: false },
  INVALID_CONFIG: { status: 500, retryable: false },
  UNKNOWN_CATEGORY: { status: 400, retryable: false },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false },
  INVALID_UTF8: { status: 400, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  UNAUTHORIZED: { status: 401, retryable: false },
  FORBIDDEN: { status: 403, retryable: false },
  /** The request contradicts the resource's state (e.g. a report on a job that is already final). */
  CONFLICT: { status: 409, retryable: false },
  /** A guardrail refused the request (e.g. a prompt injection in the question). */
  GUARDRAIL_BLOCKED: { status: 400, retryable: false },
  // change events and records on the log
  MALFORMED_EVENT: { status: 422, retryable: false },
  SCHEMA_VIOLATION: { status: 422, retryable: false },
  UNSUPPORTED_OPERATION: { status: 422, retryable: false },
  OVERSIZE_RECORD: { status: 413, retryable: false },
  // dependencies
  EMBEDDER_UNAVAILABLE: { status: 503, retryable: true },
  EMBEDDER_RATE_LIMITED: { status: 429, retryable: true },
  EMBEDDER_REJECTED: { status: 502, retryable: false },
  EMBEDDER_DIMENSION_MISMATCH: { status: 500, retryable: false },
  INDEX_UNAVAILABLE: { status: 503, retryable: true },
  INDEX_REJECTED: { status: 502, retryable: false },
  STORE_UNAVAILABLE: { status: 503, retryable: true },
  LOG_UNAVAILABLE: { status: 503, retryable: true },
  DATASET_REGISTRY_UNAVAILABLE: { status: 503, retryable: true },
  DATASET_CORRUPT: { status: 500, retryable: false },
  LAUNCHER_UNAVAILABLE: { status: 503, retryable: true },
  LAUNCH_REJECTED: { status: 502, retryable: false },
  SCHEMA_REGISTRY_UNAVAILABLE: { status: 503, retryable: true },
  LLM_UNAVAILABLE: { status: 503, retryable: true },
  LLM_RATE_LIMITED: { status: 429, retryable: true },
  LLM_REJECTED: { status: 502, retryable: false },
  /** The request needs an LLM (e.g. judging an answer) and the server has none configured. */
  LLM_NOT_CONFIGURED: { status: 409, retryable: false },
  MODEL_LOAD_FAILED: { status: 500, retryable: false },
  TIMEOUT: { status: 504, retryable: true },
  RATE_LIMITED: { status: 429, retryable: true },
  SHUTTING_DOWN: { status: 503, retryable: true },
  INTERNAL: { status: 500, retryable: false },
  // inference proxy
  UNKNOWN_MODEL: { status: 404, retryable: false },
  INFERENCE_OVERLOADED: { status: 429, retryable: true },
  INFERENCE_QUEUE_TIMEOUT: { status: 503, retryable: true },
  INFERENCE_UNAVAILABLE: { status: 503, retryable: true },
  INFERENCE_STREAM_BROKEN: { status: 502, retryable: true },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ErrorCodes;

export interface TributaryErrorOptions {
  cause?: unknown;
  retryable?: boolean;
  /** Milliseconds the caller should wait before retrying (e.g. from Retry-After). */
  retryAfterMs?: number;
  /** Upstream HTTP status, when the error came from an HTTP dependency. */
  upstreamStatus?: number;
  /** Structured detail for clients: e.g. the list of bad fields. */
  details?: unknown;
}

export class TributaryError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly status: number;
  readonly retryAfterMs: number | undefined;
  readonly upstreamStatus: number | undefined;
  readonly details: unknown;
  readonly isTributaryError = true;

  constructor(code: ErrorCode, message: string, options: TributaryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TributaryError';
    this.code = code;
    this.status = ErrorCodes[code].status;
    this.retryable = options.retryable ?? ErrorCodes[code].retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.upstreamStatus = options.upstreamStatus;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, retryable: this.retryable, details: this.details };
  }
}

function isTributaryLike(e: unknown): e is TributaryError {
  return typeof e === 'object' && e !== null && (e as { isTributaryError?: unknown }).isTributaryError === true
    && typeof (e as { code?: unknown }).code === 'string';
}

/** Finds the first Tributary error in a `cause` chain (recognised by shape, not instanceof). */
export function findTributaryError(e: unknown): TributaryError | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 10 && cur !== undefined && cur !== null; depth++) {
    if (isTributaryLike(cur)) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

export function errorCode(e: unknown): ErrorCode {
  return findTributaryError(e)?.code ?? 'INTERNAL';
}

export function isRetryable(e: unknown): boolean {
  return findTributaryError(e)?.retryable ?? false;
}

/** Wraps anything thrown into a TributaryError, keeping the cause. */
export function toTributaryError(e: unknown, fallback: ErrorCode = 'INTERNAL'): TributaryError {
  const found = findTributaryError(e);
  if (found) return found;
  const message = e instanceof Error ? e.message : String(e);
  return new TributaryError(fallback, message, { cause: e });
}
