import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { FilesystemDatasetRegistry } from '../../adapters/dataset-registry/filesystem/filesystem-dataset-registry.ts';
import { describeDatasetRegistryConformance } from './dataset-registry.conformance.ts';

describeDatasetRegistryConformance('filesystem (under the data directory)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tributary-datasets-'));
  return {
    registry: new FilesystemDatasetRegistry({ root }),
    async tamper(dataset, version, file) { appendFileSync(join(root, dataset, version, file), 'x'); },
    async cleanup() { rmSync(root, { recursive: true, force: true }); },
  };
});

it('filesystem registry: concurrent pins of the same content leave one complete version and no temporary directory', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tributary-datasets-'));
  try {
    const registry = new FilesystemDatasetRegistry({ root });
    const req = { dataset: 'd', format: 'chat-sft', files: [{ name: 'train.jsonl', content: new TextEncoder().encode('{"a":1}\n') }], counts: {}, sources: {}, createdAtMs: 1 };
    const results = await Promise.all(Array.from({ length: 5 }, () => registry.pin(req)));
    expect(new Set(results.map((r) => r.manifest.version)).size).toBe(1);
    expect(results.filter((r) => r.created).length).toBeGreaterThanOrEqual(1);
    expect(readdirSync(join(root, 'd'))).toEqual([results[0]!.manifest.version]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
