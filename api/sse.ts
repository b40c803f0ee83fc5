import type { ServerResponse } from 'node:http';

/**
 * Server-Sent Events on a raw response (the Fastify reply is hijacked). `data` is JSON, one line.
 * Writes after the client went away are dropped.
 */
export class SseWriter {
  private readonly res: ServerResponse;
  private ended = false;

  constructor(res: ServerResponse) {
    this.res = res;
  }

  open(): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    this.res.flushHeaders?.();
  }

  get closed(): boolean {
    return this.ended || this.res.destroyed || this.res.writableEnded;
  }

  send(event: string, data: unknown): void {
    if (this.closed) return;
    this.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  end(): void {
    if (this.closed) return;
    this.ended = true;
    this.res.end();
  }
}

/**
 * An AbortSignal that fires when the client disconnects before the response was finished,
 * so the LLM call (and everything else in flight for the request) stops.
 */
export function abortOnDisconnect(res: ServerResponse): AbortController {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort(new Error('client disconnected'));
  });
  return ac;
}
