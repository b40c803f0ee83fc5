import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QdrantClient } from '@qdrant/js-client-rest';
import { expect } from 'vitest';
import { createEmbeddedVectorIndex } from '../../adapters/vector-index/embedded/index.ts';
import type { ChunkPayload } from '../../ports/vector-index.ts';
import type { Need } from './ci.ts';

/**
 * Where a suite's Tributary processes index, and how the suite reads the index back on its own:
 *  - embedded: the SQLite index in the data directory, read through the embedded adapter;
 *  - qdrant: a collection of its own on the Qdrant at QDRANT_URL, read back through Qdrant's own
 *    REST API (scroll), not through Tributary's adapter, and dropped afterwards.
 * The exact-index suites run once per target: always on the embedded index, and on Qdrant whenever
 * QDRANT_URL is set (the GitHub workflow runs Qdrant as a service; no Qdrant server runs here).
 */
export interface IndexTarget {
  readonly kind: 'embedded' | 'qdrant';
  /** Environment for every Tributary process of the suite. */
  env(): Record<string, string>;
  /** Every point in the index: id and payload, grouped by document. */
  read(dataDir: string, dimension: number): Promise<Map<string, Array<{ id: string; payload: ChunkPayload }>>>;
  /** Drops what the suite created (the Qdrant collections). */
  cleanup(): Promise<void>;
}

export const QDRANT_URL = process.env['QDRANT_URL'] || undefined;
const QDRANT_API_KEY = process.env['QDRANT_API_KEY'] || undefined;

export function embeddedTarget(): IndexTarget {
  return {
    kind: 'embedded',
    // the processes inherit the test's environment: a QDRANT_URL there must not move them to Qdrant
    env: () => ({ QDRANT_URL: '', QDRANT_API_KEY: '', QDRANT_COLLECTION: '' }),
    async read(dataDir, dimension) {
      const index = createEmbeddedVectorIndex({ path: join(dataDir, 'index.db'), dimension, synchronous: 'normal' });
      await index.init();
      try {
        const byDoc = new Map<string, Array<{ id: string; payload: ChunkPayload }>>();
        for await (const p of index.scan()) byDoc.set(p.payload.doc_id, [...(byDoc.get(p.payload.doc_id) ?? []), p]);
        return byDoc;
      } finally {
        await index.close();
      }
    },
    async cleanup() {},
  };
}

export function qdrantTarget(url: string): IndexTarget {
  const collection = `tributary_it_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  // made on first use: a skipped Qdrant variant builds its target while its tests are collected
  let client: QdrantClient | null = null;
  const qdrant = () => (client ??= new QdrantClient({ url, apiKey: QDRANT_API_KEY, checkCompatibility: false }));
  return {
    kind: 'qdrant',
    env: () => ({ QDRANT_URL: url, QDRANT_COLLECTION: collection, ...(QDRANT_API_KEY ? { QDRANT_API_KEY } : {}) }),
    async read() {
      const byDoc = new Map<string, Array<{ id: string; payload: ChunkPayload }>>();
      let offset: string | number | null | undefined;
      do {
        const page = await qdrant().scroll(collection, { limit: 1000, with_payload: true, with_vector: false, ...(offset != null ? { offset } : {}) });
        for (const p of page.points) {
          const payload = p.payload as unknown as ChunkPayload;
          byDoc.set(payload.doc_id, [...(byDoc.get(payload.doc_id) ?? []), { id: String(p.id), payload }]);
        }
        offset = page.next_page_offset as string | number | null | undefined;
      } while (offset != null);
      return byDoc;
    },
    async cleanup() {
      if (!client) return;
      for (const name of [collection, `${collection}_doc_versions`]) await client.deleteCollection(name).catch(() => undefined);
    },
  };
}

/** What would run the suites that need Qdrant (null: QDRANT_URL is set). CI is not given one: they skip there too. */
export const QDRANT_NEED = { toRun: QDRANT_URL ? null : 'set QDRANT_URL (e.g. http://127.0.0.1:6333)', inCi: 'skip' } as const satisfies Need;

/**
 * The targets a suite runs on: embedded always, Qdrant when QDRANT_URL is set. Both are always
 * listed, each with its need: without QDRANT_URL the Qdrant variant's tests are collected and
 * reported as skipped (`describeWith(need, …)`), all of them, saying what would run them.
 */
export function indexTargets(): Array<{ kind: IndexTarget['kind']; make: () => IndexTarget; need: Need }> {
  return [
    { kind: 'embedded', make: embeddedTarget, need: { toRun: null, inCi: 'fail' } },
    { kind: 'qdrant', make: () => qdrantTarget(QDRANT_URL ?? 'http://qdrant-url-not-set.invalid'), need: QDRANT_NEED },
  ];
}

/**
 * Where each consumer process of a suite runs. With the embedded index they share the suite's data
 * directory (the SQLite index lives there); with Qdrant each gets an empty directory of its own,
 * which must still be empty at the end: nothing on disk is shared.
 */
export function consumerDirs(target: IndexTarget, shared: () => string): { next(): string; expectEmpty(): void; remove(): void } {
  const own: string[] = [];
  return {
    next() {
      if (target.kind === 'embedded') return shared();
      const d = mkdtempSync(join(tmpdir(), 'tributary-consumer-'));
      own.push(d);
      return d;
    },
    expectEmpty() {
      for (const d of own) expect(readdirSync(d), `files written by a consumer process in ${d}`).toEqual([]);
    },
    remove() {
      for (const d of own.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}
