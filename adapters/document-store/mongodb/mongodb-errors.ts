import { TributaryError, findTributaryError } from '../../../ports/errors.ts';

/** Error labels and names of the driver that mean "the server cannot be used right now". */
const TRANSIENT_NAMES = new Set([
  'MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoServerSelectionError', 'MongoTopologyClosedError', 'MongoNotConnectedError',
  'MongoWriteConcernError', 'MongoPoolClearedError', 'PoolClearedOnNetworkError', 'MongoWaitQueueTimeoutError', 'MongoPoolClosedError',
  'MongoServerClosedError', 'MongoClientClosedError',
]);
const TRANSIENT_LABELS = ['TransientTransactionError', 'RetryableWriteError', 'UnknownTransactionCommitResult', 'ResumableChangeStreamError'];
/** Server codes that mean the credentials or the permissions are wrong: a configuration problem. */
const AUTH_CODES = new Set([13, 18]);

/** The server or the connection is not usable right now (an outage, an election), whatever was asked. */
export function isTransient(e: unknown): boolean {
  const err = e as { name?: unknown; code?: unknown; errorLabels?: unknown } | null;
  const labels = Array.isArray(err?.errorLabels) ? err.errorLabels as string[] : [];
  return (typeof err?.name === 'string' && TRANSIENT_NAMES.has(err.name)) || labels.some((l) => TRANSIENT_LABELS.includes(l))
    || (typeof err?.code === 'number' && TRANSIENT_CODES.has(err.code));
}
/** Server codes that are outages or elections, not bad input (NotWritablePrimary, PrimarySteppedDown, ShutdownInProgress, …). */
const TRANSIENT_CODES = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 50, 112, 251]);

/**
 * Maps what the MongoDB driver threw to a TributaryError (by shape, not class identity):
 * unreachable / elections / timeouts → STORE_UNAVAILABLE (retryable); a duplicate key → INVALID_INPUT
 * naming the key; anything else the server refused → INVALID_INPUT with its message.
 */
export function mongoError(e: unknown, what: string): TributaryError {
  const found = findTributaryError(e);
  if (found) return found;
  const err = e as { name?: unknown; code?: unknown; message?: unknown; keyValue?: unknown; errorLabels?: unknown; hasErrorLabel?: (l: string) => boolean } | null;
  const message = `mongodb store: ${what} failed: ${typeof err?.message === 'string' ? err.message : String(e)}`;
  if (isTransient(e)) return new TributaryError('STORE_UNAVAILABLE', message, { cause: e });
  if (typeof err?.code === 'number' && AUTH_CODES.has(err.code)) {
    return new TributaryError('INVALID_CONFIG', `${message} — check the user and password in MONGODB_URL and the user's roles`, { cause: e });
  }
  if (err?.code === 11000) {
    const key = err.keyValue ? ` (${JSON.stringify(err.keyValue)})` : '';
    return new TributaryError('INVALID_INPUT', `${message}: another document already has this key${key} — one document per source + externalId`, { cause: e });
  }
  if (typeof err?.code === 'number') return new TributaryError('INVALID_INPUT', message, { cause: e });
  return new TributaryError('INTERNAL', message, { cause: e });
}
