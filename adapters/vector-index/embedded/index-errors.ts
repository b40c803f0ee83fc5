import { TributaryError, findTributaryError } from '../../../ports/errors.ts';

/** SQLite primary result codes that mean "try again later". */
const RETRYABLE_SQLITE = new Set([5 /* BUSY */, 6 /* LOCKED */, 10 /* IOERR */, 13 /* FULL */, 14 /* CANTOPEN */, 15 /* PROTOCOL */]);
/** … and those that mean the file itself is unusable. */
const BROKEN_SQLITE = new Set([11 /* CORRUPT */, 26 /* NOTADB */]);

/** A failure of the embedded index as the port's error: SQLite's result code decides the code and whether to retry. */
export function indexError(e: unknown, what: string): TributaryError {
  const found = findTributaryError(e);
  if (found) return found;
  const errcode = (e as { errcode?: unknown } | null)?.errcode;
  const message = `embedded index: ${what} failed: ${e instanceof Error ? e.message : String(e)}`;
  if (typeof errcode === 'number') {
    const primary = errcode & 0xff;
    if (RETRYABLE_SQLITE.has(primary)) return new TributaryError('INDEX_UNAVAILABLE', message, { cause: e });
    if (BROKEN_SQLITE.has(primary)) return new TributaryError('INDEX_UNAVAILABLE', message, { cause: e, retryable: false });
    return new TributaryError('INDEX_REJECTED', message, { cause: e });
  }
  return new TributaryError('INTERNAL', message, { cause: e });
}

/** A request the index refuses (bad argument, incompatible file). */
export function rejected(message: string): TributaryError {
  return new TributaryError('INDEX_REJECTED', `embedded index: ${message}`);
}
