import { z } from 'zod';
import { TributaryError, findTributaryError, type ErrorCode } from '../ports/errors.ts';
import { MAX_PATH_PARAM_CHARS } from './schemas.ts';

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

/**
 * The error responses most routes can give, as a plain list. Routes need not spread it any more:
 * plugins/shared-responses.ts declares on every route the shared errors it can really give (from
 * its inputs and its scope), with their descriptions and headers. Kept for routes not yet moved.
 */
export const commonErrorResponses = {
  400: errorBodySchema,
  413: errorBodySchema,
  415: errorBodySchema,
  500: errorBodySchema,
  503: errorBodySchema,
} as const;

/**
 * A response header, for the OpenAPI document: a JSON Schema with a description. Only headers the
 * API always sends with their response are declared, so the document marks each one required.
 */
export interface ResponseHeader {
  type: 'string' | 'integer';
  description: string;
  minimum?: number;
}

/**
 * A response as a route schema declares it when it has more than a JSON body: the body per media
 * type (Fastify serialises by it) and the headers sent with it (plugins/swagger.ts documents them).
 */
export interface ResponseDoc {
  description: string;
  content: Record<string, { schema: z.ZodType }>;
  headers?: Record<string, ResponseHeader>;
}

/** An error response (`{ error: { code, message, details? } }`) with a description and, optionally, its headers. */
export function errorResponse(description: string, headers?: Record<string, ResponseHeader>): ResponseDoc {
  return { description, content: { 'application/json': { schema: errorBodySchema } }, ...(headers ? { headers } : {}) };
}

export const retryAfterHeader: ResponseHeader = { type: 'integer', minimum: 1, description: 'Seconds to wait before retrying' };

/**
 * What a route that calls the embedder, the index or the LLM can also answer: their refusals, passed
 * on. Its 429 replaces the shared one (plugins/shared-responses.ts), whose Retry-After a dependency's
 * rate limit does not always carry.
 */
export const dependencyErrorResponses = {
  429: errorResponse('Rate limited: the key is over its request rate (RATE_LIMITED), or a dependency is (EMBEDDER_RATE_LIMITED, LLM_RATE_LIMITED)'),
  502: errorResponse('A dependency refused the request (EMBEDDER_REJECTED, INDEX_REJECTED, LLM_REJECTED)'),
  504: errorResponse('A dependency did not answer in time (TIMEOUT)'),
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
    // raised by the router, before any route is matched (plugins/error-handler.ts: answerFrameworkError)
    case 'FST_ERR_BAD_URL':
      return { status: 400, body: errorBody('INVALID_INPUT', 'the URL path is not valid percent-encoded UTF-8', [{ path: 'path', message: 'is not valid percent-encoding' }]) };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { status: 414, body: errorBody('INVALID_INPUT', `a path parameter is longer than ${MAX_PATH_PARAM_CHARS} characters`, [{ path: 'path', message: `a parameter is longer than ${MAX_PATH_PARAM_CHARS} characters` }]) };
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
