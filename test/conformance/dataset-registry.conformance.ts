import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DatasetRegistry, PinRequest } from '../../ports/dataset-registry.ts';
import { findTributaryError } from '../../ports/errors.ts';

/** The DatasetRegistry contract, against every adapter: pinned versions are immutable and named by their content. */
export interface DatasetRegistryHarness {
  registry: DatasetRegistry;
  /** Changes the stored bytes of a file behind the registry's back (to test that reads notice). */
  tamper(dataset: string, version: string, file: string): Promise<void>;
  cleanup(): Promise<void>;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function request(overrides: Partial<PinRequest> = {}): PinRequest {
  return {
    dataset: 'support-sft',
    format: 'chat-sft',
    files: [{ name: 'train.jsonl', content: enc('{"messages":[]}\n{"messages":[]}\n') }],
    counts: { items: 2 },
    sources: { cleaned: { '0': 41 } },
    createdAtMs: 1_000,
    ...overrides,
  };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try { await p; } catch (e) { return findTributaryError(e)?.code; }
  return undefined;
}

export function describeDatasetRegistryConformance(name: string, factory: () => Promise<DatasetRegistryHarness>): void {
  describe(`DatasetRegistry conformance: ${name}`, () => {
    let h: DatasetRegistryHarness;
    beforeEach(async () => { h = await factory(); });
    afterEach(async () => { await h.cleanup(); });

    it('pins a version with its manifest and files; the id is the content, so the same content is the same version', async () => {
      const first = await h.registry.pin(request());
      expect(first.created).toBe(true);
      expect(first.manifest).toMatchObject({ dataset: 'support-sft', format: 'chat-sft', counts: { items: 2 }, sources: { cleaned: { '0': 41 } }, createdAtMs: 1_000 });
      expect(first.manifest.version).toMatch(/^[0-9a-f]{20}$/);
      expect(first.manifest.files).toEqual([{ name: 'train.jsonl', bytes: 32, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), records: 2 }]);
      // later, from other offsets, the same bytes: the same version, the first manifest kept
      const again = await h.registry.pin(request({ sources: { cleaned: { '0': 99 } }, createdAtMs: 2_000 }));
      expect(again).toEqual({ manifest: first.manifest, created: false });
      expect(dec(await h.registry.readFile('support-sft', first.manifest.version, 'train.jsonl'))).toBe('{"messages":[]}\n{"messages":[]}\n');
    });

    it('different bytes or format are a different version; versions list oldest first', async () => {
      const a = await h.registry.pin(request());
      const b = await h.registry.pin(request({ files: [{ name: 'train.jsonl', content: enc('{"messages":[1]}\n') }], createdAtMs: 3_000 }));
      const c = await h.registry.pin(request({ format: 'dpo', createdAtMs: 4_000 }));
      expect(new Set([a.manifest.version, b.manifest.version, c.manifest.version]).size).toBe(3);
      expect((await h.registry.versions('support-sft')).map((m) => m.version)).toEqual([a.manifest.version, b.manifest.version, c.manifest.version]);
      expect(await h.registry.versions('other')).toEqual([]);
      expect(await h.registry.manifest('support-sft', '0'.repeat(20))).toBeNull();
    });

    it('the same files in another dataset are another version (the version is an idempotency key across datasets)', async () => {
      const a = await h.registry.pin(request());
      const other = await h.registry.pin(request({ dataset: 'support-sft-copy' }));
      expect(other.created).toBe(true);
      expect(other.manifest.version).not.toBe(a.manifest.version);
      expect(dec(await h.registry.readFile('support-sft-copy', other.manifest.version, 'train.jsonl'))).toBe(dec(await h.registry.readFile('support-sft', a.manifest.version, 'train.jsonl')));
    });

    it('a file changed behind the registry is DATASET_CORRUPT, never served as the pinned version', async () => {
      const { manifest } = await h.registry.pin(request());
      await h.tamper('support-sft', manifest.version, 'train.jsonl');
      expect(await codeOf(h.registry.readFile('support-sft', manifest.version, 'train.jsonl'))).toBe('DATASET_CORRUPT');
      expect(await codeOf(h.registry.readFile('support-sft', manifest.version, 'missing.jsonl'))).toBe('NOT_FOUND');
    });

    it('refuses bad names, duplicate files and an empty version, writing nothing', async () => {
      expect(await codeOf(h.registry.pin(request({ dataset: 'Bad Name' })))).toBe('INVALID_INPUT');
      expect(await codeOf(h.registry.pin(request({ files: [{ name: '../escape.jsonl', content: enc('x') }] })))).toBe('INVALID_INPUT');
      expect(await codeOf(h.registry.pin(request({ files: [{ name: 'a.jsonl', content: enc('x') }, { name: 'a.jsonl', content: enc('y') }] })))).toBe('INVALID_INPUT');
      expect(await codeOf(h.registry.pin(request({ files: [] })))).toBe('INVALID_INPUT');
      expect(await h.registry.versions('support-sft')).toEqual([]);
    });
  });
}
