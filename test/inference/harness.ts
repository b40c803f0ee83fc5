import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { z } from 'zod';
import { startServer, type RunningServer } from '../../api/server.ts';
import type { UpstreamConfigInput } from '../../inference/upstream-config.ts';
import { loadConfig, type configSchema } from '../../wiring/config.ts';
import { createSystem, type System } from '../../wiring/system.ts';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.ts';

/**
 * Fake GPU upstreams, and Tributary (embedded system + API) listening on 127.0.0.1:0 in front of
 * them. `close()` stops everything and removes the data directory.
 */
export interface ProxyHarness {
  upstreams: FakeUpstream[];
  system: System;
  server: RunningServer;
  url: string;
  /** The official SDK pointed at the proxy. */
  client(opts?: { apiKey?: string; headers?: Record<string, string> }): OpenAI;
  close(): Promise<void>;
}

export interface ProxyHarnessOptions {
  /** One fake upstream per entry; `models` defaults to ["m"]. */
  upstreams: Array<{ name: string; models?: string[]; tokens?: number; tokenDelayMs?: number; firstTokenDelayMs?: number } & Partial<Omit<UpstreamConfigInput, 'name' | 'url' | 'models'>>>;
  config?: Partial<z.input<typeof configSchema>>;
}

export async function startProxyHarness(o: ProxyHarnessOptions): Promise<ProxyHarness> {
  const upstreams: FakeUpstream[] = [];
  for (const u of o.upstreams) upstreams.push(await startFakeUpstream(u.name, u));
  const dir = mkdtempSync(join(tmpdir(), 'tributary-inference-'));
  const config = loadConfig({}, {
    dataDir: dir, embedder: 'hashing', logLevel: 'silent', metricsEnabled: false, partitions: 1, sqliteSync: 'normal', host: '127.0.0.1', port: 0,
    // health checks off unless a test turns them on (a setting for upstreams: only given when there are some)
    ...(o.upstreams.length > 0 ? { inferenceHealthIntervalMs: 0 } : {}),
    inferenceUpstreams: o.upstreams.map((u, i) => {
      const { name, models, tokens: _t, tokenDelayMs: _d, firstTokenDelayMs: _f, ...rest } = u;
      return { name, url: upstreams[i]!.url, models: models ?? ['m'], ...rest };
    }),
    ...o.config,
  });
  const system = await createSystem(config, { consumers: false });
  let server: RunningServer;
  try {
    await system.start(); // the system owns the inference gateway: this starts its health checks
    server = await startServer(system);
  } catch (e) {
    await system.close();
    for (const u of upstreams) await u.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  let closed = false;
  return {
    upstreams, system, server, url: server.url,
    client: (c = {}) => new OpenAI({ baseURL: `${server.url}/v1`, apiKey: c.apiKey ?? 'unused', maxRetries: 0, timeout: 20_000, defaultHeaders: c.headers ?? {} }),
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      await system.close();
      for (const u of upstreams) await u.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
