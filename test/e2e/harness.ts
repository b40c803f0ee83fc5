import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { freePort } from '../helpers/free-port.ts';

/** Runs `tributary dev` as a child process (the same command `npm start` runs) against a data dir. */

const ROOT = resolve(import.meta.dirname, '../..');

export interface RunningSystem {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** SIGKILL, no chance to clean up. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<number | null>;
}

export async function startSystem(dataDir: string, env: Record<string, string> = {}): Promise<RunningSystem> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'cli/main.ts'), 'dev'], {
    cwd: ROOT,
    // the embedded store and index unless the caller names a MongoDB or a Qdrant: neither is inherited from the test's environment
    env: { ...process.env, QDRANT_URL: '', QDRANT_API_KEY: '', QDRANT_COLLECTION: '', MONGODB_URL: '', PORT: String(port), HOST: '127.0.0.1', TRIBUTARY_DATA_DIR: dataDir, TRIBUTARY_LOG_LEVEL: 'warn', TRIBUTARY_EMBEDDER: 'hashing', TRIBUTARY_FRESHNESS_PROBE_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.length > 200_000) out = out.slice(-100_000); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); if (out.length > 200_000) out = out.slice(-100_000); });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tributary dev exited with ${child.exitCode}:\n${out}`);
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`tributary dev not ready in 30 s:\n${out}`); }
    await sleep(50);
  }
  return {
    url,
    child,
    output: () => out,
    kill9: async () => { child.kill('SIGKILL'); await exited; },
    stop: async () => { child.kill('SIGTERM'); return exited; },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function api<T = unknown>(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await r.text();
  let parsed: unknown = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, body: parsed as T };
}

export async function waitUntil(pred: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/** True when every consumer group has caught up with the end of every partition. */
export async function caughtUp(url: string): Promise<boolean> {
  const r = await api<{ groups: Array<{ group: string; lag: number }> }>(url, 'GET', '/v1/ops/lag');
  if (r.status !== 200) return false;
  const rows = r.body.groups.filter((g) => g.group === 'clean' || g.group === 'embed');
  return rows.length > 0 && rows.every((g) => g.lag === 0);
}
