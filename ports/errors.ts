/**
 * One base error with a stable code from a closed list, a `retryable` flag and a scope.
 * Retry loops read the flag and the scope; they never parse messages. A retired code is never reused.
 *
 * The scope is the one rule for "the whole batch failed" vs "this record failed", applied by the
 * stage runtime (consumers/runtime/stage-consumer.ts) for every stage:
 *  - `batch`: a dependency is down or unusable (the registry, the store, the index, the embedder, the
 *    LLM, the log, our own configuration or credentials): every other record would fail the same way
 *    and the records themselves are fine. The batch is kept and retried with back-off for as long as
 *    it lasts, whatever `retryable` says (a wrong setting or a revoked key waits for an operator, it
 *    does not empty the topic into the DLQ); the consumer reports degraded meanwhile. Never dead-lettered.
 *  - `record`: this input, and only it, cannot be processed (malformed, against the schema, refused
 *    by a dependency that works). Retried up to the attempt limit when `retryable`, then dead-lettered.
 * Codes whose scope only matters to a consumer are scoped by what they mean there: NOT_FOUND,
 * UNAUTHORIZED and FORBIDDEN reach a stage only from a dependency (a topic or a registry subject that
 * is missing, credentials or ACLs refused), hence `batch`; to the API, only their status matters.
 * INTERNAL (an unexpected failure, most often a bug meeting one input) is `record`: one record must
 * never stall its partition forever. An error may override its code's scope, as it may `retryable`
 * (e.g. a dependency answering 401 to a request is a rejection, yet it concerns every request).
 */

export type FailureScope = 'batch' | 'record';

export const ErrorCodes = {
  // input and contract violations (never retryable)
  INVALID_INPUT: { status: 400, retryable: false, scope: 'record' },
  /** Our configuration is wrong: every record would fail alike until an operator fixes it. */
  INVALID_CONFIG: { status: 500, retryable: false, scope: 'batch' },
  UNKNOWN_CATEGORY: { status: 400, retryable: false, scope: 'record' },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false, scope: 'record' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, scope: 'record' },
  INVALID_UTF8: { status: 400, retryable: false, scope: 'record' },
  /** In a consumer: a topic, subject or route of ours is missing (batch); in the API: what the request names. */
  NOT_FOUND: { status: 404, retryable: false, scope: 'batch' },
  /** In a consumer: a dependency refused our credentials (batch); in the API: the caller's key. */
  UNAUTHORIZED: { status: 401, retryable: false, scope: 'batch' },
  /** In a consumer: a dependency's ACLs refuse us (batch); in the API: the caller's permissions. */
  FORBIDDEN: { status: 403, retryable: false, scope: 'batch' },
  /** The request contradicts the resource's state (e.g. a report on a job that is already final). */
  CONFLICT: { status: 409, retryable: false, scope: 'record' },
  /** A guardrail refused the request (e.g. a prompt injection in the question). */
  GUARDRAIL_BLOCKED: { status: 400, retryable: false, scope: 'record' },
  // change events and records on the log
  MALFORMED_EVENT: { status: 422, retryable: false, scope: 'record' },
  SCHEMA_VIOLATION: { status: 422, retryable: false, scope: 'record' },
  UNSUPPORTED_OPERATION: { status: 422, retryable: false, scope: 'record' },
  OVERSIZE_RECORD: { status: 413, retryable: false, scope: 'record' },
  // dependencies: down or overloaded is `batch`; refusing one input is `record`
  EMBEDDER_UNAVAILABLE: { status: 503, retryable: true, scope: 'batch' },
  EMBEDDER_RATE_LIMITED: { status: 429, retryable: true, scope: 'batch' },
  EMBEDDER_REJECTED: { status: 502, retryable: false, scope: 'record' },
  /** The embedder and the index disagree on the dimension: a configuration problem, for every record. */
  EMBEDDER_DIMENSION_MISMATCH: { status: 500, retryable: false, scope: 'batch' },
  INDEX_UNAVAILABLE: { status: 503, retryable: true, scope: 'batch' },
  INDEX_REJECTED: { status: 502, retryable: false, scope: 'record' },
  STORE_UNAVAILABLE: { status: 503, retryable: true, scope: 'batch' },
  LOG_UNAVAILABLE: { status: 503, retryable: true, scope: 'batch' },
  DATASET_REGISTRY_UNAVAILABLE: { status: 503, retryable: true, scope: 'batch' },
  /** One dataset version is unusable (its job fails); the others are fine. */
  DATASET_CORRUPT: { status: 500, retryable: false, scope: 'record' },
  LAUNCHER_UNAVAILABLE: { status: 503, retryable: true, scope: 'batch' },
  LAUNCH_REJECTED: { status: 502, retryable: false, scope: 'record' },
  SCHEMA_REGISTRY_UNAVAILABLE: { status: 503, retryable: true, scope: 'batch' },
  LLM_UNAVAILABLE: { status: 503, retryable: true, scope: 'batch' },
  LLM_RATE_LIMITED: { status: 429, retryable: true, scope: 'batch' },
  LLM_REJECTED: { status: 502, retryable: false, scope: 'record' },
  /** The request needs an LLM (e.g. judging an answer) and the server has none configured. */
  LLM_NOT_CONFIGURED: { status: 409, retryable: false, scope: 'batch' },
  /** A local model cannot be loaded: nothing that needs it can run. */
  MODEL_LOAD_FAILED: { status: 500, retryable: false, scope: 'batch' },
  /** A dependency did not answer in time. */
  TIMEOUT: { status: 504, retryable: true, scope: 'batch' },
  RATE_LIMITED: { status: 429, retryable: true, scope: 'batch' },
  /** Back-pressure: the pipeline's backlog is over TRIBUTARY_INGEST_MAX_BACKLOG; write again after Retry-After. */
  INGEST_BACKLOG_FULL: { status: 429, retryable: true, scope: 'batch' },
  SHUTTING_DOWN: { status: 503, retryable: true, scope: 'batch' },
  /** Unexpected (a bug, most often meeting one input): `record`, so one record never stalls a partition. */
  INTERNAL: { status: 500, retryable: false, scope: 'record' },
  // inference proxy (in a consumer, what the LLM behind it answers)
  /** In a consumer: the configured model is not served (a configuration problem); in the proxy: the caller's. */
  UNKNOWN_MODEL: { status: 404, retryable: false, scope: 'batch' },
  INFERENCE_OVERLOADED: { status: 429, retryable: true, scope: 'batch' },
  INFERENCE_QUEUE_TIMEOUT: { status: 503, retryable: true, scope: 'batch' },
  INFERENCE_UNAVAILABLE: { status: 503, retryable: true, scope: 'batch' },
  INFERENCE_STREAM_BROKEN: { status: 502, retryable: true, scope: 'batch' },
} as const satisfies Record<string, { status: number; retryable: boolean; scope: FailureScope }>;

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
  /** Overrides the code's scope (rarely: e.g. a dependency's 401 is a rejection that concerns every request). */
  scope?: FailureScope;
}

export class TributaryError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Whether the failure concerns the whole batch (a dependency) or only the record being processed. */
  readonly scope: FailureScope;
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
    this.scope = options.scope ?? ErrorCodes[code].scope;
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

/**
 * Raw errors that still mean a dependency is down, for those that escape an adapter (every adapter
 * should wrap its driver's errors into coded ones): Node's and undici's codes for a connection that
 * failed, the machine's resources running out, and node:sqlite's result codes for a database that is
 * busy, locked, full or unreadable (the embedded adapters run statements without wrapping each).
 */
const DEPENDENCY_DOWN_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED',
  'ENOSPC', 'EDQUOT', 'EIO', 'EMFILE', 'ENFILE', 'EROFS',
]);
/** SQLite primary result codes: BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN. */
const SQLITE_DOWN = new Set([5, 6, 7, 8, 10, 13, 14]);

function isDependencyDown(e: unknown): boolean {
  let cur: unknown = e;
  for (let depth = 0; depth < 10 && typeof cur === 'object' && cur !== null; depth++) {
    const { code, errcode } = cur as { code?: unknown; errcode?: unknown };
    if (typeof code === 'string' && DEPENDENCY_DOWN_CODES.has(code)) return true;
    if (code === 'ERR_SQLITE_ERROR' && typeof errcode === 'number' && SQLITE_DOWN.has(errcode & 0xff)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Whether a failure concerns the whole batch or only the record being processed: the scope of the
 * first Tributary error in the `cause` chain (its code's, unless the error overrides it). An error
 * that is not a Tributary error at all is `record` (an unexpected failure, most likely a bug meeting
 * this input: it is dead-lettered rather than stalling the partition forever), unless its chain
 * says a dependency is down (ECONNREFUSED, ENOSPC, SQLite busy, …): then `batch`.
 */
export function failureScope(e: unknown): FailureScope {
  const found = findTributaryError(e);
  if (!found) return isDependencyDown(e) ? 'batch' : 'record';
  // recognised by shape: an error made by another copy of this module may predate `scope`
  const own = (found as { scope?: unknown }).scope;
  if (own === 'batch' || own === 'record') return own;
  return (ErrorCodes as Record<string, { scope: FailureScope } | undefined>)[found.code]?.scope ?? 'record';
}

/** Wraps anything thrown into a TributaryError, keeping the cause (and its scope: see failureScope). */
export function toTributaryError(e: unknown, fallback: ErrorCode = 'INTERNAL'): TributaryError {
  const found = findTributaryError(e);
  if (found) return found;
  const message = e instanceof Error ? e.message : String(e);
  return new TributaryError(fallback, message, { cause: e, ...(isDependencyDown(e) ? { scope: 'batch' as const } : {}) });
}
