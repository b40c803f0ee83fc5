import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../../helpers/free-port.ts';

/**
 * A real Schema Registry for the tests: Apicurio Registry (in-memory storage) fetched from Maven
 * Central by fetch-apicurio.sh into the user cache, started on a free loopback port, spoken to
 * through its Confluent-compatible API. TRIBUTARY_TEST_SCHEMA_REGISTRY_URL points the tests at
 * another registry (e.g. Confluent's) instead.
 */

const here = dirname(fileURLToPath(import.meta.url));
const VERSION = '3.0.9';
const CCOMPAT = '/apis/ccompat/v7';

export interface TestRegistry {
  /** Base URL of the Confluent-compatible API. */
  url: string;
  stop(): Promise<void>;
}

/** Why the registry can't run here (no Java or Maven), or null when it can. */
export async function registryUnavailableReason(): Promise<string | null> {
  if (process.env['TRIBUTARY_TEST_SCHEMA_REGISTRY_URL']) return null;
  for (const [tool, args] of [['java', ['-version']], ['mvn', ['-v']]] as const) {
    try { await promisify(execFile)(tool, [...args], { timeout: 30_000 }); } catch {
      return `install ${tool === 'java' ? 'a JDK 17+' : 'Maven'} (the Schema Registry tests run Apicurio Registry: Java 17+ and Maven), or set TRIBUTARY_TEST_SCHEMA_REGISTRY_URL`;
    }
  }
  return null;
}

export async function startTestRegistry(): Promise<TestRegistry> {
  const external = process.env['TRIBUTARY_TEST_SCHEMA_REGISTRY_URL'];
  if (external) return { url: external.replace(/\/+$/, ''), stop: async () => {} };

  const { stdout } = await promisify(execFile)('bash', [join(here, 'fetch-apicurio.sh')], { env: { ...process.env, APICURIO_VERSION: VERSION }, timeout: 600_000 });
  const appDir = stdout.trim().split('\n').pop()!;
  const port = await freePort();
  const logDir = mkdtempSync(join(tmpdir(), 'tributary-apicurio-'));
  const logFile = join(logDir, 'registry.log');
  const logStream = createWriteStream(logFile);
  const child: ChildProcess = spawn('java', [
    '-Xmx384m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1',
    `-Dquarkus.http.port=${port}`, '-Dquarkus.http.host=127.0.0.1',
    '-Dquarkus.log.level=WARN', '-Dquarkus.http.access-log.enabled=false',
    '-jar', `apicurio-registry-app-${VERSION}-runner.jar`,
  ], { cwd: appDir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(logStream);
  child.stderr!.pipe(logStream);
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) => child.once('exit', (code) => { exited = code; resolve(); }));

  const stop = async () => {
    if (exited === undefined) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(killer);
    }
    logStream.end();
    rmSync(logDir, { recursive: true, force: true });
  };

  const url = `http://127.0.0.1:${port}${CCOMPAT}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited !== undefined) {
      const log = readFileSync(logFile, 'utf8').slice(-3000);
      await stop();
      throw new Error(`Apicurio Registry exited with code ${exited} before it was ready:\n${log}`);
    }
    try {
      const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error('Apicurio Registry was not ready within 120 s');
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { url, stop };
}
