import { SchemaRegistryClient, type Client } from '@confluentinc/schemaregistry/dist/schemaregistry-client.js';
import { TributaryError } from '../../../ports/errors.ts';

/**
 * The Schema Registry client (@confluentinc/schemaregistry, Confluent's REST API; Apicurio's
 * `/apis/ccompat/v7` speaks it too). Imported from its module file: the package index also loads
 * every cloud KMS SDK, which costs ~0.8 s at start-up for nothing.
 */
export type RegistryClient = Client;

export interface RegistryClientOptions {
  url: string;
  /** Per-request timeout (ms). */
  timeoutMs?: number;
}

export function createRegistryClient(opts: RegistryClientOptions): RegistryClient {
  return new SchemaRegistryClient({
    baseURLs: [opts.url.replace(/\/+$/, '')],
    createAxiosDefaults: { timeout: opts.timeoutMs ?? 10_000 },
    maxRetries: 2,
    retriesWaitMs: 200,
    retriesMaxWaitMs: 2000,
  });
}

/** A REST error from the registry, recognised by shape (status + Confluent error code), not by class. */
export interface RegistryRestError { status: number; errorCode: number; message: string }

export function asRestError(e: unknown): RegistryRestError | null {
  if (typeof e !== 'object' || e === null) return null;
  const o = e as { status?: unknown; errorCode?: unknown; message?: unknown };
  return typeof o.status === 'number' && typeof o.errorCode === 'number' ? { status: o.status, errorCode: o.errorCode, message: String(o.message ?? '') } : null;
}

/** Confluent error codes: 40401 subject not found, 40402 version not found, 40403 schema not found, 40408 subject has no compatibility set. */
export function isNotFound(e: unknown, ...codes: number[]): boolean {
  const r = asRestError(e);
  return r !== null && r.status === 404 && (codes.length === 0 || codes.includes(r.errorCode));
}

/** Maps a registry failure to a Tributary error: unreachable or 5xx is retryable, the rest is not. */
export function registryError(e: unknown, what: string): TributaryError {
  const r = asRestError(e);
  if (r === null) {
    return new TributaryError('SCHEMA_REGISTRY_UNAVAILABLE', `${what}: Schema Registry unreachable: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
  const msg = `${what}: Schema Registry answered ${r.status} (error ${r.errorCode}): ${r.message}`;
  if (r.status === 401) return new TributaryError('UNAUTHORIZED', msg, { cause: e, upstreamStatus: r.status });
  if (r.status === 403) return new TributaryError('FORBIDDEN', msg, { cause: e, upstreamStatus: r.status });
  if (r.status === 409 || r.status === 422) return new TributaryError('SCHEMA_VIOLATION', msg, { cause: e, upstreamStatus: r.status });
  if (r.status === 404) return new TributaryError('NOT_FOUND', msg, { cause: e, upstreamStatus: r.status });
  if (r.status === 429) return new TributaryError('SCHEMA_REGISTRY_UNAVAILABLE', msg, { cause: e, upstreamStatus: r.status });
  return new TributaryError('SCHEMA_REGISTRY_UNAVAILABLE', msg, { cause: e, upstreamStatus: r.status, retryable: r.status >= 500 });
}
