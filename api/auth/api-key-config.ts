import { createHash } from 'node:crypto';
import { z } from 'zod';

/** What a key may do. `admin` may do everything. */
export const SCOPES = ['ingest', 'query', 'inference', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * One API key as configured (TRIBUTARY_API_KEYS, TRIBUTARY_API_KEYS_FILE or `apiKeys` in
 * TRIBUTARY_CONFIG_FILE). Only the SHA-256 of the key is configured, never the key itself.
 */
export const apiKeyConfigSchema = z.strictObject({
  name: z.string().min(1).max(100).describe('Who holds the key (logs, metrics and error messages use it)'),
  sha256: z.string().regex(/^(sha256:)?[0-9a-fA-F]{64}$/, 'must be the hex SHA-256 of the key (printf %s "$KEY" | sha256sum)')
    .transform((h) => h.replace(/^sha256:/, '').toLowerCase()),
  scopes: z.array(z.enum(SCOPES)).min(1),
  requestsPerMinute: z.number().int().min(1).max(10_000_000).optional().describe('Requests per minute (a token bucket: bursts up to this many)'),
  tokensPerMinute: z.number().int().min(1).max(1_000_000_000).optional().describe('Inference tokens (prompt + completion) per minute'),
});

export type ApiKeyConfig = z.output<typeof apiKeyConfigSchema>;

/** The hex SHA-256 of a key, as configured. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}
