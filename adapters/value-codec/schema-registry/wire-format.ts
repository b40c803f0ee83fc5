import { TributaryError } from '../../../ports/errors.ts';

/**
 * Confluent's wire format: magic byte 0, the schema id as a 4-byte big-endian unsigned integer, then
 * the serialised value (JSON text for JSON Schema). Kafka clients in every language read and write it.
 */
export const MAGIC_BYTE = 0;
export const HEADER_BYTES = 5;

export function frame(schemaId: number, payload: Uint8Array): Uint8Array {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > 0xffff_ffff) throw new RangeError(`schema id out of range: ${schemaId}`);
  const out = new Uint8Array(HEADER_BYTES + payload.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, MAGIC_BYTE);
  view.setUint32(1, schemaId, false);
  out.set(payload, HEADER_BYTES);
  return out;
}

/** True when the bytes start with the magic byte (JSON text never starts with a NUL). */
export function isFramed(bytes: Uint8Array): boolean {
  return bytes.byteLength > 0 && bytes[0] === MAGIC_BYTE;
}

export function unframe(bytes: Uint8Array): { schemaId: number; payload: Uint8Array } {
  if (!isFramed(bytes)) {
    throw new TributaryError('MALFORMED_EVENT', `record value does not start with the Schema Registry magic byte 0 (first byte ${bytes[0] ?? 'none'})`);
  }
  if (bytes.byteLength < HEADER_BYTES) {
    throw new TributaryError('MALFORMED_EVENT', `record value is ${bytes.byteLength} bytes, too short for the 5-byte Schema Registry header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { schemaId: view.getUint32(1, false), payload: bytes.subarray(HEADER_BYTES) };
}
