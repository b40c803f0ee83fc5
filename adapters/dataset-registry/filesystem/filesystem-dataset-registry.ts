import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatasetFileInfo, DatasetManifest, DatasetRegistry, PinRequest } from '../../../ports/dataset-registry.ts';
import { TributaryError, findTributaryError } from '../../../ports/errors.ts';

const DATASET_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const VERSION = /^[0-9a-f]{20}$/;
const MANIFEST = 'manifest.json';

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/**
 * The version id: a hash of the dataset's name, the format and the files' names and hashes, in name
 * order. The name is part of it so that two datasets holding the same items still have different
 * versions: the version is the launch's idempotency key, and one receiver may serve both.
 */
export function datasetVersionId(dataset: string, format: string, files: ReadonlyArray<{ name: string; sha256: string }>): string {
  const lines = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((f) => `${f.name}\0${f.sha256}`);
  return sha256(`${dataset}\n${format}\n${lines.join('\n')}`).slice(0, 20);
}

/**
 * Dataset versions as directories under `root`: `<dataset>/<version>/` holds the files and
 * `manifest.json`. A version is written to a temporary directory, flushed to disk, then renamed into
 * place, so a version directory is either complete or absent; one that exists is never written again.
 */
export class FilesystemDatasetRegistry implements DatasetRegistry {
  readonly kind = 'filesystem';
  private readonly root: string;

  constructor(options: { root: string }) {
    this.root = options.root;
  }

  async pin(req: PinRequest): Promise<{ manifest: DatasetManifest; created: boolean }> {
    checkName(req.dataset);
    if (req.files.length === 0) throw new TributaryError('INVALID_INPUT', `dataset ${req.dataset}: a version needs at least one file`);
    const names = new Set<string>();
    for (const f of req.files) {
      if (!FILE_NAME.test(f.name) || f.name === MANIFEST) throw new TributaryError('INVALID_INPUT', `dataset file name "${f.name}" must be letters, digits, ".", "_" or "-" (and not ${MANIFEST})`);
      if (names.has(f.name)) throw new TributaryError('INVALID_INPUT', `dataset file name "${f.name}" is given twice`);
      names.add(f.name);
    }
    const files: DatasetFileInfo[] = req.files.map((f) => ({ name: f.name, bytes: f.content.byteLength, sha256: sha256(f.content), records: countLines(f.content) }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    const version = datasetVersionId(req.dataset, req.format, files);
    const existing = await this.manifest(req.dataset, version);
    if (existing) return { manifest: existing, created: false };
    const manifest: DatasetManifest = { dataset: req.dataset, version, format: req.format, createdAtMs: req.createdAtMs, counts: req.counts, sources: req.sources, files };
    const dir = join(this.root, req.dataset);
    const tmp = join(dir, `.pin-${version}-${randomUUID()}`);
    try {
      await mkdir(tmp, { recursive: true });
      for (const f of req.files) await writeDurably(join(tmp, f.name), f.content);
      await writeDurably(join(tmp, MANIFEST), Buffer.from(JSON.stringify(manifest, null, 2)));
      try {
        await rename(tmp, join(dir, version));
      } catch (e) {
        // pinned meanwhile by another writer: the same content, so its version stands
        const raced = await this.manifest(req.dataset, version);
        if (raced) return { manifest: raced, created: false };
        throw e;
      }
      await syncDir(dir);
      return { manifest, created: true };
    } catch (e) {
      if (findTributaryError(e)) throw e;
      throw new TributaryError('DATASET_REGISTRY_UNAVAILABLE', `could not write version ${version} of dataset ${req.dataset} under ${dir}: ${(e as Error).message}`, { cause: e });
    } finally {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  async manifest(dataset: string, version: string): Promise<DatasetManifest | null> {
    checkName(dataset);
    if (!VERSION.test(version)) return null;
    let text: string;
    try {
      text = await readFile(join(this.root, dataset, version, MANIFEST), 'utf8');
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return null;
      throw new TributaryError('DATASET_REGISTRY_UNAVAILABLE', `could not read the manifest of ${dataset}@${version}: ${(e as Error).message}`, { cause: e });
    }
    try {
      return JSON.parse(text) as DatasetManifest;
    } catch (e) {
      throw new TributaryError('DATASET_CORRUPT', `the manifest of ${dataset}@${version} is not JSON: ${(e as Error).message}`, { cause: e });
    }
  }

  async versions(dataset: string): Promise<DatasetManifest[]> {
    checkName(dataset);
    let entries: string[];
    try {
      entries = await readdir(join(this.root, dataset));
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return [];
      throw new TributaryError('DATASET_REGISTRY_UNAVAILABLE', `could not list the versions of ${dataset}: ${(e as Error).message}`, { cause: e });
    }
    const out: DatasetManifest[] = [];
    for (const v of entries.filter((n) => VERSION.test(n))) {
      const m = await this.manifest(dataset, v);
      if (m) out.push(m);
    }
    return out.sort((a, b) => a.createdAtMs - b.createdAtMs || (a.version < b.version ? -1 : 1));
  }

  async readFile(dataset: string, version: string, name: string): Promise<Uint8Array> {
    const m = await this.manifest(dataset, version);
    const info = m?.files.find((f) => f.name === name);
    if (!m || !info) throw new TributaryError('NOT_FOUND', `no file "${name}" in ${dataset}@${version}`);
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.root, dataset, version, name));
    } catch (e) {
      throw new TributaryError('DATASET_CORRUPT', `${dataset}@${version} lists ${name} but it cannot be read: ${(e as Error).message}`, { cause: e });
    }
    if (sha256(bytes) !== info.sha256) {
      throw new TributaryError('DATASET_CORRUPT', `${dataset}@${version}/${name} changed on disk (sha256 ${sha256(bytes).slice(0, 12)}…, pinned ${info.sha256.slice(0, 12)}…): a pinned version must never change`);
    }
    return new Uint8Array(bytes);
  }

  async close(): Promise<void> {
    // nothing held open
  }
}

function checkName(dataset: string): void {
  if (!DATASET_NAME.test(dataset)) throw new TributaryError('INVALID_INPUT', `dataset name "${dataset}" must be 1–64 lower-case letters, digits, "_" or "-"`);
}

function countLines(b: Uint8Array): number {
  let n = 0;
  for (const c of b) if (c === 10) n++;
  return b.byteLength > 0 && b[b.byteLength - 1] !== 10 ? n + 1 : n;
}

async function writeDurably(path: string, content: Uint8Array): Promise<void> {
  const fh = await open(path, 'wx');
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
