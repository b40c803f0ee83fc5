import type { FastifyInstance } from 'fastify';
import { TributaryError } from '../../ports/errors.ts';
import { StatusOverride } from '../errors.ts';

/**
 * The only body parser: application/json, decoded as strict UTF-8. Fastify's default parser would
 * replace invalid bytes with U+FFFD and store corrupted text; here they are a 400 INVALID_UTF8.
 * Every other content-type gets 415. Bodies over `bodyLimit` are refused with 413 while streaming.
 */
export function registerJsonBodyParser(app: FastifyInstance, opts: { bodyLimit: number }): void {
  const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (request, body, done) => {
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset && charset !== 'utf-8' && charset !== 'utf8') {
      done(new StatusOverride(415, new TributaryError('UNSUPPORTED_MEDIA_TYPE', `unsupported charset "${charset}": send JSON as UTF-8`)), undefined);
      return;
    }
    const buf = body as Buffer;
    if (buf.byteLength === 0) {
      done(null, undefined);
      return;
    }
    let text: string;
    try {
      text = utf8.decode(buf);
    } catch {
      const at = firstInvalidUtf8(buf);
      done(new TributaryError('INVALID_UTF8', `request body is not valid UTF-8 (first bad byte at offset ${at}); send JSON encoded as UTF-8`, { details: { byteOffset: at } }), undefined);
      return;
    }
    try {
      done(null, JSON.parse(text, text.includes('__proto__') || text.includes('constructor') ? rejectPrototypeKeys : undefined));
    } catch (e) {
      if (e instanceof TributaryError) done(e, undefined);
      else done(new TributaryError('INVALID_INPUT', `request body is not valid JSON: ${(e as Error).message}`), undefined);
    }
  });
}

function rejectPrototypeKeys(this: unknown, key: string, value: unknown): unknown {
  if (key === '__proto__' || (key === 'constructor' && value !== null && typeof value === 'object' && 'prototype' in value)) {
    throw new TributaryError('INVALID_INPUT', `request body uses the reserved key "${key}"`, { details: [{ path: key, message: 'reserved key' }] });
  }
  return value;
}

/** Offset of the first byte that breaks UTF-8 (for the error message). */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) { i++; continue; }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (n === 0) return i;
    for (let j = 1; j <= n; j++) if (i + j >= b.length || (b[i + j]! & 0xc0) !== 0x80) return i;
    const c1 = b[i + 1]!;
    // overlong forms, UTF-16 surrogates, code points past U+10FFFF
    if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f) || (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return i;
    i += n + 1;
  }
  return i;
}
