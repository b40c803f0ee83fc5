import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEmbeddedVectorIndex, type EmbeddedVectorIndexOptions } from '../../../adapters/vector-index/embedded/index.ts';
import { errorCode } from '../../../ports/errors.ts';
import type { ChunkPoint, VectorIndex } from '../../../ports/vector-index.ts';

const DIM = 16;

function vec(axis: number, tilt = 0): Float32Array {
  const v = new Float32Array(DIM);
  v[axis % DIM] = 1;
  v[(axis + 1) % DIM] = v[(axis + 1) % DIM]! + tilt;
  return v;
}

function points(docId: string, version: number, texts: string[], vectors?: Float32Array[], category = 'c'): ChunkPoint[] {
  return texts.map((text, i) => ({
    id: `${docId}-${i}`,
    vector: vectors?.[i] ?? vec(i),
    payload: { doc_id: docId, doc_version: version, chunk_index: i, content_hash: 'h', category, author: 'a', source_ts: 0, embed_model: 'm', title: null, url: null, text },
  }));
}

const code = (e: unknown): string => errorCode(e);

describe('EmbeddedVectorIndex (adapter-specific)', () => {
  let dir: string;
  let path: string;
  const open: VectorIndex[] = [];

  async function openIndex(extra: Partial<EmbeddedVectorIndexOptions> = {}): Promise<VectorIndex> {
    const index = createEmbeddedVectorIndex({ path, dimension: DIM, synchronous: 'normal', ...extra });
    await index.init();
    open.push(index);
    return index;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-embedded-index-'));
    path = join(dir, 'nested', 'index.db');
  });

  afterEach(async () => {
    for (const i of open.splice(0)) await i.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the factory validates options and does no I/O until init', async () => {
    const index = createEmbeddedVectorIndex({ path, dimension: DIM, synchronous: 'full' });
    expect(existsSync(join(dir, 'nested'))).toBe(false);
    await expect(index.count()).rejects.toSatisfy((e: unknown) => code(e) === 'INDEX_UNAVAILABLE');
    await index.init();
    expect(existsSync(path)).toBe(true);
    await index.close();
    await expect(index.count()).rejects.toSatisfy((e: unknown) => code(e) === 'INDEX_UNAVAILABLE');
    expect(() => createEmbeddedVectorIndex({ path, dimension: 0, synchronous: 'full' })).toThrow(/dimension/);
    expect(() => createEmbeddedVectorIndex({ path: '', dimension: 8, synchronous: 'sometimes' as 'full' })).toSatisfy((f: () => unknown) => {
      try { f(); return false; } catch (e) { return code(e) === 'INVALID_CONFIG'; }
    });
  });

  it('refuses a file created with another dimension', async () => {
    const a = await openIndex();
    await a.replaceDocument('d', 1, points('d', 1, ['x']));
    await a.close();
    const other = createEmbeddedVectorIndex({ path, dimension: DIM * 2, synchronous: 'normal' });
    await expect(other.init()).rejects.toSatisfy((e: unknown) => code(e) === 'INDEX_REJECTED' && /16-dimension/.test((e as Error).message));
  });

  it('rejects points that contradict the call', async () => {
    const index = await openIndex();
    const good = points('d', 2, ['a', 'b']);
    const cases: Array<[string, ChunkPoint[]]> = [
      ['other document', [{ ...good[0]!, payload: { ...good[0]!.payload, doc_id: 'e' } }]],
      ['other version', [{ ...good[0]!, payload: { ...good[0]!.payload, doc_version: 1 } }]],
      ['duplicate id', [good[0]!, { ...good[1]!, id: good[0]!.id }]],
      ['NaN', [{ ...good[0]!, vector: new Float32Array(DIM).fill(Number.NaN) }]],
      ['plain array', [{ ...good[0]!, vector: [...vec(0)] as unknown as Float32Array }]],
    ];
    for (const [label, pts] of cases) {
      await expect(index.replaceDocument('d', 2, pts), label).rejects.toSatisfy((e: unknown) => code(e) === 'INDEX_REJECTED');
    }
    await expect(index.replaceDocument('d', Number.NaN, [])).rejects.toSatisfy((e: unknown) => code(e) === 'INDEX_REJECTED');
    await expect(index.search({ k: 0, text: 'x' })).rejects.toSatisfy((e: unknown) => code(e) === 'INDEX_REJECTED');
    await expect(index.search({ k: 1, text: 'x', filter: { colour: 'red' } as never })).rejects.toSatisfy((e: unknown) => code(e) === 'INDEX_REJECTED');
    expect(await index.count()).toBe(0);
  });

  it('a second connection sees every write, before and after it built its dense scan', async () => {
    const writer = await openIndex();
    const reader = await openIndex();
    await writer.replaceDocument('a', 1, points('a', 1, ['first'], [vec(0)]));
    expect((await reader.search({ k: 5, vector: vec(0) })).map((h) => h.id)).toEqual(['a-0']);
    // the reader's scan is built now; later writes reach it through the change log
    await writer.replaceDocument('b', 1, points('b', 1, ['second'], [vec(3)], 'other'));
    await writer.replaceDocument('a', 2, points('a', 2, ['moved'], [vec(5)]));
    expect((await reader.search({ k: 1, vector: vec(3) })).map((h) => h.id)).toEqual(['b-0']);
    expect((await reader.search({ k: 1, vector: vec(5), filter: { category: 'c' } })).map((h) => h.payload.text)).toEqual(['moved']);
    await writer.deleteDocument('b', 2);
    expect((await reader.search({ k: 5, vector: vec(3) })).map((h) => h.id)).toEqual(['a-0']);
    // many chunks near the query, deleted by the writer, must not crowd the reader's candidates
    await writer.replaceDocument('crowd', 1, points('crowd', 1, Array.from({ length: 80 }, () => 'crowd'), Array.from({ length: 80 }, (_, i) => vec(3, i * 0.001))));
    expect((await reader.search({ k: 1, vector: vec(3) }))[0]!.payload.doc_id).toBe('crowd');
    await writer.deleteDocument('crowd', 2);
    expect((await reader.search({ k: 1, candidates: 1, vector: vec(3) })).map((h) => h.id)).toEqual(['a-0']);
    expect(await reader.search({ k: 5, vector: vec(3), filter: { category: 'other' } })).toEqual([]);
  });

  it('a connection that writes after missing another connection\'s write still converges', async () => {
    const one = await openIndex();
    const two = await openIndex();
    await one.replaceDocument('a', 1, points('a', 1, ['a'], [vec(0)]));
    await one.search({ k: 1, vector: vec(0) }); // builds one's scan
    await two.replaceDocument('b', 1, points('b', 1, ['b'], [vec(2)]));
    await one.replaceDocument('c', 1, points('c', 1, ['c'], [vec(4)])); // one has not seen b yet
    for (const [v, id] of [[vec(0), 'a-0'], [vec(2), 'b-0'], [vec(4), 'c-0']] as const) {
      expect((await one.search({ k: 1, vector: v })).map((h) => h.id)).toEqual([id]);
      expect((await two.search({ k: 1, vector: v })).map((h) => h.id)).toEqual([id]);
    }
  });

  it('a reader that fell behind a pruned change log rebuilds its scan', async () => {
    const writer = await openIndex({ changeLogKeep: 5 });
    const reader = await openIndex();
    await writer.replaceDocument('seed', 1, points('seed', 1, ['seed'], [vec(1)]));
    await reader.search({ k: 1, vector: vec(1) });
    for (let d = 0; d < 100; d++) await writer.replaceDocument(`d${d}`, 1, points(`d${d}`, 1, ['x', 'y', 'z'], [vec(7, d / 100), vec(8), vec(9)]));
    await writer.deleteDocument('seed', 2);
    const hits = await reader.search({ k: 1000, vector: vec(7) });
    expect(hits).toHaveLength(300);
    expect(hits[0]!.id).toBe('d0-0');
  });

  it('prunes keyword terms found in most chunks of a large index, keeping the informative ones', async () => {
    const index = await openIndex({ keywordPruning: { minChunks: 10 } });
    for (let d = 0; d < 30; d++) await index.replaceDocument(`d${d}`, 1, points(`d${d}`, 1, [`common words everywhere ${d % 10 === 0 ? 'rare' : ''}`]));
    expect((await index.search({ k: 10, text: 'common everywhere rare' })).map((h) => h.payload.doc_id).sort()).toEqual(['d0', 'd10', 'd20']);
    expect(await index.search({ k: 10, text: 'common everywhere' })).toEqual([]);
    const unpruned = await openIndex({ keywordPruning: { minChunks: 1_000 } });
    expect(await unpruned.search({ k: 50, text: 'common everywhere' })).toHaveLength(30);
  });

  for (const sync of ['normal', 'full'] as const) {
    it(`keeps every acknowledged write when the writer is killed with SIGKILL (synchronous=${sync})`, async () => {
      const fixture = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));
      const child = spawn(process.execPath, [fixture, path, sync], { stdio: ['ignore', 'pipe', 'pipe'] });
      let acked = -1;
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
      await new Promise<void>((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (b: Buffer) => {
          buf += b.toString();
          const lines = buf.split('\n');
          buf = lines.pop()!;
          for (const l of lines) if (l.startsWith('acked ')) acked = Number(l.slice(6));
          if (acked >= 150) {
            child.kill('SIGKILL');
            resolve();
          }
        });
        child.on('exit', (c) => { if (acked < 150) reject(new Error(`writer exited early (${c}): ${stderr}`)); });
      });
      await new Promise((r) => child.once('exit', r).once('close', r));
      const index = await openIndex();
      const versions = await index.documentVersions(Array.from({ length: acked + 1 }, (_, n) => `doc-${n}`));
      expect(versions.size).toBe(acked + 1);
      const count = await index.count();
      expect(count).toBeGreaterThanOrEqual((acked + 1) * 4);
      expect(count % 4).toBe(0); // whole documents only: no torn transaction
      expect((await index.search({ k: 1, text: `document ${acked} chunk 3` }))[0]?.payload.doc_id).toBe(`doc-${acked}`);
    });
  }
});
