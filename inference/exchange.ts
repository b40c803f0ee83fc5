import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { TributaryError } from '../ports/errors.ts';
import type { ExchangeOutcome, ExchangeSummary } from './events.ts';
import { classifyTransportError, type FailureKind } from './upstream-errors.ts';
import { UsageScanner } from './usage-scanner.ts';

/** Response headers passed on from an upstream; everything else (cookies, server, auth hints) stays behind. */
const PASSED_HEADERS = ['content-type', 'retry-after', 'retry-after-ms', 'openai-processing-ms', 'x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests'];

export interface ExchangeInit {
  endpoint: string;
  model: string;
  upstream: string;
  stream: boolean;
  requestId: string | undefined;
  requestBytes: number;
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable;
  /** Already read (so the upstream has answered for sure); null when the body was empty. */
  firstChunk: Buffer | null;
  /** The body ended while reading the first chunk. */
  ended: boolean;
  attempts: number;
  queueMs: number;
  startedAt: number;
  signal: AbortSignal;
  now: () => number;
  /** Called once when the exchange is over: releases the slot, tells the breaker, reports. */
  onDone: (summary: ExchangeSummary, fault: FailureKind | null) => void;
  onFirstByte: (ttftMs: number) => void;
}

/**
 * An upstream answer that has started (its first body chunk is in hand) and is committed to one
 * client: no more failover from here. Piping it sends bytes on as they arrive; if the upstream
 * breaks afterwards the client gets an SSE error event and an unclean end, never a normal end.
 */
export class ProxyExchange {
  readonly upstream: string;
  readonly statusCode: number;
  readonly attempts: number;
  readonly queueMs: number;
  private readonly i: ExchangeInit;
  private readonly scanner: UsageScanner;
  private firstByteAt: number | null = null;
  private done = false;
  private summary: ExchangeSummary | null = null;

  constructor(init: ExchangeInit) {
    this.i = init;
    this.upstream = init.upstream;
    this.statusCode = init.statusCode;
    this.attempts = init.attempts;
    this.queueMs = init.queueMs;
    const ct = String(init.headers['content-type'] ?? '');
    this.scanner = new UsageScanner({ sse: ct.startsWith('text/event-stream'), requestBytes: init.requestBytes });
  }

  get isSse(): boolean { return this.scanner.sse; }

  /** Headers for the client: the upstream's safe ones plus `extra`. */
  responseHeaders(extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    for (const name of PASSED_HEADERS) {
      const v = this.i.headers[name];
      if (v !== undefined) out[name] = v;
    }
    if (this.isSse) {
      out['cache-control'] = 'no-cache, no-transform';
      out['x-accel-buffering'] = 'no';
    } else if (this.i.headers['content-length'] !== undefined) {
      out['content-length'] = this.i.headers['content-length'];
    }
    out['x-tributary-upstream'] = this.upstream;
    return { ...out, ...extra };
  }

  /**
   * Sends status, headers and body to `res` with backpressure. Resolves (never rejects) with the
   * outcome once the exchange is over.
   */
  pipeTo(res: ServerResponse, extraHeaders: OutgoingHttpHeaders = {}): Promise<ExchangeSummary> {
    const body = this.i.body;
    return new Promise<ExchangeSummary>((resolve) => {
      const finish = (outcome: ExchangeOutcome) => {
        body.off('data', onData);
        body.off('end', onEnd);
        body.off('error', onError);
        res.off('close', onClose);
        res.off('drain', onDrain);
        resolve(this.complete(outcome));
      };
      const onData = (chunk: Buffer) => {
        // bytes out first, bookkeeping after
        if (!res.write(chunk)) {
          body.pause();
          res.once('drain', onDrain);
        }
        this.scanner.push(chunk);
      };
      const onDrain = () => body.resume();
      const onEnd = () => {
        const broken = this.brokenAtEnd();
        if (broken) {
          this.breakClient(res, broken.message);
          finish(broken.kind);
        } else {
          res.end();
          finish('ok');
        }
      };
      const onError = (err: unknown) => {
        const kind = classifyTransportError(err, this.i.signal);
        if (kind === 'client_abort') {
          res.destroy();
          finish(kind);
          return;
        }
        this.breakClient(res, `the upstream failed mid-answer (${kind}): ${(err as Error).message}`);
        finish(kind === 'upstream_error' ? 'stream_cut' : kind);
      };
      const onClose = () => {
        if (!res.writableFinished && !this.done) {
          // the client went away: stop the upstream generating at once
          body.destroy();
          finish('client_abort');
        }
      };

      if (res.destroyed || this.i.signal.aborted) {
        // the client left between the upstream's first byte and now
        body.destroy();
        resolve(this.complete('client_abort'));
        return;
      }
      res.writeHead(this.statusCode, this.responseHeaders(extraHeaders));
      res.on('close', onClose);
      if (this.i.firstChunk) {
        this.markFirstByte();
        onData(this.i.firstChunk);
      }
      // the body may have ended, or failed, right behind the first chunk (while nobody listened)
      if (this.i.ended || body.readableEnded) {
        onEnd();
        return;
      }
      if (body.errored) {
        onError(body.errored);
        return;
      }
      body.on('data', onData);
      body.on('end', onEnd);
      body.on('error', onError);
      if (!res.writableNeedDrain) body.resume();
    });
  }

  /**
   * The body as chunks, for in-process callers (the RAG LLM). Throws INFERENCE_STREAM_BROKEN when the
   * upstream breaks or ends an event stream without `[DONE]`.
   */
  async *chunks(): AsyncGenerator<Buffer> {
    let outcome: ExchangeOutcome = 'client_abort';
    try {
      if (this.i.firstChunk) {
        this.markFirstByte();
        this.scanner.push(this.i.firstChunk);
        yield this.i.firstChunk;
      }
      if (!this.i.ended && !this.i.body.readableEnded) {
        try {
          for await (const c of this.i.body) {
            this.scanner.push(c as Buffer);
            yield c as Buffer;
          }
        } catch (err) {
          const kind = classifyTransportError(err, this.i.signal);
          outcome = kind === 'upstream_error' ? 'stream_cut' : kind;
          if (kind === 'client_abort') throw err;
          throw new TributaryError('INFERENCE_STREAM_BROKEN', `upstream "${this.upstream}" failed mid-answer (${kind})`, { cause: err });
        }
      }
      const broken = this.brokenAtEnd();
      if (broken) {
        outcome = broken.kind;
        throw new TributaryError('INFERENCE_STREAM_BROKEN', broken.message);
      }
      outcome = 'ok';
    } finally {
      if (!this.i.ended) this.i.body.destroy();
      this.complete(outcome);
    }
  }

  /** Reads the whole (non-streaming) body. */
  async text(): Promise<string> {
    const parts: Buffer[] = [];
    for await (const c of this.chunks()) parts.push(c);
    return Buffer.concat(parts).toString('utf8');
  }

  /** Gives the exchange up without reading it (the slot is released, the upstream request aborted). */
  discard(): void {
    if (this.done) return;
    this.i.body.destroy();
    this.complete('client_abort');
  }

  private brokenAtEnd(): { kind: FailureKind; message: string } | null {
    if (!this.scanner.sse || this.statusCode >= 300) return null;
    if (this.scanner.errorEvent !== null) return { kind: 'stream_error_event', message: `the upstream reported an error mid-stream: ${this.scanner.errorEvent}` };
    if (!this.scanner.sawDone) return { kind: 'stream_cut', message: 'the upstream ended the stream without [DONE]: the answer is incomplete' };
    return null;
  }

  private markFirstByte(): void {
    if (this.firstByteAt !== null) return;
    this.firstByteAt = this.i.now();
    this.i.onFirstByte(this.firstByteAt - this.i.startedAt);
  }

  /** An SSE error event (unless the upstream already sent one), then a reset: the client must not see a normal end. */
  private breakClient(res: ServerResponse, message: string): void {
    const kill = () => res.destroy();
    if (this.scanner.sse && this.scanner.errorEvent === null && !res.destroyed) {
      const err = { error: { code: 'INFERENCE_STREAM_BROKEN', type: 'server_error', message: `upstream "${this.upstream}": ${message}` } };
      // let the error event leave before the reset (but don't wait on a stalled client for long)
      res.write(`data: ${JSON.stringify(err)}\n\n`, kill);
      setTimeout(kill, 1000).unref();
    } else {
      setImmediate(kill);
    }
  }

  private complete(outcome: ExchangeOutcome): ExchangeSummary {
    if (this.summary) return this.summary;
    this.done = true;
    const end = this.i.now();
    const usage = this.scanner.result();
    const ttftMs = this.firstByteAt === null ? null : this.firstByteAt - this.i.startedAt;
    const genMs = this.firstByteAt === null ? 0 : end - this.firstByteAt;
    const tokensPerSecond = this.i.stream && genMs > 0 && usage.completionTokens > 1 ? (usage.completionTokens - 1) / (genMs / 1000) : null;
    const summary: ExchangeSummary = {
      requestId: this.i.requestId, endpoint: this.i.endpoint, model: this.i.model, upstream: this.upstream, stream: this.i.stream,
      status: this.statusCode, outcome, attempts: this.attempts, queueMs: this.queueMs, ttftMs, durationMs: end - this.i.startedAt, usage, tokensPerSecond,
    };
    // an error status passed on to the client (no other upstream was left) still counts against the upstream
    const fault: FailureKind | null = outcome === 'ok' ? (this.statusCode >= 500 ? 'status_5xx' : null) : outcome === 'client_abort' ? null : outcome;
    this.summary = summary;
    this.i.onDone(summary, fault);
    return summary;
  }
}
