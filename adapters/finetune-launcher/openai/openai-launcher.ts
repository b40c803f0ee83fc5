import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, toFile, type ClientOptions } from 'openai';
import type { FineTuningJob, JobCreateParams } from 'openai/resources/fine-tuning/jobs/jobs';
import type { FileObject } from 'openai/resources/files';
import type { DpoHyperparameters, SupervisedHyperparameters } from 'openai/resources/fine-tuning/methods';
import { TributaryError } from '../../../ports/errors.ts';
import type { FinetuneLauncher, LaunchFile, LaunchRequest, LaunchStatus } from '../../../ports/finetune-launcher.ts';
import type { LauncherConfig } from '../../../schemas/finetune.ts';
import { retryAfterFromHeaders } from '../../openai-compatible/upstream-error.ts';

export type OpenAiLauncherConfig = Extract<LauncherConfig, { type: 'openai' }>;

export interface OpenAiLauncherOptions {
  /** Where the API key variable is read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The fetch the SDK uses (default the global one). */
  fetch?: ClientOptions['fetch'];
}

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';

/** The job's metadata key holding the dataset version: what `launch` looks a job up by. */
export const KEY_METADATA = 'tributary_key';

const TRAINING_FILE = 'train.jsonl';
const VALIDATION_FILE = 'validation.jsonl';
/** The API's limit on a fine-tuned model's suffix. */
const SUFFIX_MAX = 64;

/**
 * Launches OpenAI fine-tuning jobs with the official `openai` SDK, exactly once per dataset version.
 *
 * `launch` first lists the fine-tuning jobs whose metadata `tributary_key` is the version (and checks
 * each job's metadata itself, paging on, for servers that ignore the filter): a job found is the
 * answer. Otherwise it uploads the job's files (train.jsonl, or the first file, and validation.jsonl
 * when present) as `<dataset>-<version>-<name>`, reusing a file of that name and size uploaded
 * before (a crash between the upload and the job costs no second upload), and creates the job with
 * the version in its metadata. A crash after the job was created is then found by the next launch.
 *
 * The SDK does not retry (maxRetries 0): the trigger does, with the same request. Unreachable,
 * 408/409/429/5xx → LAUNCHER_UNAVAILABLE (with Retry-After); any other 4xx → LAUNCH_REJECTED. An
 * aborted signal rethrows what the call threw.
 */
export class OpenAiLauncher implements FinetuneLauncher {
  readonly type = 'openai' as const;
  private readonly client: OpenAI;
  private readonly config: OpenAiLauncherConfig;
  private readonly baseUrl: string;

  constructor(config: OpenAiLauncherConfig, options: OpenAiLauncherOptions = {}) {
    const env = options.env ?? process.env;
    const apiKey = env[config.apiKeyEnv];
    if (apiKey === undefined || apiKey === '') {
      throw new TributaryError('INVALID_CONFIG', `the OpenAI fine-tuning launcher needs an API key in the environment variable ${config.apiKeyEnv}, which is not set`);
    }
    this.config = config;
    this.baseUrl = config.baseUrl ?? DEFAULT_OPENAI_BASE_URL;
    // every option the SDK would otherwise read from OPENAI_* variables is given explicitly
    this.client = new OpenAI({
      apiKey,
      baseURL: this.baseUrl,
      organization: null,
      project: null,
      adminAPIKey: null,
      webhookSecret: null,
      maxRetries: 0,
      logLevel: 'off',
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  async launch(req: LaunchRequest, signal: AbortSignal): Promise<LaunchStatus> {
    signal.throwIfAborted();
    const existing = await this.call(req, 'could not look up the job', signal, () => this.findJob(keyOf(req), signal));
    if (existing) return toStatus(existing);

    const training = req.files.find((f) => f.name === TRAINING_FILE) ?? req.files[0];
    if (!training) throw new TributaryError('LAUNCH_REJECTED', `${this.where(req)}: the version has no file to train on`);
    const validation = training.name === VALIDATION_FILE ? undefined : req.files.find((f) => f.name === VALIDATION_FILE);
    const files = validation ? [training, validation] : [training];
    const ids = await this.call(req, 'could not upload the dataset files', signal, () => this.upload(req, files, signal));

    const params: JobCreateParams = {
      model: this.config.model,
      training_file: ids.get(training.name)!,
      suffix: suffixOf(req.datasetVersion),
      metadata: { [KEY_METADATA]: keyOf(req), tributary_dataset: req.dataset, tributary_job: req.jobId },
      method: this.method(req.format),
    };
    if (validation) params.validation_file = ids.get(validation.name)!;
    const job = await this.call(req, 'could not create the fine-tuning job', signal, () => this.client.fineTuning.jobs.create(params, {
      signal,
      idempotencyKey: keyOf(req),
      // the OpenAI client sends no idempotency header of its own (it defines none): send it ourselves
      headers: { 'Idempotency-Key': keyOf(req) },
    }));
    return toStatus(job);
  }

  async poll(req: LaunchRequest, current: LaunchStatus, signal: AbortSignal): Promise<LaunchStatus> {
    signal.throwIfAborted();
    const id = current.externalId;
    if (id === null) {
      // not one of ours (launch always names the job): look it up by its key
      const found = await this.call(req, 'could not look up the job', signal, () => this.findJob(keyOf(req), signal));
      if (!found) throw new TributaryError('LAUNCH_REJECTED', `${this.where(req)}: no fine-tuning job carries this version's key, and none was launched`);
      return toStatus(found);
    }
    return toStatus(await this.call(req, `could not read fine-tuning job ${id}`, signal, () => this.client.fineTuning.jobs.retrieve(id, { signal })));
  }

  async close(): Promise<void> {
    // the SDK holds no connection of its own (fetch keeps its pool)
  }

  /** The job carrying `key` in its metadata, newest first; pages on while the server has more. */
  private async findJob(key: string, signal: AbortSignal): Promise<FineTuningJob | null> {
    for await (const job of this.client.fineTuning.jobs.list({ metadata: { [KEY_METADATA]: key }, limit: 100 }, { signal })) {
      if (job.metadata?.[KEY_METADATA] === key) return job;
    }
    return null;
  }

  /** Uploads `files` (purpose fine-tune), reusing any uploaded before under the same name and size; returns name → file id. */
  private async upload(req: LaunchRequest, files: LaunchFile[], signal: AbortSignal): Promise<Map<string, string>> {
    const wanted = new Map(files.map((f) => [uploadName(req, f), f]));
    const ids = new Map<string, string>();
    for await (const f of this.client.files.list({ purpose: 'fine-tune' }, { signal })) {
      const file = wanted.get(f.filename);
      if (file && !ids.has(file.name) && reusable(f, file)) ids.set(file.name, f.id);
      if (ids.size === files.length) break;
    }
    for (const [filename, file] of wanted) {
      if (ids.has(file.name)) continue;
      const created = await this.client.files.create(
        { file: await toFile(file.content, filename, { type: 'application/jsonl' }), purpose: 'fine-tune' },
        { signal },
      );
      ids.set(file.name, created.id);
    }
    return ids;
  }

  private method(format: LaunchRequest['format']): JobCreateParams.Method {
    // passed as configured: the API checks the names and values
    const hp = this.config.hyperparameters;
    if (format === 'dpo') return { type: 'dpo', dpo: hp ? { hyperparameters: hp as DpoHyperparameters } : {} };
    return { type: 'supervised', supervised: hp ? { hyperparameters: hp as SupervisedHyperparameters } : {} };
  }

  private where(req: LaunchRequest): string {
    return `OpenAI fine-tuning at ${this.baseUrl}, dataset ${req.dataset} version ${req.datasetVersion}`;
  }

  /** Runs one step of a launch or poll, mapping what the SDK throws (an abort is rethrown as is). */
  private async call<T>(req: LaunchRequest, what: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (signal.aborted || err instanceof TributaryError) throw err;
      throw toLauncherError(err, `${this.where(req)}: ${what}`);
    }
  }
}

function toStatus(job: FineTuningJob): LaunchStatus {
  switch (job.status) {
    case 'succeeded':
      return { state: 'succeeded', externalId: job.id, model: job.fine_tuned_model ?? null };
    case 'failed': {
      const e = job.error;
      const error = e?.message ? (e.code ? `${e.message} (${e.code})` : e.message) : `fine-tuning job ${job.id} failed without a reason`;
      return { state: 'failed', externalId: job.id, error };
    }
    case 'cancelled':
      return { state: 'cancelled', externalId: job.id, error: `fine-tuning job ${job.id} was cancelled` };
    default:
      // validating_files, queued, running (and any state the API adds, e.g. paused): poll again later
      return { state: 'running', externalId: job.id };
  }
}

function uploadName(req: LaunchRequest, file: LaunchFile): string {
  return `${req.dataset}-${req.datasetVersion}-${file.name}`;
}

function reusable(uploaded: FileObject, file: LaunchFile): boolean {
  return uploaded.bytes === file.content.byteLength && uploaded.status !== 'error';
}

function suffixOf(version: string): string {
  return `tributary-${version.slice(0, 8).replace(/[^A-Za-z0-9_-]/g, '-')}`.slice(0, SUFFIX_MAX);
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Unreachable, timed out, 408/409/429/5xx → LAUNCHER_UNAVAILABLE (retryable); other 4xx → LAUNCH_REJECTED. */
function toLauncherError(err: unknown, what: string): TributaryError {
  if (err instanceof APIConnectionTimeoutError) return new TributaryError('LAUNCHER_UNAVAILABLE', `${what}: timed out`, { cause: err });
  if (err instanceof APIConnectionError) {
    const detail = err.cause instanceof Error && err.cause.message ? `${err.message} (${err.cause.message})` : err.message;
    return new TributaryError('LAUNCHER_UNAVAILABLE', `${what}: could not connect: ${detail}`, { cause: err });
  }
  if (err instanceof APIError) {
    const status = err.status;
    if (status === undefined) return new TributaryError('LAUNCHER_UNAVAILABLE', `${what}: ${err.message}`, { cause: err });
    const base = { cause: err, upstreamStatus: status, details: err.error };
    if (isRetryableStatus(status)) {
      return new TributaryError('LAUNCHER_UNAVAILABLE', `${what}: ${status}: ${err.message}`, { ...base, retryAfterMs: retryAfterFromHeaders(err.headers) });
    }
    return new TributaryError('LAUNCH_REJECTED', `${what}: rejected with ${status}: ${err.message}`, base);
  }
  // the transport broke under the SDK
  const message = err instanceof Error ? err.message : String(err);
  return new TributaryError('LAUNCHER_UNAVAILABLE', `${what}: ${message}`, { cause: err });
}

/** The launch's idempotency key (the version, or a retry's key). */
function keyOf(req: LaunchRequest): string {
  return req.idempotencyKey ?? req.datasetVersion;
}
