import { CliError, ExitCodes, UsageError } from './errors.ts';

/**
 * The HTTP client every command uses: base URL from --server or TRIBUTARY_URL, JSON in and out,
 * and errors turned into messages a person can act on (the server's code, message and field
 * details; "not running" when nothing listens).
 */

export const DEFAULT_URL = 'http://127.0.0.1:8080';
export const URL_ENV = 'TRIBUTARY_URL';
/** The API key the HTTP commands send (Authorization: Bearer), for an API that has keys configured. */
export const API_KEY_ENV = 'TRIBUTARY_API_KEY';

export function resolveBaseUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolveServiceUrl({ flag, flagName: '--server', env, envName: URL_ENV, fallback: DEFAULT_URL });
}

/**
 * An HTTP service's base URL: the option, then the environment variable, then the default; adds
 * http:// and drops trailing slashes; a usage error naming where a bad value came from.
 */
export function resolveServiceUrl(o: { flag: string | undefined; flagName: string; env: NodeJS.ProcessEnv; envName: string; fallback: string }): string {
  const raw = o.flag ?? o.env[o.envName] ?? o.fallback;
  const source = o.flag !== undefined ? o.flagName : o.env[o.envName] !== undefined ? o.envName : 'default URL';
  let url: URL;
  try {
    url = new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    throw new UsageError(`${source} is not a valid URL: "${raw}" (expected e.g. ${o.fallback})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${source} must be an http(s) URL (got "${raw}")`);
  return url.href.replace(/\/+$/, '');
}

/** The server answered with a non-2xx status. */
export class ApiError extends CliError {
  readonly status: number;
  readonly code: string | undefined;
  readonly body: unknown;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(status: number, body: unknown, retryAfterMs?: number) {
    const d = describeServerError(status, body);
    super(`${d.code ?? 'HTTP ' + status}${d.code ? ` (HTTP ${status})` : ''}: ${d.message}`, ExitCodes.failure, { hints: d.details });
    this.name = 'ApiError';
    this.status = status;
    this.code = d.code;
    this.body = body;
    // the server's own flag wins; otherwise the statuses that mean "try again later"
    this.retryable = d.retryable ?? [429, 502, 503, 504].includes(status);
    this.retryAfterMs = retryAfterMs;
  }
}

export interface ServerErrorDescription {
  code: string | undefined;
  message: string;
  /** One line per bad field (zod issues) or other detail. */
  details: string[];
  retryable: boolean | undefined;
}

/**
 * Reads the error bodies Tributary and Fastify send: `{error:{code,message,details}}`,
 * `{code,message,details,retryable}`, Fastify's `{statusCode,error,message}`, or plain text.
 */
export function describeServerError(status: number, body: unknown): ServerErrorDescription {
  if (typeof body === 'string') {
    const text = body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
    return { code: undefined, message: text.slice(0, 500) || `HTTP ${status}`, details: [], retryable: undefined };
  }
  if (body === null || typeof body !== 'object') return { code: undefined, message: `HTTP ${status}`, details: [], retryable: undefined };
  const outer = body as Record<string, unknown>;
  const inner = outer['error'] !== null && typeof outer['error'] === 'object' ? (outer['error'] as Record<string, unknown>) : outer;
  const code = typeof inner['code'] === 'string' ? inner['code'] : undefined;
  const message = typeof inner['message'] === 'string' ? inner['message']
    : typeof outer['message'] === 'string' ? outer['message']
      : typeof outer['error'] === 'string' ? outer['error'] : `HTTP ${status}`;
  const retryable = typeof inner['retryable'] === 'boolean' ? inner['retryable'] : undefined;
  return { code, message, details: formatDetails(inner['details'] ?? outer['details']), retryable };
}

function formatDetails(details: unknown): string[] {
  if (details === undefined || details === null) return [];
  if (Array.isArray(details)) {
    return details.slice(0, 20).map((d) => {
      if (typeof d === 'string') return d;
      if (d && typeof d === 'object') {
        const issue = d as { path?: unknown; message?: unknown };
        const path = Array.isArray(issue.path) ? issue.path.map(String).join('.') : typeof issue.path === 'string' ? issue.path : '';
        if (typeof issue.message === 'string') return path ? `${path}: ${issue.message}` : issue.message;
      }
      return JSON.stringify(d);
    }).concat(details.length > 20 ? [`… and ${details.length - 20} more`] : []);
  }
  if (typeof details === 'object') return [JSON.stringify(details).slice(0, 500)];
  return [String(details)];
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** The network error code behind a failed fetch (undici wraps it in `cause`, sometimes an AggregateError). */
export function networkErrorCode(e: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [e];
  while (queue.length > 0) {
    const cur = queue.shift();
    if (cur === null || typeof cur !== 'object' || seen.has(cur)) continue;
    seen.add(cur);
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    queue.push((cur as { cause?: unknown }).cause);
    const errors = (cur as { errors?: unknown }).errors;
    if (Array.isArray(errors)) queue.push(...errors);
  }
  return undefined;
}

export function unreachableError(baseUrl: string, code: string, cause: unknown): CliError {
  if (code === 'ECONNREFUSED') {
    return new CliError(`Tributary is not running at ${baseUrl}; start it with \`npm start\``, ExitCodes.unavailable, {
      cause, hints: [`(or point ${URL_ENV} at a running server)`],
    });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new CliError(`cannot resolve the host of ${baseUrl} (${code}); check ${URL_ENV}`, ExitCodes.unavailable, { cause });
  }
  return new CliError(`could not reach Tributary at ${baseUrl} (${code})`, ExitCodes.unavailable, { cause });
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  accept?: string;
  signal?: AbortSignal;
  /** Per-request timeout; 0 = none (streams). */
  timeoutMs?: number;
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly defaultTimeoutMs: number;

  private readonly apiKey: string | undefined;

  constructor(baseUrl: string, options: { fetch?: typeof fetch; timeoutMs?: number; apiKey?: string } = {}) {
    this.baseUrl = baseUrl;
    this.fetchImpl = options.fetch ?? fetch;
    this.defaultTimeoutMs = options.timeoutMs ?? 60_000;
    this.apiKey = options.apiKey;
  }

  url(path: string, query?: RequestOptions['query']): string {
    const u = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.href;
  }

  /** Sends a request; resolves with a 2xx response, throws ApiError or an "unreachable" CliError. */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const signals = [options.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter((s): s is AbortSignal => s !== undefined);
    const headers: Record<string, string> = { accept: options.accept ?? 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (this.apiKey) headers['authorization'] = `Bearer ${this.apiKey}`;
    let res: Response;
    try {
      res = await this.fetchImpl(this.url(path, options.query), {
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        ...(signals.length > 0 ? { signal: AbortSignal.any(signals) } : {}),
      });
    } catch (e) {
      if ((e as { name?: unknown }).name === 'TimeoutError') {
        throw new CliError(`${method} ${path} timed out after ${Math.round(timeoutMs / 1000)} s (server at ${this.baseUrl})`, ExitCodes.failure, { cause: e });
      }
      if ((e as { name?: unknown }).name === 'AbortError') throw e;
      const code = networkErrorCode(e);
      if (code) throw unreachableError(this.baseUrl, code, e);
      const cause = (e as { cause?: { message?: unknown } }).cause?.message;
      const detail = typeof cause === 'string' && cause ? ` (${cause})` : '';
      throw new CliError(`${method} ${this.baseUrl}${path} failed: ${(e as Error).message}${detail}`, ExitCodes.unavailable, { cause: e });
    }
    if (!res.ok) {
      const body = await readBody(res);
      throw new ApiError(res.status, body, parseRetryAfter(res.headers.get('retry-after')));
    }
    return res;
  }

  async json(method: string, path: string, options: RequestOptions = {}): Promise<unknown> {
    const res = await this.send(method, path, options);
    return readBody(res);
  }
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text().catch(() => '');
  if (text === '') return null;
  if ((res.headers.get('content-type') ?? '').includes('json')) {
    try { return JSON.parse(text) as unknown; } catch { return text; }
  }
  return text;
}

/** Retry-After as seconds or an HTTP date, in ms. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
