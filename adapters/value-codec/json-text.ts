import { TributaryError } from '../../ports/errors.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

export function toJsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parses UTF-8 JSON; MALFORMED_EVENT when it is not. */
export function parseJsonBytes(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try { text = utf8.decode(bytes); } catch {
    throw new TributaryError('MALFORMED_EVENT', `${what} is not valid UTF-8`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TributaryError('MALFORMED_EVENT', `${what} is not valid JSON: ${(e as Error).message}`);
  }
}
