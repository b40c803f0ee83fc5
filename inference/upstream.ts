import { Pool } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker.ts';
import { ConcurrencyLimiter } from './concurrency-limiter.ts';
import { upstreamBasePath, type UpstreamConfig } from './upstream-config.ts';
import type { BalancerCandidate } from './balancer.ts';

export interface UpstreamTimeouts {
  /** TCP (and TLS) connect. */
  connectMs: number;
  /** Request sent → response headers. */
  firstByteMs: number;
  /** Longest silence between two pieces of the body (an idle stream). */
  idleMs: number;
}

export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/** What the gateway needs of an upstream: a name, the models it serves, its slots and breaker, and a way to send. */
export abstract class UpstreamBase implements BalancerCandidate {
  readonly name: string;
  readonly models: ReadonlySet<string>;
  readonly limiter: ConcurrencyLimiter;
  readonly breaker: CircuitBreaker;

  constructor(o: { name: string; models: readonly string[]; maxConcurrency: number; maxQueue: number; queueTimeoutMs: number }, breaker: CircuitBreakerOptions) {
    this.name = o.name;
    this.models = new Set(o.models);
    this.limiter = new ConcurrencyLimiter({ name: o.name, max: o.maxConcurrency, maxQueue: o.maxQueue, queueTimeoutMs: o.queueTimeoutMs });
    this.breaker = new CircuitBreaker(breaker);
  }

  get outstanding(): number { return this.limiter.outstanding; }
  get capacity(): number { return this.limiter.capacity; }
  get hasFreeSlot(): boolean { return this.limiter.hasFreeSlot; }
  get full(): boolean { return this.limiter.full; }

  /** Sends an OpenAI-compatible request body to `<base>/<endpoint>`; resolves with the status, headers and a body stream. */
  abstract post(endpoint: string, body: Buffer, headers: Record<string, string>, signal: AbortSignal): Promise<UpstreamResponse>;
  /** Active health check. */
  abstract check(timeoutMs: number): Promise<{ ok: boolean; detail: string }>;
  abstract close(): Promise<void>;
}

/**
 * One remote upstream: its keep-alive connection pool, concurrency limiter (slots + bounded queue)
 * and circuit breaker. Its API key lives only here and is only ever sent to it.
 */
export class Upstream extends UpstreamBase {
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly healthPath: string;
  private readonly authorization: string | undefined;
  private readonly timeouts: UpstreamTimeouts;

  constructor(config: UpstreamConfig, timeouts: UpstreamTimeouts, breaker: CircuitBreakerOptions) {
    super(config, breaker);
    const url = new URL(config.url);
    this.basePath = upstreamBasePath(url);
    this.healthPath = config.healthPath ?? `${this.basePath}/models`;
    this.authorization = config.apiKey ? `Bearer ${config.apiKey}` : undefined;
    this.timeouts = timeouts;
    // one connection per slot, plus one for health checks: requests never queue inside undici
    this.pool = new Pool(url.origin, {
      connections: config.maxConcurrency + 1,
      connectTimeout: timeouts.connectMs,
      keepAliveTimeout: 30_000,
      pipelining: 1,
    });
  }

  /** POSTs `body` to `<base>/<endpoint>` with the upstream's own credentials. */
  async post(endpoint: string, body: Buffer, headers: Record<string, string>, signal: AbortSignal): Promise<UpstreamResponse> {
    const h: Record<string, string> = { ...headers, 'content-type': 'application/json' };
    if (this.authorization) h['authorization'] = this.authorization;
    else delete h['authorization'];
    const res = await this.pool.request({
      method: 'POST',
      path: `${this.basePath}/${endpoint}`,
      body,
      headers: h,
      signal,
      headersTimeout: this.timeouts.firstByteMs,
      bodyTimeout: this.timeouts.idleMs,
    });
    return { statusCode: res.statusCode, headers: res.headers, body: res.body };
  }

  /** Active health check: a GET of the health path answered with 2xx in time. */
  async check(timeoutMs: number): Promise<{ ok: boolean; detail: string }> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      const headers: Record<string, string> = {};
      if (this.authorization) headers['authorization'] = this.authorization;
      const res = await this.pool.request({ method: 'GET', path: this.healthPath, headers, signal: ac.signal, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      await res.body.dump();
      return res.statusCode >= 200 && res.statusCode < 300 ? { ok: true, detail: String(res.statusCode) } : { ok: false, detail: `GET ${this.healthPath} answered ${res.statusCode}` };
    } catch (e) {
      return { ok: false, detail: `GET ${this.healthPath} failed: ${(e as { code?: string }).code ?? (e as Error).message}` };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
