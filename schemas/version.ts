/**
 * Document version = the source's ordering position (cluster time + ordinal), packed into one
 * number that stays exact in a float64 (so Qdrant range filters can compare it):
 *   version = seconds * 2^21 + ordinal   (seconds < 2^31, ordinal < 2^21)
 */
const ORD_BITS = 2 ** 21;

export function packVersion(tsMs: number, ord: number): number {
  const seconds = Math.floor(tsMs / 1000);
  const o = Math.max(0, Math.min(ORD_BITS - 1, Math.floor(ord)));
  return seconds * ORD_BITS + o;
}

export function versionSeconds(version: number): number {
  return Math.floor(version / ORD_BITS);
}
