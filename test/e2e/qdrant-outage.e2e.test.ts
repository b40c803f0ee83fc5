import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../wiring/config.ts';
import { assertIndexExact, makeItem, type Item } from '../helpers/index-expectations.ts';
import { describeWith } from '../helpers/ci.ts';
import { QDRANT_NEED, QDRANT_URL, qdrantTarget, type IndexTarget } from '../helpers/index-target.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { api, caughtUp, sleep, startSystem, waitUntil, type RunningSystem } from './harness.ts';

/**
 * Qdrant goes away mid-stream (a proxy in front of the real server resets every connection and
 * refuses new ones for a few seconds), then comes back: the embed consumer backs off and keeps its
 * batch, readiness names the index as down (degraded: the API stays in service, publishing works),
 * nothing is dead-lettered, and once Qdrant is back the index ends exact. Runs whenever QDRANT_URL is set (the GitHub workflow runs Qdrant as a service).
 */

const DIM = loadConfig({}).hashingDimension;

describeWith(QDRANT_NEED, 'Qdrant outage mid-stream', () => {
  let dir: string;
  let proxy: TcpProxy;
  let target: IndexTarget;
  let sys: RunningSystem | null = null;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-qdrant-outage-'));
    proxy = await startTcpProxy(new URL(QDRANT_URL!));
    target = qdrantTarget(QDRANT_URL!);
  });
  afterAll(async () => {
    if (sys) await sys.kill9();
    await proxy.close();
    await target.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('backs off and retries, readiness says the index is down, nothing is lost or dead-lettered', async () => {
    sys = await startSystem(dir, { ...target.env(), QDRANT_URL: proxy.url, TRIBUTARY_QDRANT_TIMEOUT_MS: '2000', TRIBUTARY_RETRY_MAX_MS: '500' });
    const expected = new Map<string, Item>();
    const publish = async (from: number, to: number) => {
      const items = Array.from({ length: to - from }, (_, i) => makeItem(from + i, 0, 'outage'));
      const r = await api<{ ids: string[] }>(sys!.url, 'POST', '/v1/content', { items });
      expect(r.status).toBe(202);
      r.body.ids.forEach((id, i) => expected.set(id, items[i]!));
    };
    await publish(0, 100);
    await waitUntil(() => caughtUp(sys!.url), 60_000, 'first 100 indexed');

    await proxy.cut();
    await publish(100, 200); // the store takes writes while the index is away
    await waitUntil(async () => {
      // degraded, not out of service: publishing still works while the index is away
      const r = await api<{ status: string; down: string[]; dependencies: Array<{ name: string; kind: string; error: string | null }> }>(sys!.url, 'GET', '/readyz');
      return r.status === 200 && r.body.status === 'degraded' && r.body.down.includes('index') && r.body.dependencies.some((d) => d.name === 'index' && d.kind === 'qdrant' && /INDEX_UNAVAILABLE/.test(d.error ?? ''));
    }, 20_000, 'readiness names the index as down');
    await sleep(3_000); // several retry rounds against the dead index
    expect(await caughtUp(sys.url)).toBe(false);

    await proxy.restore();
    await waitUntil(() => caughtUp(sys!.url), 60_000, 'caught up after Qdrant came back');
    await waitUntil(async () => (await api<{ status: string }>(sys!.url, 'GET', '/readyz')).body.status === 'ready', 20_000, 'ready again');
    const dlq = await api<{ entries: unknown[] }>(sys.url, 'GET', '/v1/ops/dlq');
    expect(dlq.body.entries).toEqual([]);
    expect(await sys.stop()).toBe(0);
    sys = null;
    await assertIndexExact(target, dir, DIM, expected);
  });
});
