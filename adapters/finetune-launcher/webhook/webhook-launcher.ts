import { createHmac, timingSafeEqual } from 'node:crypto';
import { TributaryError } from '../../../ports/errors.ts';
import type { FinetuneLauncher, LaunchRequest, LaunchState, LaunchStatus } from '../../../ports/finetune-launcher.ts';
import type { LauncherConfig } from '../../../schemas/finetune.ts';

export type WebhookLauncherConfig = Extract<LauncherConfig, { type: 'webhook' }>;

const STATES: readonly LaunchState[] = ['launched', 'running', 'succeeded', 'failed', 'cancelled'];
/** Statuses that say "not now": a timeout, a request with this key still in progress, too early, rate limited, server errors. */
const RETRYABLE = new Set([408, 409, 425, 429]);
const BODY_IN_MESSAGE = 300;

/**
 * The request body: built only from the request, in a fixed key order and without spaces, so every
 * retry of one dataset version carries the same bytes (and so the same signature). Each file's
 * content is inline as a UTF-8 string, unless the files total more than `inlineMaxBytes`: then every
 * `content` is null and `contentOmitted` says why (the receiver fetches the version by name and hash).
 */
export function webhookBody(req: LaunchRequest, inlineMaxBytes: number): Buffer {
  const total = req.files.reduce((n, f) => n + f.content.byteLength, 0);
  const inline = total <= inlineMaxBytes;
  const body: Record<string, unknown> = {
    jobId: req.jobId,
    dataset: req.dataset,
    datasetVersion: req.datasetVersion,
    // only a retry's key differs from the version (the first job's body is as documented)
    ...(req.idempotencyKey !== undefined && req.idempotencyKey !== req.datasetVersion ? { idempotencyKey: req.idempotencyKey } : {}),
    format: req.format,
    items: req.items,
    manifest: req.manifest,
    files: req.files.map((f) => ({
      name: f.name,
      sha256: f.sha256,
      bytes: f.bytes,
      records: f.records,
      content: inline ? Buffer.from(f.content.buffer, f.content.byteOffset, f.content.byteLength).toString('utf8') : null,
    })),
  };
  if (!inline) {
    body.contentOmitted = `the files total ${total} bytes, more than the ${inlineMaxBytes} sent inline: read them from the dataset registry (dataset ${req.dataset}, version ${req.datasetVersion}) and check their sha256`;
  }
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** The X-Tributary-Signature value for a body: `sha256=<hex HMAC-SHA256(secret, body)>`. */
export function webhookSignature(secret: string, body: Uint8Array | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Checks an X-Tributary-Signature header against the exact body bytes received (constant time). */
export function verifyWebhookSignature(secret: string, body: Uint8Array | string, header: string | null | undefined): boolean {
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(webhookSignature(secret, body), 'utf8');
  const given = Buffer.from(header.trim(), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Launches a fine-tune by POSTing the dataset version to a receiver of the operator's. The version id
 * is sent as the Idempotency-Key: the receiver starts one job per key and answers a repeated key with
 * that job (or 409 while the first request is still being handled). The receiver reports the job's
 * later states by other means (the API's job-status command), so `poll` has nothing to ask.
 *
 * Wire format: `POST <url>` with headers content-type: application/json, Idempotency-Key:
 * <datasetVersion>, user-agent: tributary, X-Tributary-Dataset: <dataset> and, with a secret,
 * X-Tributary-Signature: sha256=<hex HMAC-SHA256(secret, body)>; the body is `webhookBody`.
 */
export class WebhookLauncher implements FinetuneLauncher {
  readonly type = 'webhook' as const;
  private readonly config: WebhookLauncherConfig;
  private readonly where: string;

  constructor(config: WebhookLauncherConfig) {
    this.config = config;
    this.where = redacted(config.url);
  }

  async launch(req: LaunchRequest, signal: AbortSignal): Promise<LaunchStatus> {
    const body = webhookBody(req, this.config.inlineMaxBytes);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'Idempotency-Key': req.idempotencyKey ?? req.datasetVersion,
      'user-agent': 'tributary',
      'X-Tributary-Dataset': req.dataset,
    };
    if (this.config.secret) headers['X-Tributary-Signature'] = webhookSignature(this.config.secret, body);
    const what = `the launch of ${req.dataset}@${req.datasetVersion} at ${this.where}`;
    const timeout = AbortSignal.timeout(this.config.timeoutMs);
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const res = await fetch(this.config.url, {
        method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.any([signal, timeout]),
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (e) {
      if (signal.aborted) throw e;
      if (timeout.aborted) {
        throw new TributaryError('LAUNCHER_UNAVAILABLE', `${what} timed out after ${this.config.timeoutMs} ms`, { cause: e });
      }
      throw new TributaryError('LAUNCHER_UNAVAILABLE', `${what} failed: ${describe(e)}`, { cause: e });
    }

    if (status >= 200 && status < 300) return launchedStatus(text);
    const excerpt = text.slice(0, BODY_IN_MESSAGE);
    if (RETRYABLE.has(status) || status >= 500) {
      const note = status === 409 ? ' (a request with this key is still in progress)' : '';
      throw new TributaryError('LAUNCHER_UNAVAILABLE', `${what} answered ${status}${note}: ${excerpt}`, {
        upstreamStatus: status, retryAfterMs: parseRetryAfter(retryAfter),
      });
    }
    const why = status >= 300 && status < 400 ? ' (redirects are not followed: configure the final URL)' : '';
    throw new TributaryError('LAUNCH_REJECTED', `webhook ${this.where} rejected the launch of ${req.dataset}@${req.datasetVersion} with ${status}${why}: ${excerpt}`, {
      upstreamStatus: status,
    });
  }

  async poll(_req: LaunchRequest, current: LaunchStatus, _signal: AbortSignal): Promise<LaunchStatus> {
    return current;
  }

  async close(): Promise<void> {
    // nothing held open
  }
}

/** A 2xx answer: `{"id"|"jobId": "…"}`, optionally with `state`, `model` and `error`; anything else is "launched". */
function launchedStatus(text: string): LaunchStatus {
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: accepted, and nothing more said
  }
  const o = typeof json === 'object' && json !== null && !Array.isArray(json) ? json as Record<string, unknown> : {};
  const externalId = typeof o.id === 'string' ? o.id : typeof o.jobId === 'string' ? o.jobId : null;
  const state = STATES.find((s) => s === o.state) ?? 'launched';
  const status: LaunchStatus = { state, externalId };
  if (typeof o.model === 'string') status.model = o.model;
  if (typeof o.error === 'string') status.error = o.error;
  return status;
}

/** Milliseconds from a Retry-After header: seconds, or an HTTP date. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/** The URL for messages: without credentials or query string (either may hold a token). */
function redacted(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error && e.cause.message ? ` (${e.cause.message})` : '';
  return `${e.message}${cause}`;
}
