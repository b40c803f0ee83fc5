import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp, type BuildAppOptions } from '../../api/app.ts';
import { loadConfig, type configSchema } from '../../wiring/config.ts';
import { createSystem, type CreateSystemOptions, type System } from '../../wiring/system.ts';
import type { z } from 'zod';

/**
 * A real embedded system in a temporary directory (hashing embedder, no LLM unless given) and the
 * API built on it. `close()` closes the app, then the system, then removes the directory.
 */
export interface ApiHarness {
  system: System;
  app: FastifyInstance;
  dir: string;
  close(): Promise<void>;
}

export async function startApiHarness(opts: {
  config?: Partial<z.input<typeof configSchema>>;
  wrap?: (s: System) => System;
  /** createSystem's options (e.g. a faster lag monitor). */
  system?: CreateSystemOptions;
  /** buildApp's options (e.g. a faster /ops history sampler). */
  app?: BuildAppOptions;
} = {}): Promise<ApiHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-api-'));
  const config = loadConfig({}, {
    dataDir: dir, embedder: 'hashing', logLevel: 'silent', metricsEnabled: false,
    partitions: 2, sqliteSync: 'normal', batchMaxWaitMs: 5, retryBaseMs: 5, retryMaxMs: 50, maxAttempts: 2,
    // the freshness probe's document would add to the documents the suites count
    freshnessProbeMs: 0,
    ...opts.config,
  });
  const base = await createSystem(config, opts.system);
  const system = opts.wrap ? opts.wrap(base) : base;
  let app: FastifyInstance;
  try {
    app = await buildApp(system, opts.app);
  } catch (e) {
    await base.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  let closed = false;
  return {
    system, app, dir,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await base.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface SseEvent {
  event: string;
  data: unknown;
}

/** Parses a complete text/event-stream body. */
export function parseSse(body: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of body.split('\n\n')) {
    if (!block.trim()) continue;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    out.push({ event, data: data.length ? JSON.parse(data.join('\n')) : null });
  }
  return out;
}

/** Reads a streamed response body until `marker` has arrived (the rest stays unread); throws if the body ends first. */
export async function readUntil(res: Response, marker: string): Promise<string> {
  const reader = res.body!.getReader();
  let seen = '';
  while (!seen.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before "${marker}": ${seen}`);
    seen += Buffer.from(value).toString('utf8');
  }
  reader.releaseLock();
  return seen;
}
