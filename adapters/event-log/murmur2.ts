/**
 * Kafka's default partitioner hash (murmur2, seed 0x9747b28c), as in the Java client, so a key lands
 * on the same partition number in the embedded log as on a Kafka topic with the same partition count.
 */
const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = (data[i4]! & 0xff) + ((data[i4 + 1]! & 0xff) << 8) + ((data[i4 + 2]! & 0xff) << 16) + ((data[i4 + 3]! & 0xff) << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const left = length % 4;
  const index = length - left;
  if (left === 3) h ^= (data[index + 2]! & 0xff) << 16;
  if (left >= 2) h ^= (data[index + 1]! & 0xff) << 8;
  if (left >= 1) {
    h ^= data[index]! & 0xff;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

const encoder = new TextEncoder();

/** Same as Java's `Utils.toPositive(Utils.murmur2(key)) % numPartitions`. */
export function partitionForKey(key: string, partitions: number): number {
  return (murmur2(encoder.encode(key)) & 0x7fffffff) % partitions;
}
