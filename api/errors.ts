import { z } from 'zod';
import { TributaryError, findTributaryError, type ErrorCode } from '../ports/errors.ts';

/**
 * The API's error catalogue is ports/errors.ts: every error response is
 * `{ error: { code, message, details? } }` with the HTTP status of its code.
 */

export const fieldErrorSchema = z.object({ path: z.string(), message: z.string() });
export type FieldError = z.infer<typeof fieldErrorSchema>;

export const errorBodySchema = z.object({
  error: z.object({
    code: z.string().describe('Stable error code from the catalogue (ports/errors.ts)'),
    message: z.string(),
    details: z.unknown().optional().describe('For INVALID_INPUT: [{ path, message }] naming each bad field'),
  }),
}).describe('Error');
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** The error responses most routes can give, for the OpenAPI document. */
export const commonErrorResponses = {
  400: errorBodySchema,
  413: errorBodySchema,
  415: errorBodySchema,
  500: errorBodySchema,
  503: errorBodySchema,
} as const;

export interface HttpError {
  status: number;
  body: ErrorBody;
  retryAfterMs?: number;
}

/**
 * An error that must be answered with a status other than its code's: the catalogue has no code of
 * its own for it. Kept here so the exception is visible.
 */
export class StatusOverride extends Error {
  readonly status: number;
  readonly inner: TributaryError;
  constructor(status: number, inner: TributaryError) {
    super(inner.message, { cause: inner });
    this.status = status;
    this.inner = inner;
  }
}

export function errorBody(code: ErrorCode, message: string, details?: unknown): ErrorBody {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } };
}

/** Fastify's own errors, by their code, mapped onto the catalogue. */
function fromFastify(err: { code?: unknown; message: string; statusCode?: unknown }, bodyLimitBytes: number): HttpError | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: errorBody('PAYLOAD_TOO_LARGE', `request body is larger than the ${bodyLimitBytes}-byte limit (TRIBUTARY_BODY_LIMIT_BYTES); split it into smaller requests`, { limitBytes: bodyLimitBytes }) };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: errorBody('UNSUPPORTED_MEDIA_TYPE', 'unsupported content-type: send the body as application/json (UTF-8)') };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: errorBody('INVALID_INPUT', 'request body is empty; expected a JSON object', [{ path: 'body', message: 'is required' }]) };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: errorBody('INVALID_INPUT', `request body is not valid JSON: ${err.message}`) };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, body: errorBody('INVALID_INPUT', 'request body size does not match its content-length header') };
    case 'FST_ERR_NOT_FOUND':
      return { status: 404, body: errorBody('NOT_FOUND', err.message) };
    default:
      break;
  }
  const status = typeof err.statusCode === 'number' ? err.statusCode : 0;
  if (status === 413) return { status, body: errorBody('PAYLOAD_TOO_LARGE', err.message) };
  if (status === 415) return { status, body: errorBody('UNSUPPORTED_MEDIA_TYPE', err.message) };
  if (status >= 400 && status < 500) return { status, body: errorBody(status === 404 ? 'NOT_FOUND' : 'INVALID_INPUT', err.message) };
  return null;
}

/** Maps anything thrown while handling a request onto a status and an error body. */
export function toHttpError(err: unknown, bodyLimitBytes: number): HttpError {
  if (err instanceof StatusOverride) {
    return { status: err.status, body: errorBody(err.inner.code, err.inner.message, err.inner.details) };
  }
  const te = findTributaryError(err);
  if (te) {
    const out: HttpError = { status: te.status, body: errorBody(te.code, te.message, te.details) };
    if (te.retryAfterMs !== undefined) out.retryAfterMs = te.retryAfterMs;
    return out;
  }
  if (err instanceof Error) {
    const mapped = fromFastify(err as Error & { code?: unknown; statusCode?: unknown }, bodyLimitBytes);
    if (mapped) return mapped;
  }
  return { status: 500, body: errorBody('INTERNAL', 'internal error; see the server log') };
}

export function notFound(what: string): TributaryError {
  return new TributaryError('NOT_FOUND', what);
}
