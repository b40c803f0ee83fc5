import { StringDecoder } from 'node:string_decoder';

/** Token counts of one exchange: from the upstream's `usage` where it gave one, else estimated. */
export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  /** True when the upstream sent no usage and the counts are estimates. */
  estimated: boolean;
}

/** Bytes per token for estimates (English text with BPE tokenizers averages about 4). */
const BYTES_PER_TOKEN = 4;
/** Longest partial SSE line kept between chunks; a longer line is not inspected. */
const MAX_CARRY = 1 << 20;
/** Non-streaming bodies up to this size are kept for a full parse if the tail holds no usage. */
const MAX_KEPT_BODY = 1 << 20;
const TAIL_BYTES = 8192;

interface RawUsage { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown }

function fromRaw(u: RawUsage | null | undefined): { prompt: number; completion: number } | null {
  if (!u || typeof u !== 'object') return null;
  const prompt = typeof u.prompt_tokens === 'number' ? u.prompt_tokens : null;
  const completion = typeof u.completion_tokens === 'number' ? u.completion_tokens : null;
  const total = typeof u.total_tokens === 'number' ? u.total_tokens : null;
  if (prompt === null && completion === null && total === null) return null;
  return { prompt: prompt ?? (total !== null ? total - (completion ?? 0) : 0), completion: completion ?? 0 };
}

/**
 * Watches the bytes of an upstream response as they pass through (it never holds a whole stream) and
 * answers: how many tokens, did the stream end with `data: [DONE]`, did it carry an error event.
 * For SSE it reads the `usage` of the final chunk (OpenAI `stream_options.include_usage`, vLLM,
 * SGLang); otherwise counts content events as completion tokens. For a JSON body it reads `usage`
 * from the end of the body.
 */
export class UsageScanner {
  readonly sse: boolean;
  private readonly requestBytes: number;
  private readonly decoder = new StringDecoder('utf8');
  private carry = '';
  private usage: { prompt: number; completion: number } | null = null;
  private events = 0;
  private bytes = 0;
  private kept: Buffer[] | null = [];
  private tail = Buffer.alloc(0);
  /** The stream ended with `data: [DONE]`. */
  sawDone = false;
  /** The stream carried an error object (`data: {"error": …}` or `event: error`). */
  errorEvent: string | null = null;

  constructor(opts: { sse: boolean; requestBytes: number }) {
    this.sse = opts.sse;
    this.requestBytes = opts.requestBytes;
  }

  push(chunk: Buffer): void {
    this.bytes += chunk.byteLength;
    if (this.sse) {
      this.scanSse(this.decoder.write(chunk));
      return;
    }
    if (this.kept) {
      if (this.bytes <= MAX_KEPT_BODY) this.kept.push(chunk);
      else this.kept = null;
    }
    this.tail = this.tail.byteLength + chunk.byteLength <= TAIL_BYTES
      ? Buffer.concat([this.tail, chunk])
      : Buffer.concat([this.tail, chunk]).subarray(-TAIL_BYTES);
  }

  /** Content events seen so far (a streamed token count when the upstream gives no usage). */
  get dataEvents(): number { return this.events; }

  /** The counts at the end of the exchange. */
  result(): TokenUsage {
    if (!this.sse && !this.usage) this.usage = this.usageFromBody();
    if (this.usage) return { promptTokens: this.usage.prompt, completionTokens: this.usage.completion, estimated: false };
    const prompt = Math.ceil(this.requestBytes / BYTES_PER_TOKEN);
    const completion = this.sse ? this.events : Math.ceil(this.bytes / BYTES_PER_TOKEN);
    return { promptTokens: prompt, completionTokens: completion, estimated: true };
  }

  private scanSse(text: string): void {
    let start = 0;
    let text2 = text;
    if (this.carry) {
      text2 = this.carry + text;
      this.carry = '';
    }
    for (;;) {
      const nl = text2.indexOf('\n', start);
      if (nl < 0) break;
      this.line(text2, start, nl);
      start = nl + 1;
    }
    if (start < text2.length) {
      const rest = text2.length - start;
      this.carry = rest <= MAX_CARRY ? text2.slice(start) : '';
    }
  }

  private line(text: string, start: number, end: number): void {
    if (end > start && text.charCodeAt(end - 1) === 13) end--; // CRLF
    if (text.startsWith('event:', start)) {
      if (text.slice(start + 6, end).trim() === 'error') this.errorEvent ??= 'event: error';
      return;
    }
    if (!text.startsWith('data:', start)) return;
    let s = start + 5;
    if (text.charCodeAt(s) === 32) s++;
    if (end - s === 6 && text.startsWith('[DONE]', s)) {
      this.sawDone = true;
      return;
    }
    this.events++;
    const hasUsage = text.indexOf('"usage"', s);
    const hasError = text.indexOf('"error"', s);
    if ((hasUsage < 0 || hasUsage >= end) && (hasError < 0 || hasError >= end)) return;
    let obj: { usage?: RawUsage | null; error?: unknown; choices?: unknown };
    try {
      obj = JSON.parse(text.slice(s, end)) as typeof obj;
    } catch {
      return;
    }
    if (obj && typeof obj === 'object') {
      if (obj.error) this.errorEvent ??= typeof obj.error === 'object' ? String((obj.error as { message?: unknown }).message ?? 'error') : String(obj.error);
      const u = fromRaw(obj.usage);
      if (u) {
        this.usage = u;
        // the usage-only chunk (choices: []) is not a token
        if (Array.isArray(obj.choices) && obj.choices.length === 0) this.events--;
      }
    }
  }

  private usageFromBody(): { prompt: number; completion: number } | null {
    const tail = this.tail.toString('utf8');
    const re = /"usage"\s*:\s*(\{[^{}]*\})/g;
    let last: string | undefined;
    for (let m = re.exec(tail); m; m = re.exec(tail)) last = m[1];
    if (last) {
      try {
        const u = fromRaw(JSON.parse(last) as RawUsage);
        if (u) return u;
      } catch { /* fall through */ }
    }
    if (!this.kept) return null;
    try {
      return fromRaw((JSON.parse(Buffer.concat(this.kept).toString('utf8')) as { usage?: RawUsage }).usage);
    } catch {
      return null;
    }
  }
}
