import { z } from 'zod';

/**
 * One GPU inference server (vLLM, TGI, SGLang, Ollama — anything OpenAI-compatible) as configured in
 * TRIBUTARY_INFERENCE_UPSTREAMS (a JSON array) or `inferenceUpstreams` in TRIBUTARY_CONFIG_FILE.
 * Defaults live here and only here.
 */
export const upstreamConfigSchema = z.strictObject({
  name: z.string().min(1).max(100).regex(/^[A-Za-z0-9._-]+$/, 'names are letters, digits, ".", "_" or "-"'),
  url: z.url().refine((u) => /^https?:\/\//.test(u), 'must be an http:// or https:// URL')
    .describe('Origin, optionally with a path: http://gpu-a:8000 or http://gpu-a:8000/v1 (requests go to <url>/v1/chat/completions, or <url>/chat/completions when the path already ends in /v1)'),
  models: z.array(z.string().min(1).max(200)).min(1).describe('Model ids this upstream serves (the `model` field clients send)'),
  apiKey: z.string().min(1).optional().describe('Sent to the upstream as a Bearer token; never shown to clients'),
  maxConcurrency: z.number().int().min(1).max(10_000).default(16).describe('Requests in flight at once; more wait in the queue'),
  maxQueue: z.number().int().min(0).max(100_000).default(64).describe('Requests that may wait for a slot; past that: 429'),
  queueTimeoutMs: z.number().int().min(1).max(600_000).default(30_000).describe('Longest wait for a slot; past that: 503'),
  healthPath: z.string().regex(/^\//, 'must start with /').optional().describe('Active health check path on the origin (default: the models list, <base>/models)'),
});

export type UpstreamConfig = z.output<typeof upstreamConfigSchema>;
export type UpstreamConfigInput = z.input<typeof upstreamConfigSchema>;

/** Parses a JSON string (from the environment) before validating; arrays (from a config file) pass as they are. */
export function jsonArray<T extends z.ZodType>(item: T) {
  return z.preprocess((v, ctx) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `is not valid JSON: ${(e as Error).message}` });
      return z.NEVER;
    }
  }, z.array(item));
}

export const upstreamListSchema = jsonArray(upstreamConfigSchema).superRefine((list, ctx) => {
  const seen = new Set<string>();
  for (const [i, u] of list.entries()) {
    if (seen.has(u.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `upstream name "${u.name}" is used twice` });
    seen.add(u.name);
  }
});

/** The request path prefix of an upstream: "/v1" appended unless its URL already ends in /v1. */
export function upstreamBasePath(url: URL): string {
  const p = url.pathname.replace(/\/+$/, '');
  return /\/v1$/.test(p) ? p : `${p}/v1`;
}
