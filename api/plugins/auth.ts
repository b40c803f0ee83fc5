import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { TributaryError } from '../../ports/errors.ts';
import { LogEvents, type Metrics } from '../../observability/metrics.ts';
import type { ApiKeyConfig } from '../auth/api-key-config.ts';
import { ApiKeyStore } from '../auth/key-store.ts';
import { allows, requiredScope } from '../auth/route-scopes.ts';
import { TokenBucket } from '../auth/token-bucket.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The key that authenticated the request (null in open mode and on open routes). */
    apiKey: ApiKeyConfig | null;
  }
}

const MINUTE = 60_000;

/** Per-key request and token buckets. */
class KeyLimits {
  readonly requests: TokenBucket | null;
  readonly tokens: TokenBucket | null;
  constructor(key: ApiKeyConfig, now: number) {
    this.requests = key.requestsPerMinute ? new TokenBucket(key.requestsPerMinute, MINUTE, now) : null;
    this.tokens = key.tokensPerMinute ? new TokenBucket(key.tokensPerMinute, MINUTE, now) : null;
  }
}

export interface AccessControl {
  /** True when no key is configured: every route is open (the server then binds to loopback only). */
  readonly open: boolean;
  /** Charges inference tokens to the request's key (after the answer, from upstream usage). */
  chargeTokens(request: FastifyRequest, tokens: number): void;
}

/**
 * Access control for the whole API: `Authorization: Bearer <key>` checked against hashed keys,
 * the route's scope (api/auth/route-scopes.ts), then the key's request rate and, on inference
 * routes, its token rate. Runs in onRequest: nothing is parsed for a request that is refused.
 * 401 UNAUTHORIZED, 403 FORBIDDEN, 429 RATE_LIMITED (with Retry-After), in the usual error shape.
 */
export function registerAuth(app: FastifyInstance, opts: { keys: readonly ApiKeyConfig[]; metrics: Metrics; logger: Logger; now?: () => number }): AccessControl {
  const now = opts.now ?? (() => performance.now());
  const store = new ApiKeyStore(opts.keys);
  const limits = new Map<string, KeyLimits>();
  const limitsFor = (key: ApiKeyConfig) => {
    let l = limits.get(key.name);
    if (!l) {
      l = new KeyLimits(key, now());
      limits.set(key.name, l);
    }
    return l;
  };
  app.decorateRequest('apiKey', null);

  if (store.size === 0) {
    return { open: true, chargeTokens() { /* no keys, no limits */ } };
  }

  const reject = (request: FastifyRequest, reason: string, err: TributaryError) => {
    opts.metrics.authRejections.inc({ reason });
    request.log.info({ event: LogEvents.authRejected, reason, key: request.apiKey?.name, route: request.routeOptions.url, code: err.code });
    return err;
  };

  app.addHook('onRequest', async (request, reply) => {
    const scope = requiredScope(request.method, request.routeOptions.url);
    if (scope === 'open') return;
    const header = request.headers.authorization;
    if (!header) {
      reply.header('www-authenticate', 'Bearer realm="tributary"');
      throw reject(request, 'missing', new TributaryError('UNAUTHORIZED', 'this API needs an API key: send the header "Authorization: Bearer <key>"'));
    }
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!m) {
      reply.header('www-authenticate', 'Bearer realm="tributary", error="invalid_request"');
      throw reject(request, 'malformed', new TributaryError('UNAUTHORIZED', 'the Authorization header must be "Bearer <key>"'));
    }
    const key = store.verify(m[1]!);
    if (!key) {
      reply.header('www-authenticate', 'Bearer realm="tributary", error="invalid_token"');
      throw reject(request, 'invalid', new TributaryError('UNAUTHORIZED', 'the API key is not valid'));
    }
    request.apiKey = key;
    if (!allows(key.scopes, scope)) {
      throw reject(request, 'scope', new TributaryError('FORBIDDEN', `key "${key.name}" lacks the "${scope}" scope needed for ${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]} (it has: ${key.scopes.join(', ')})`, {
        details: { required: scope, granted: key.scopes },
      }));
    }
    const l = limitsFor(key);
    const t = now();
    if (l.requests) {
      const r = l.requests.take(1, t);
      if (!r.ok) {
        throw reject(request, 'request_rate', new TributaryError('RATE_LIMITED', `key "${key.name}" is over its limit of ${key.requestsPerMinute} requests per minute; retry in ${Math.ceil(r.retryAfterMs / 1000)} s`, {
          retryAfterMs: r.retryAfterMs, details: { limit: 'requests', perMinute: key.requestsPerMinute },
        }));
      }
    }
    if (l.tokens && scope === 'inference' && request.method === 'POST') {
      const r = l.tokens.check(t);
      if (!r.ok) {
        throw reject(request, 'token_rate', new TributaryError('RATE_LIMITED', `key "${key.name}" is over its limit of ${key.tokensPerMinute} tokens per minute; retry in ${Math.ceil(r.retryAfterMs / 1000)} s`, {
          retryAfterMs: r.retryAfterMs, details: { limit: 'tokens', perMinute: key.tokensPerMinute },
        }));
      }
    }
  });

  return {
    open: false,
    chargeTokens(request, tokens) {
      const key = request.apiKey;
      if (!key || tokens <= 0) return;
      limitsFor(key).tokens?.charge(tokens, now());
    },
  };
}
