import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APIUserAbortError } from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenAiLauncher, type OpenAiLauncherConfig, type OpenAiLauncherOptions } from '../../../adapters/finetune-launcher/openai/openai-launcher.ts';
import { findTributaryError } from '../../../ports/errors.ts';
import type { LaunchFile, LaunchRequest, LaunchStatus } from '../../../ports/finetune-launcher.ts';
import { FILES, JOBS, startOpenAiFinetuneServer, type OpenAiFinetuneServer } from '../../fixtures/openai-finetune-server.ts';
import { failure } from '../../helpers/failure.ts';

const KEY_ENV = 'TRIBUTARY_TEST_OPENAI_KEY';
const MODEL = 'gpt-4.1-mini-2025-04-14';
const CREATE = `POST ${JOBS}`;
const LIST = `GET ${JOBS}`;
const RETRIEVE = `GET ${JOBS}/:id`;
const UPLOAD = `POST ${FILES}`;

let server: OpenAiFinetuneServer;
let workDir: string;

beforeAll(async () => {
  server = await startOpenAiFinetuneServer();
  workDir = await mkdtemp(join(tmpdir(), 'tributary-openai-launcher-'));
});
afterAll(async () => {
  await server.close();
  await rm(workDir, { recursive: true, force: true });
});
beforeEach(() => server.reset());

function config(overrides: Partial<OpenAiLauncherConfig> = {}): OpenAiLauncherConfig {
  return { type: 'openai', baseUrl: server.baseUrl, apiKeyEnv: KEY_ENV, model: MODEL, pollMs: 10, ...overrides };
}

/** A new launcher each time: as after a restart, it knows nothing but what the server holds. */
function launcher(overrides: Partial<OpenAiLauncherConfig> = {}, options: OpenAiLauncherOptions = {}): OpenAiLauncher {
  return new OpenAiLauncher(config(overrides), { env: { [KEY_ENV]: server.apiKey }, ...options });
}

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

function file(name: string, lines: unknown[]): LaunchFile {
  const content = Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return { name, content, sha256: sha256(content), bytes: content.byteLength, records: lines.length };
}

const sft = (q: string): unknown => ({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: `An answer to ${q} — with “unicode” ✓` }] });
const pair = (q: string): unknown => ({
  input: { messages: [{ role: 'user', content: q }] },
  preferred_output: [{ role: 'assistant', content: 'good' }],
  non_preferred_output: [{ role: 'assistant', content: 'bad' }],
});

function request(opts: { dataset?: string; format?: 'chat-sft' | 'dpo'; files?: LaunchFile[]; seed?: string } = {}): LaunchRequest {
  const dataset = opts.dataset ?? 'support-sft';
  const format = opts.format ?? 'chat-sft';
  const files = opts.files ?? [file('train.jsonl', [sft('what is CDC'), sft(`seed ${opts.seed ?? ''}`)])];
  const datasetVersion = sha256(`${dataset}\n${format}\n${files.map((f) => `${f.name}\0${f.sha256}`).join('\n')}`).slice(0, 20);
  const items = files.find((f) => f.name === 'train.jsonl')?.records ?? files[0]!.records;
  return {
    jobId: `job-${datasetVersion}`,
    dataset,
    datasetVersion,
    format,
    items,
    manifest: {
      dataset, version: datasetVersion, format, createdAtMs: 1_700_000_000_000, counts: { items }, sources: { test: true },
      files: files.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256, records: f.records })),
    },
    files,
    workDir,
  };
}

const signal = (): AbortSignal => new AbortController().signal;

async function pollToEnd(l: OpenAiLauncher, req: LaunchRequest, first: LaunchStatus): Promise<LaunchStatus[]> {
  const seen: LaunchStatus[] = [];
  let cur = first;
  for (let i = 0; i < 10 && (cur.state === 'running' || cur.state === 'launched'); i++) {
    cur = await l.poll(req, cur, signal());
    seen.push(cur);
  }
  return seen;
}

describe('OpenAiLauncher against a real HTTP server speaking the OpenAI fine-tuning API', () => {
  it('chat-sft: uploads the training file, creates one supervised job keyed by the version, polls it to success', async () => {
    const req = request();
    const l = launcher();
    const launched = await l.launch(req, signal());
    expect(server.jobs).toHaveLength(1);
    const job = server.jobs[0]!;
    expect(launched).toEqual({ state: 'running', externalId: job.id });

    // the file: one upload, purpose fine-tune, named after dataset and version, the same bytes
    expect(server.files).toHaveLength(1);
    const uploaded = server.files[0]!;
    expect(uploaded.filename).toBe(`support-sft-${req.datasetVersion}-train.jsonl`);
    expect(uploaded.purpose).toBe('fine-tune');
    expect(uploaded.content.equals(Buffer.from(req.files[0]!.content))).toBe(true);
    expect(uploaded.bytes).toBe(req.files[0]!.bytes);

    // the job
    expect(job.model).toBe(MODEL);
    expect(job.training_file).toBe(uploaded.id);
    expect(job.validation_file).toBeNull();
    expect(job.metadata).toEqual({ tributary_key: req.datasetVersion, tributary_dataset: 'support-sft', tributary_job: req.jobId });
    expect(job.method).toEqual({ type: 'supervised', supervised: {} });
    expect(job.suffix).toBe(`tributary-${req.datasetVersion.slice(0, 8)}`);

    // it asked first: a lookup by the key, sent as the SDK's metadata[k]=v query, before any upload
    const routes = server.requests.map((r) => `${r.method} ${r.path}`);
    expect(routes).toEqual([LIST, `GET ${FILES}`, UPLOAD, CREATE]);
    expect(server.requests[0]!.query).toMatchObject({ 'metadata[tributary_key]': req.datasetVersion });
    expect(server.requests[1]!.query).toMatchObject({ purpose: 'fine-tune' });
    const create = server.requests[3]!;
    expect(create.headers['idempotency-key']).toBe(req.datasetVersion);
    expect(create.headers.authorization).toBe(`Bearer ${server.apiKey}`);

    const seen = await pollToEnd(l, req, launched);
    expect(seen).toEqual([
      { state: 'running', externalId: job.id },
      { state: 'succeeded', externalId: job.id, model: `ft:${MODEL}:tributary:${job.id}` },
    ]);
    expect(server.count(RETRIEVE)).toBe(2);
    expect(server.jobs).toHaveLength(1);
    await l.close();
  });

  it('dpo: a dpo job with the configured hyperparameters, and validation.jsonl as the validation file', async () => {
    const train = file('train.jsonl', [pair('a'), pair('b'), pair('c')]);
    const validation = file('validation.jsonl', [pair('d')]);
    const req = request({ dataset: 'feedback-dpo', format: 'dpo', files: [validation, train] });
    const status = await launcher({ hyperparameters: { n_epochs: 3, beta: 0.1, batch_size: 'auto' } }).launch(req, signal());

    const job = server.jobs[0]!;
    expect(status.externalId).toBe(job.id);
    expect(job.method).toEqual({ type: 'dpo', dpo: { hyperparameters: { n_epochs: 3, beta: 0.1, batch_size: 'auto' } } });
    const byId = new Map(server.files.map((f) => [f.id, f]));
    const trainFile = byId.get(job.training_file)!;
    const validationFile = byId.get(job.validation_file!)!;
    expect(trainFile.filename).toBe(`feedback-dpo-${req.datasetVersion}-train.jsonl`);
    expect(trainFile.content.equals(Buffer.from(train.content))).toBe(true);
    expect(validationFile.filename).toBe(`feedback-dpo-${req.datasetVersion}-validation.jsonl`);
    expect(validationFile.content.equals(Buffer.from(validation.content))).toBe(true);
  });

  it('a version without train.jsonl trains on its first file', async () => {
    const only = file('pairs.jsonl', [pair('x')]);
    const req = request({ format: 'dpo', files: [only] });
    await launcher().launch(req, signal());
    const job = server.jobs[0]!;
    expect(server.files.find((f) => f.id === job.training_file)!.filename).toBe(`support-sft-${req.datasetVersion}-pairs.jsonl`);
    expect(job.method).toEqual({ type: 'dpo', dpo: {} });
  });

  it('polls a job to failure: the error message and code are recorded', async () => {
    server.failNextJob({ code: 'invalid_training_file', message: 'The job failed due to an invalid training file.' });
    const req = request();
    const l = launcher();
    const launched = await l.launch(req, signal());
    const seen = await pollToEnd(l, req, launched);
    expect(seen.at(-1)).toEqual({
      state: 'failed', externalId: server.jobs[0]!.id, error: 'The job failed due to an invalid training file. (invalid_training_file)',
    });
  });

  it('maps queued and cancelled jobs', async () => {
    const req = request();
    const l = launcher();
    const launched = await l.launch(req, signal());
    server.jobs[0]!.status = 'cancelled';
    const cancelled = await l.poll(req, launched, signal());
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.error).toContain(server.jobs[0]!.id);
    server.jobs[0]!.status = 'queued';
    server.options.retrievalsToFinish = 100;
    expect(await l.poll(req, launched, signal())).toEqual({ state: 'running', externalId: server.jobs[0]!.id });
  });

  describe('exactly once per dataset version', () => {
    it('the server created the job but the answer was lost: a restarted launcher finds it by its key, one job, no second upload', async () => {
      server.fault(CREATE, { kind: 'reset-after-acting' });
      const req = request();
      const err = await failure(launcher().launch(req, signal()));
      expect([err.code, err.retryable]).toEqual(['LAUNCHER_UNAVAILABLE', true]);
      expect(err.message).toContain(server.baseUrl);
      expect(err.message).toContain(req.datasetVersion);
      expect(server.jobs).toHaveLength(1);

      const again = await launcher().launch(req, signal());
      expect(again).toEqual({ state: 'running', externalId: server.jobs[0]!.id });
      expect(server.jobs).toHaveLength(1);
      expect(server.count(CREATE)).toBe(1);
      expect(server.count(UPLOAD)).toBe(1);
    });

    it('two sequential launches (from two launcher instances) give the same job; the second only asks', async () => {
      const req = request();
      const first = await launcher().launch(req, signal());
      const before = server.requests.length;
      const second = await launcher().launch(req, signal());
      expect(second).toEqual(first);
      expect(server.jobs).toHaveLength(1);
      expect(server.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([LIST]);
    });

    it('a launch after the job finished returns its final status, not a new job', async () => {
      const req = request();
      const l = launcher();
      await pollToEnd(l, req, await l.launch(req, signal()));
      const again = await launcher().launch(req, signal());
      expect(again).toEqual({ state: 'succeeded', externalId: server.jobs[0]!.id, model: `ft:${MODEL}:tributary:${server.jobs[0]!.id}` });
      expect(server.jobs).toHaveLength(1);
    });

    it('another version is another job', async () => {
      const a = await launcher().launch(request({ seed: 'a' }), signal());
      const b = await launcher().launch(request({ seed: 'b' }), signal());
      expect(a.externalId).not.toBe(b.externalId);
      expect(server.jobs).toHaveLength(2);
    });

    it('a file uploaded before a crash is reused, not uploaded again', async () => {
      const train = file('train.jsonl', [sft('a')]);
      const validation = file('validation.jsonl', [sft('b')]);
      const req = request({ files: [train, validation] });
      // the job creation fails after both uploads
      server.failRequests(CREATE, 503, 1);
      expect((await failure(launcher().launch(req, signal()))).code).toBe('LAUNCHER_UNAVAILABLE');
      expect(server.files).toHaveLength(2);
      expect(server.jobs).toHaveLength(0);

      await launcher().launch(req, signal());
      expect(server.count(UPLOAD)).toBe(2);
      expect(server.files).toHaveLength(2);
      const job = server.jobs[0]!;
      expect(job.training_file).toBe(server.files.find((f) => f.filename.endsWith('-train.jsonl'))!.id);
      expect(job.validation_file).toBe(server.files.find((f) => f.filename.endsWith('-validation.jsonl'))!.id);
    });

    it('a file of the same name but another size is not reused', async () => {
      const req = request();
      server.files.push({
        id: 'file-stale', object: 'file', bytes: 3, created_at: 1, filename: `support-sft-${req.datasetVersion}-train.jsonl`,
        purpose: 'fine-tune', status: 'processed', content: Buffer.from('{}\n'),
      });
      await launcher().launch(req, signal());
      expect(server.count(UPLOAD)).toBe(1);
      expect(server.jobs[0]!.training_file).not.toBe('file-stale');
    });

    it('a server that ignores the metadata filter: the launcher checks each job\'s metadata and pages on with `after`', async () => {
      const reqs = ['a', 'b', 'c', 'd', 'e'].map((seed) => request({ seed }));
      for (const r of reqs) await launcher().launch(r, signal());
      expect(server.jobs).toHaveLength(5);

      server.options.ignoreMetadataFilter = true;
      server.options.maxPageSize = 2;
      const before = server.requests.length;
      // the oldest job is on the last page (newest first)
      const found = await launcher().launch(reqs[0]!, signal());
      expect(found.externalId).toBe(server.jobs[0]!.id);
      expect(server.jobs).toHaveLength(5);
      const lists = server.requests.slice(before);
      expect(lists.map((r) => `${r.method} ${r.path}`)).toEqual([LIST, LIST, LIST]);
      expect(lists.map((r) => r.query.after)).toEqual([undefined, server.jobs[3]!.id, server.jobs[1]!.id]);

      // a version with no job: every page is read, then the job is created
      const fresh = request({ seed: 'f' });
      await launcher().launch(fresh, signal());
      expect(server.jobs).toHaveLength(6);
      expect(server.jobs[5]!.metadata?.tributary_key).toBe(fresh.datasetVersion);
    });
  });

  describe('errors', () => {
    it('a 4xx on create → LAUNCH_REJECTED, not retryable, with the server\'s message, base URL and version', async () => {
      server.failRequests(CREATE, 400, 1, { body: { error: { message: 'Model gpt-nope is not available for fine-tuning', type: 'invalid_request_error', param: 'model', code: 'model_not_available' } } });
      const req = request();
      const err = await failure(launcher().launch(req, signal()));
      expect([err.code, err.retryable, err.upstreamStatus]).toEqual(['LAUNCH_REJECTED', false, 400]);
      expect(err.message).toContain('Model gpt-nope is not available for fine-tuning');
      expect(err.message).toContain(server.baseUrl);
      expect(err.message).toContain(req.datasetVersion);
    });

    it('a wrong API key → 401 → LAUNCH_REJECTED before anything is uploaded', async () => {
      const l = new OpenAiLauncher(config(), { env: { [KEY_ENV]: 'sk-wrong' } });
      const err = await failure(l.launch(request(), signal()));
      expect([err.code, err.retryable, err.upstreamStatus]).toEqual(['LAUNCH_REJECTED', false, 401]);
      expect(err.message).toContain('Incorrect API key');
      expect(server.count(UPLOAD)).toBe(0);
    });

    it('polling a job the server does not know → LAUNCH_REJECTED (404)', async () => {
      const err = await failure(launcher().poll(request(), { state: 'running', externalId: 'ftjob-missing' }, signal()));
      expect([err.code, err.retryable, err.upstreamStatus]).toEqual(['LAUNCH_REJECTED', false, 404]);
      expect(err.message).toContain('ftjob-missing');
    });

    it('a 500 on the lookup → LAUNCHER_UNAVAILABLE, retryable, and nothing uploaded or created', async () => {
      server.failRequests(LIST, 500, 1);
      const err = await failure(launcher().launch(request(), signal()));
      expect([err.code, err.retryable, err.upstreamStatus]).toEqual(['LAUNCHER_UNAVAILABLE', true, 500]);
      expect(server.count(UPLOAD)).toBe(0);
      expect(server.count(CREATE)).toBe(0);
      expect(server.count(LIST)).toBe(1); // the SDK does not retry: the caller does
    });

    it('a 429 on upload → LAUNCHER_UNAVAILABLE with Retry-After', async () => {
      server.failRequests(UPLOAD, 429, 1, { headers: { 'retry-after': '7' } });
      const err = await failure(launcher().launch(request(), signal()));
      expect([err.code, err.retryable, err.upstreamStatus, err.retryAfterMs]).toEqual(['LAUNCHER_UNAVAILABLE', true, 429, 7_000]);
    });

    it('a 409 and a 502 while polling → LAUNCHER_UNAVAILABLE', async () => {
      const req = request();
      const l = launcher();
      const launched = await l.launch(req, signal());
      server.failRequests(RETRIEVE, 409, 1);
      server.failRequests(RETRIEVE, 502, 1);
      for (const status of [409, 502]) {
        const err = await failure(l.poll(req, launched, signal()));
        expect([err.code, err.retryable, err.upstreamStatus]).toEqual(['LAUNCHER_UNAVAILABLE', true, status]);
      }
      expect(await l.poll(req, launched, signal())).toEqual({ state: 'running', externalId: launched.externalId });
    });

    it('connection refused → LAUNCHER_UNAVAILABLE, retryable, naming the base URL', async () => {
      const gone = await startOpenAiFinetuneServer();
      const baseUrl = gone.baseUrl;
      await gone.close();
      const req = request();
      const err = await failure(launcher({ baseUrl }).launch(req, signal()));
      expect([err.code, err.retryable]).toEqual(['LAUNCHER_UNAVAILABLE', true]);
      expect(err.message).toContain(baseUrl);
      expect(err.message).toContain(req.datasetVersion);
    });

    it('a missing or empty API key variable → INVALID_CONFIG at construction, naming the variable', () => {
      for (const env of [{}, { [KEY_ENV]: '' }]) {
        let caught: unknown;
        try {
          new OpenAiLauncher(config(), { env });
        } catch (e) {
          caught = e;
        }
        const err = findTributaryError(caught);
        expect(err?.code).toBe('INVALID_CONFIG');
        expect(err?.message).toContain(KEY_ENV);
      }
    });

    it('an already aborted signal is rethrown as is, before any request', async () => {
      const ac = new AbortController();
      const reason = new Error('stopping');
      ac.abort(reason);
      await expect(launcher().launch(request(), ac.signal)).rejects.toBe(reason);
      expect(server.requests).toHaveLength(0);
    });

    it('an abort during a request rethrows what the SDK threw, not a launcher error', async () => {
      server.fault(LIST, { kind: 'hang', ms: 2_000 });
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      const p = launcher().launch(request(), ac.signal);
      await expect(p).rejects.toBeInstanceOf(APIUserAbortError);
      expect(server.count(UPLOAD)).toBe(0);
    });
  });

  it('uses the fetch and the environment it is given', async () => {
    const urls: string[] = [];
    const recording: typeof fetch = (input, init) => {
      urls.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    };
    const l = new OpenAiLauncher(config({ apiKeyEnv: 'SOME_OTHER_KEY' }), { env: { SOME_OTHER_KEY: server.apiKey }, fetch: recording });
    await l.launch(request(), signal());
    // (the SDK also fetches a data: URL once, to see how multipart bodies are built)
    expect(urls.filter((u) => u.startsWith(server.baseUrl))).toHaveLength(4);
    expect(server.requests).toHaveLength(4);
  });
});
