import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ExitCodes } from '../../cli/errors.ts';
import type { DatasetManifest } from '../../ports/dataset-registry.ts';
import type { FinetuneJob } from '../../schemas/finetune.ts';
import { main } from '../../cli/main.ts';
import { Capture, runCli } from './helpers.ts';

/**
 * `tributary finetune …` against a small HTTP server in this file that answers the finetune routes
 * as the API contract describes them (bodies, statuses, the file route's bytes and sha256 header),
 * and can be told to serve other bytes or another header than the manifest says.
 */

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

const DATASET = 'support-sft';
const VERSION = 'a1b2c3d4e5f6a7b8c9d0';
// not plain ASCII, one file without a final newline: written byte for byte, not re-encoded
const TRAIN = Buffer.from('{"messages":[{"role":"user","content":"Grüße — ça va?"},{"role":"assistant","content":"Très bien 👍"}]}\n{"messages":[{"role":"user","content":"2"}]}\n', 'utf8');
const VALIDATION = Buffer.from('{"messages":[{"role":"user","content":"v"}]}', 'utf8');

const MANIFEST: DatasetManifest = {
  dataset: DATASET,
  version: VERSION,
  format: 'chat-sft',
  createdAtMs: 1_750_000_000_000,
  counts: { items: 3, documents: 2 },
  sources: { topic: 'tributary.content.cleaned', offsets: { '0': 41 } },
  files: [
    { name: 'train.jsonl', bytes: TRAIN.length, sha256: sha(TRAIN), records: 2 },
    { name: 'validation.jsonl', bytes: VALIDATION.length, sha256: sha(VALIDATION), records: 1 },
  ],
};

const job = (over: Partial<FinetuneJob>): FinetuneJob => ({
  id: `${DATASET}-${VERSION}`, dataset: DATASET, datasetVersion: VERSION, idempotencyKey: over.datasetVersion ?? VERSION, items: 3, state: 'running', launcher: 'openai',
  externalId: 'ftjob-abc123', model: null, error: null, attempts: 1, trigger: 'threshold', requestIds: [],
  createdAt: '2025-06-15T14:00:00.000Z', updatedAt: '2025-06-15T14:05:09.000Z', ...over,
});

const JOBS: FinetuneJob[] = [
  job({}),
  job({ id: 'prefs-dpo-0000aaaa1111bbbb2222', dataset: 'prefs-dpo', datasetVersion: '0000aaaa1111bbbb2222', items: 40, state: 'failed', launcher: 'webhook', externalId: null, error: 'LAUNCH_REJECTED: the receiver answered 422: unknown base model', updatedAt: '2025-06-14T09:00:00.000Z' }),
  job({ id: `${DATASET}-ffffeeeeddddccccbbbb`, datasetVersion: 'ffffeeeeddddccccbbbb', items: 120, state: 'succeeded', model: 'ft:gpt-4.1-mini:acme::B1x2', updatedAt: '2025-06-10T08:00:00.000Z' }),
];

const DATASETS = [
  {
    name: DATASET, source: 'content', format: 'chat-sft', pending: 37, threshold: 500, cooldownMs: 3_600_000, total: 1234,
    lastVersion: VERSION, lastLaunchAt: '2025-06-15T14:00:00.000Z',
    lastWindow: { trigger: 'threshold', requestId: null, openedAt: '2025-06-15T13:59:58.000Z', outcome: 'job', datasetVersion: VERSION, jobId: `${DATASET}-${VERSION}`, message: null },
    launcher: 'openai', updatedAt: '2025-06-15T14:05:00.000Z',
  },
  {
    name: 'prefs-dpo', source: 'feedback', format: 'dpo', pending: 0, threshold: 50, cooldownMs: 0, total: 12,
    lastVersion: null, lastLaunchAt: null,
    lastWindow: { trigger: 'manual', requestId: 'req-1', openedAt: '2025-06-15T12:00:00.000Z', outcome: 'empty', datasetVersion: null, jobId: null, message: 'no preference pairs: every feedback event lacks a rejected answer' },
    launcher: 'webhook', updatedAt: '2025-06-15T12:00:01.000Z',
  },
  {
    name: 'fresh', source: 'content', format: 'chat-sft', pending: 0, threshold: 10, cooldownMs: 0, total: 0,
    lastVersion: null, lastLaunchAt: null, lastWindow: null, launcher: 'command', updatedAt: null,
  },
];

interface Recorded { method: string; path: string; query: URLSearchParams; body: unknown }

interface FakeFinetuneApi {
  url: string;
  requests: Recorded[];
  /** What POST /v1/finetune/trigger answers, per dataset (absent: 404). */
  triggers: Map<string, { status: number; body: unknown }>;
  /** Bytes served for a file instead of the real ones (the manifest and header stay as they were). */
  served: Map<string, Buffer>;
  /** The x-tributary-sha256 header sent for a file instead of its manifest hash. */
  headers: Map<string, string>;
  reset(): void;
  close(): Promise<void>;
}

const errorBody = (code: string, message: string) => ({ error: { code, message } });

async function startFakeFinetuneApi(): Promise<FakeFinetuneApi> {
  const files = new Map<string, Buffer>([['train.jsonl', TRAIN], ['validation.jsonl', VALIDATION]]);
  const api: FakeFinetuneApi = {
    url: '',
    requests: [],
    triggers: new Map(),
    served: new Map(),
    headers: new Map(),
    reset() { api.requests.length = 0; api.triggers.clear(); api.served.clear(); api.headers.clear(); },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body: unknown = text ? JSON.parse(text) : undefined;
    api.requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body });
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /v1/finetune/datasets') { json(res, 200, { datasets: DATASETS }); return; }
    if (route === 'GET /v1/finetune/jobs') {
      const d = url.searchParams.get('dataset');
      const st = url.searchParams.get('state');
      const limit = Number(url.searchParams.get('limit') ?? 100);
      json(res, 200, { jobs: JOBS.filter((j) => (!d || j.dataset === d) && (!st || j.state === st)).slice(0, limit) });
      return;
    }
    if (route === 'POST /v1/finetune/trigger') {
      const dataset = (body as { dataset: string }).dataset;
      const answer = api.triggers.get(dataset);
      if (!answer) { json(res, 404, errorBody('NOT_FOUND', `no fine-tuning dataset named "${dataset}"`)); return; }
      json(res, answer.status, answer.body);
      return;
    }
    const m = /^\/v1\/finetune\/datasets\/([^/]+)\/versions(?:\/([^/]+)(?:\/files\/([^/]+))?)?$/.exec(url.pathname);
    if (req.method === 'GET' && m) {
      const [dataset, version, file] = [m[1], m[2], m[3]].map((p) => (p === undefined ? undefined : decodeURIComponent(p)));
      if (dataset !== DATASET) { json(res, 404, errorBody('NOT_FOUND', `no dataset ${dataset}`)); return; }
      if (version === undefined) { json(res, 200, { versions: [MANIFEST] }); return; }
      if (version !== VERSION) { json(res, 404, errorBody('NOT_FOUND', `dataset ${dataset} has no version ${version}`)); return; }
      if (file === undefined) { json(res, 200, MANIFEST); return; }
      const real = files.get(file);
      if (!real) { json(res, 404, errorBody('NOT_FOUND', `version ${version} has no file ${file}`)); return; }
      const bytes = api.served.get(file) ?? real;
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'content-length': String(bytes.length), 'x-tributary-sha256': api.headers.get(file) ?? sha(real) });
      res.end(bytes);
      return;
    }
    json(res, 404, errorBody('NOT_FOUND', `Route ${req.method}:${url.pathname} not found`));
  };
  const server: Server = createServer((req, res) => { handle(req, res).catch((e: Error) => json(res, 500, errorBody('INTERNAL', e.message))); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return api;
}

let api: FakeFinetuneApi;
let cwd: string;
const env = () => ({ TRIBUTARY_URL: api.url });
const cli = (...argv: string[]) => runCli(['finetune', ...argv], { env: env(), cwd });
const lineOf = (text: string, needle: string) => text.split('\n').find((l) => l.includes(needle)) ?? '';

beforeAll(async () => { api = await startFakeFinetuneApi(); });
afterAll(async () => { await api.close(); });
beforeEach(async () => {
  api.reset();
  cwd = await mkdtemp(join(tmpdir(), 'tributary-finetune-cli-'));
  return () => rm(cwd, { recursive: true, force: true });
});

describe('tributary finetune datasets', () => {
  it('shows each dataset: pending/threshold, totals, last version, launch and window, launcher', async () => {
    const r = await cli('datasets');
    expect(r.code).toBe(ExitCodes.ok);
    const header = r.stdout.split('\n')[0]!;
    expect(header.split(/\s{2,}/)).toEqual(['NAME', 'SOURCE', 'FORMAT', 'PENDING', 'TOTAL', 'LAST VERSION', 'LAST LAUNCH', 'LAST WINDOW', 'LAUNCHER']);
    const sft = lineOf(r.stdout, 'support-sft');
    expect(sft.split(/\s{2,}/)).toEqual(['support-sft', 'content', 'chat-sft', '37/500', '1234', VERSION, '2025-06-15 14:00:00', 'job', 'openai']);
    const dpo = lineOf(r.stdout, 'prefs-dpo');
    expect(dpo.split(/\s{2,}/).slice(0, 7)).toEqual(['prefs-dpo', 'feedback', 'dpo', '0/50', '12', '-', '-']);
    expect(dpo).toMatch(/empty: no preference pairs: every feedback event lacks a rejected …\s+webhook$/);
    expect(lineOf(r.stdout, 'fresh').split(/\s{2,}/)).toEqual(['fresh', 'content', 'chat-sft', '0/10', '0', '-', '-', '-', 'command']);
    // the trigger has not reported "fresh" yet
    expect(r.stdout).toContain('not reported yet: fresh (is the finetune-trigger consumer running?)');
    expect(api.requests.map((q) => `${q.method} ${q.path}`)).toEqual(['GET /v1/finetune/datasets']);
  });

  it('--json prints the server\'s body as it is', async () => {
    const r = await cli('datasets', '--json');
    expect(r.code).toBe(ExitCodes.ok);
    expect(JSON.parse(r.stdout)).toEqual({ datasets: DATASETS });
  });
});

describe('tributary finetune jobs', () => {
  it('shows the jobs with their state, launcher ids, model, and an ERROR column when a job has one', async () => {
    const r = await cli('jobs');
    expect(r.code).toBe(ExitCodes.ok);
    expect(r.stdout.split('\n')[0]!.split(/\s{2,}/)).toEqual(['ID', 'DATASET', 'VERSION', 'ITEMS', 'STATE', 'LAUNCHER', 'EXTERNAL ID', 'MODEL', 'UPDATED', 'ERROR']);
    expect(lineOf(r.stdout, `${DATASET}-${VERSION}`).split(/\s{2,}/)).toEqual([`${DATASET}-${VERSION}`, DATASET, VERSION, '3', 'running', 'openai', 'ftjob-abc123', '-', '2025-06-15 14:05:09']);
    expect(lineOf(r.stdout, 'prefs-dpo-').split(/\s{2,}/)).toEqual(['prefs-dpo-0000aaaa1111bbbb2222', 'prefs-dpo', '0000aaaa1111bbbb2222', '40', 'failed', 'webhook', '-', '-', '2025-06-14 09:00:00', 'LAUNCH_REJECTED: the receiver answered 422: unknown base model']);
    expect(lineOf(r.stdout, 'ffffeeee').split(/\s{2,}/)).toEqual([`${DATASET}-ffffeeeeddddccccbbbb`, DATASET, 'ffffeeeeddddccccbbbb', '120', 'succeeded', 'openai', 'ftjob-abc123', 'ft:gpt-4.1-mini:acme::B1x2', '2025-06-10 08:00:00']);
    expect(r.stdout).toContain(`3 jobs. Export a version's files: tributary finetune export --dataset ${DATASET} --version ${VERSION}`);
  });

  it('passes --dataset, --state and --limit to the server, and leaves out ERROR when no job failed', async () => {
    const r = await cli('jobs', '--dataset', DATASET, '--state', 'succeeded', '--limit', '5');
    expect(r.code).toBe(ExitCodes.ok);
    const q = api.requests[0]!;
    expect([q.path, q.query.get('dataset'), q.query.get('state'), q.query.get('limit')]).toEqual(['/v1/finetune/jobs', DATASET, 'succeeded', '5']);
    expect(r.stdout.split('\n')[0]).not.toContain('ERROR');
    expect(r.stdout).toContain('ft:gpt-4.1-mini:acme::B1x2');
    expect(r.stdout).not.toContain('prefs-dpo');
  });

  it('colours states on a terminal', async () => {
    const stdout = new Capture({ tty: true });
    const stderr = new Capture();
    const code = await main(['finetune', 'jobs'], { stdout, stderr, env: env(), cwd, invokedAs: 'tributary' });
    expect(code).toBe(ExitCodes.ok);
    expect(stdout.text).toContain('\x1b[31mfailed\x1b[39m');
    expect(stdout.text).toContain('\x1b[32msucceeded\x1b[39m');
    expect(stdout.text).toContain('\x1b[36mrunning\x1b[39m');
  });

  it('says so when there are none, and --json passes the body through', async () => {
    const none = await cli('jobs', '--dataset', 'fresh');
    expect(none.stdout).toBe('No fine-tune jobs for dataset fresh yet.\n');
    const j = await cli('jobs', '--json', '--limit', '1');
    expect(JSON.parse(j.stdout)).toEqual({ jobs: [JOBS[0]] });
  });

  it('rejects a state that does not exist before asking the server', async () => {
    const r = await cli('jobs', '--state', 'runing');
    expect(r.code).toBe(ExitCodes.usage);
    expect(r.stderr).toContain('--state "runing" is not a job state');
    expect(r.stderr).toContain('Did you mean --state running?');
    expect(api.requests).toEqual([]);
  });
});

describe('tributary finetune trigger', () => {
  const answer = (status: number, body: object) => api.triggers.set(DATASET, { status, body: { requestId: 'req-42', dataset: DATASET, ...body } });

  it('a new job: prints its id, version and state; exit 0; sends {dataset, waitMs} (15000 by default)', async () => {
    answer(200, { outcome: 'job', job: job({ state: 'pending', trigger: 'manual', requestIds: ['req-42'] }), message: null });
    const r = await cli('trigger', '--dataset', DATASET);
    expect(r.code).toBe(ExitCodes.ok);
    expect(api.requests[0]).toMatchObject({ method: 'POST', path: '/v1/finetune/trigger', body: { dataset: DATASET, waitMs: 15000 } });
    expect(r.stdout).toContain(`New fine-tune job ${DATASET}-${VERSION} for dataset ${DATASET}: version ${VERSION} (3 items), state pending, launcher openai.`);
    expect(r.stdout).toContain(`Follow it: tributary finetune jobs --dataset ${DATASET}`);
  });

  it('an existing job of the same version: says so, with the server\'s message; exit 0', async () => {
    answer(200, { outcome: 'job', job: job({ state: 'succeeded', trigger: 'threshold', requestIds: ['req-42'] }), message: `version ${VERSION} already has job ${DATASET}-${VERSION}` });
    const r = await cli('trigger', '--dataset', DATASET, '--wait', '0');
    expect(r.code).toBe(ExitCodes.ok);
    expect(api.requests[0]!.body).toEqual({ dataset: DATASET, waitMs: 0 });
    expect(r.stdout).toContain(`existing job ${DATASET}-${VERSION} stands (state succeeded`);
    expect(r.stdout).toContain(`version ${VERSION} already has job`);
    expect(r.stdout).not.toContain('New fine-tune job');
  });

  it('pending (202): the trigger has not answered yet; says how to follow; exit 0', async () => {
    answer(202, { outcome: 'pending', job: null, message: 'the finetune-trigger consumer has not answered within 2000 ms' });
    const r = await cli('trigger', '--dataset', DATASET, '--wait', '2000');
    expect(r.code).toBe(ExitCodes.ok);
    expect(r.stdout).toContain(`Pending: the trigger for dataset ${DATASET} (request req-42) was sent`);
    expect(r.stdout).toContain(`tributary finetune jobs --dataset ${DATASET}`);
  });

  it('empty and failed print the message and exit 1', async () => {
    answer(200, { outcome: 'empty', job: null, message: 'no samples: the dataset holds no documents' });
    const empty = await cli('trigger', '--dataset', DATASET);
    expect(empty.code).toBe(ExitCodes.failure);
    expect(empty.stderr).toContain(`empty: dataset ${DATASET} holds nothing to train on; no job was launched: no samples: the dataset holds no documents`);

    answer(200, { outcome: 'failed', job: null, message: 'DATASET_REGISTRY_UNAVAILABLE: disk full' });
    const failed = await cli('trigger', '--dataset', DATASET);
    expect(failed.code).toBe(ExitCodes.failure);
    expect(failed.stderr).toContain(`failed: the window for dataset ${DATASET} failed; no job was launched: DATASET_REGISTRY_UNAVAILABLE: disk full`);
  });

  it('--json prints the body and keeps the outcome\'s exit code', async () => {
    const body = { requestId: 'req-42', dataset: DATASET, outcome: 'empty', job: null, message: 'nothing' };
    api.triggers.set(DATASET, { status: 200, body });
    const r = await cli('trigger', '--dataset', DATASET, '--json');
    expect(JSON.parse(r.stdout)).toEqual(body);
    expect(r.code).toBe(ExitCodes.failure);
  });

  it('an unknown dataset is the server\'s 404; a missing --dataset or a bad --wait are usage errors', async () => {
    const unknown = await cli('trigger', '--dataset', 'nope');
    expect(unknown.code).toBe(ExitCodes.failure);
    expect(unknown.stderr).toContain('NOT_FOUND (HTTP 404): no fine-tuning dataset named "nope"');

    api.reset();
    const missing = await cli('trigger');
    expect(missing.code).toBe(ExitCodes.usage);
    expect(missing.stderr).toContain('error: missing --dataset <name> (usage: tributary finetune trigger --dataset <name> [options])');
    const wait = await cli('trigger', '--dataset', DATASET, '--wait', '60001');
    expect(wait.code).toBe(ExitCodes.usage);
    expect(wait.stderr).toContain('--wait must be a whole number from 0 to 60000');
    const bad = await cli('trigger', '--dataset', 'Bad Name');
    expect(bad.code).toBe(ExitCodes.usage);
    expect(api.requests).toEqual([]);
  });
});

describe('tributary finetune export', () => {
  const exportArgs = (...more: string[]) => cli('export', '--dataset', DATASET, '--version', VERSION, ...more);
  const defaultDir = () => join(cwd, `${DATASET}-${VERSION}`);

  it('writes the files byte for byte and the manifest into ./<dataset>-<version>, printing each file verified', async () => {
    const r = await exportArgs();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(ExitCodes.ok);
    const dir = defaultDir();
    expect((await readdir(dir)).sort()).toEqual(['manifest.json', 'train.jsonl', 'validation.jsonl']);
    expect((await readFile(join(dir, 'train.jsonl'))).equals(TRAIN)).toBe(true);
    expect((await readFile(join(dir, 'validation.jsonl'))).equals(VALIDATION)).toBe(true);
    expect(await readFile(join(dir, 'manifest.json'), 'utf8')).toBe(JSON.stringify(MANIFEST, null, 2));
    expect(lineOf(r.stdout, 'train.jsonl').split(/\s{2,}/)).toEqual(['train.jsonl', String(TRAIN.length), sha(TRAIN), 'verified']);
    expect(lineOf(r.stdout, 'validation.jsonl').split(/\s{2,}/)).toEqual(['validation.jsonl', String(VALIDATION.length), sha(VALIDATION), 'verified']);
    expect(r.stdout).toContain(`to ./${DATASET}-${VERSION}`);
    // nothing else in the working directory: the staging directory is gone
    expect(await readdir(cwd)).toEqual([`${DATASET}-${VERSION}`]);
    expect(api.requests.map((q) => q.path)).toEqual([
      `/v1/finetune/datasets/${DATASET}/versions/${VERSION}`,
      `/v1/finetune/datasets/${DATASET}/versions/${VERSION}/files/train.jsonl`,
      `/v1/finetune/datasets/${DATASET}/versions/${VERSION}/files/validation.jsonl`,
    ]);
  });

  it('--json prints {dir, manifest, files}; --out names the directory (parents created)', async () => {
    const r = await exportArgs('--out', 'out/nested', '--json');
    expect(r.code).toBe(ExitCodes.ok);
    const dir = join(cwd, 'out', 'nested');
    expect(JSON.parse(r.stdout)).toEqual({
      dir,
      manifest: MANIFEST,
      files: [
        { name: 'train.jsonl', sha256: sha(TRAIN), bytes: TRAIN.length, verified: true },
        { name: 'validation.jsonl', sha256: sha(VALIDATION), bytes: VALIDATION.length, verified: true },
      ],
    });
    expect((await readFile(join(dir, 'validation.jsonl'))).equals(VALIDATION)).toBe(true);
  });

  it('refuses a file whose bytes do not match the manifest, naming it and both hashes, and leaves nothing behind', async () => {
    // same length, one byte different; the header still claims the manifest's hash
    const tampered = Buffer.from(VALIDATION);
    tampered[tampered.length - 3] = 'w'.charCodeAt(0);
    api.served.set('validation.jsonl', tampered);
    const r = await exportArgs('--out', 'deep/er/dir');
    expect(r.code).toBe(ExitCodes.failure);
    expect(r.stderr).toContain('validation.jsonl');
    expect(r.stderr).toContain(`sha256 mismatch: the manifest says ${sha(VALIDATION)}, the bytes received hash to ${sha(tampered)}`);
    expect(r.stdout).not.toContain('verified');
    // not the directory, not train.jsonl (verified before the failure), not the parents it created
    expect(await readdir(cwd)).toEqual([]);
  });

  it('refuses bytes beyond the manifest\'s size, and a sha256 header that disagrees with the manifest', async () => {
    api.served.set('train.jsonl', Buffer.concat([TRAIN, Buffer.from('{"extra":1}\n')]));
    const longer = await exportArgs();
    expect(longer.code).toBe(ExitCodes.failure);
    expect(longer.stderr).toContain(`train.jsonl (dataset ${DATASET} version ${VERSION}) failed verification: the server sent more than the manifest's ${TRAIN.length} bytes`);
    expect(await readdir(cwd)).toEqual([]);

    api.reset();
    api.headers.set('train.jsonl', 'ab'.repeat(32));
    const header = await exportArgs();
    expect(header.code).toBe(ExitCodes.failure);
    expect(header.stderr).toContain(`the x-tributary-sha256 header says ${'ab'.repeat(32)}, the manifest ${sha(TRAIN)}`);
    expect(await readdir(cwd)).toEqual([]);
  });

  it('refuses a non-empty directory unless --force, which replaces files of the same names and keeps the others', async () => {
    const dir = defaultDir();
    await mkdir(dir);
    await writeFile(join(dir, 'notes.txt'), 'mine');
    await writeFile(join(dir, 'train.jsonl'), 'old');
    const refused = await exportArgs();
    expect(refused.code).toBe(ExitCodes.failure);
    expect(refused.stderr).toContain(`error: ./${DATASET}-${VERSION} is not empty`);
    expect(refused.stderr).toContain('--force');
    expect(api.requests).toEqual([]);
    expect(await readFile(join(dir, 'train.jsonl'), 'utf8')).toBe('old');

    const forced = await exportArgs('--force');
    expect(forced.code).toBe(ExitCodes.ok);
    expect((await readdir(dir)).sort()).toEqual(['manifest.json', 'notes.txt', 'train.jsonl', 'validation.jsonl']);
    expect((await readFile(join(dir, 'train.jsonl'))).equals(TRAIN)).toBe(true);
    expect(await readFile(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('a failed --force export leaves the directory as it was', async () => {
    const dir = defaultDir();
    await mkdir(dir);
    await writeFile(join(dir, 'train.jsonl'), 'old');
    api.served.set('validation.jsonl', Buffer.from('x'.repeat(VALIDATION.length)));
    const r = await exportArgs('--force');
    expect(r.code).toBe(ExitCodes.failure);
    expect(await readdir(dir)).toEqual(['train.jsonl']);
    expect(await readFile(join(dir, 'train.jsonl'), 'utf8')).toBe('old');
  });

  it('exports into an existing empty directory', async () => {
    await mkdir(join(cwd, 'empty'));
    const r = await exportArgs('-o', 'empty');
    expect(r.code).toBe(ExitCodes.ok);
    expect((await readdir(join(cwd, 'empty'))).sort()).toEqual(['manifest.json', 'train.jsonl', 'validation.jsonl']);
  });

  it('an unknown version is the server\'s 404 and writes nothing; missing options are usage errors', async () => {
    const r = await cli('export', '--dataset', DATASET, '--version', 'ffff0000ffff0000ffff');
    expect(r.code).toBe(ExitCodes.failure);
    expect(r.stderr).toContain(`NOT_FOUND (HTTP 404): dataset ${DATASET} has no version ffff0000ffff0000ffff`);
    expect(await readdir(cwd)).toEqual([]);

    const noVersion = await cli('export', '--dataset', DATASET);
    expect(noVersion.code).toBe(ExitCodes.usage);
    expect(noVersion.stderr).toContain('missing --version <version> (usage: tributary finetune export --dataset <name> --version <version> [options])');
    const traversal = await cli('export', '--dataset', DATASET, '--version', '../x');
    expect(traversal.code).toBe(ExitCodes.usage);
  });

  it('--help shows the usage and examples', async () => {
    const r = await cli('export', '--help');
    expect(r.code).toBe(ExitCodes.ok);
    expect(r.stdout).toContain('Usage: tributary finetune export --dataset <name> --version <version> [options]');
    expect(r.stdout).toContain('Examples:');
    const group = await runCli(['finetune'], { env: env(), cwd });
    expect(group.code).toBe(ExitCodes.usage);
    expect(group.stderr).toContain('Usage: tributary finetune <datasets|jobs|trigger|export> [options]');
  });
});
