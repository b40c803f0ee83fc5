/**
 * Picking an upstream among those that serve a model and may be routed to. Pure.
 *
 * Without a session key: least outstanding requests (in flight + queued), relative to capacity,
 * ties broken by a rotating counter so equal upstreams share the load.
 * With a session key: rendezvous (highest-random-weight) hashing — a consistent hash: every upstream
 * gets a score from hash(key, name) and the session goes to the best-scoring upstream with a free
 * slot, so it keeps hitting the same upstream (and its prefix cache); removing an upstream moves only
 * the sessions that were on it. When none has a free slot it queues on the best-scoring one with room.
 */
export interface BalancerCandidate {
  readonly name: string;
  readonly outstanding: number;
  readonly capacity: number;
  readonly hasFreeSlot: boolean;
  /** Neither a free slot nor room in the queue. */
  readonly full: boolean;
}

export function leastOutstanding<T extends BalancerCandidate>(candidates: readonly T[], rotation: number): T | undefined {
  let best: T | undefined;
  let bestLoad = Infinity;
  const n = candidates.length;
  for (let k = 0; k < n; k++) {
    const c = candidates[(rotation + k) % n]!;
    if (c.full) continue;
    const load = c.outstanding / c.capacity;
    if (load < bestLoad) {
      best = c;
      bestLoad = load;
    }
  }
  return best;
}

/** Candidates in the session's preference order (best score first). */
export function rendezvousOrder<T extends { readonly name: string }>(key: string, candidates: readonly T[]): T[] {
  const keyHash = fnv1a(key, 2166136261);
  return candidates
    .map((c) => ({ c, score: mix(fnv1a(c.name, keyHash)) }))
    .sort((a, b) => b.score - a.score || (a.c.name < b.c.name ? -1 : 1))
    .map((x) => x.c);
}

export function pickWithAffinity<T extends BalancerCandidate>(key: string, candidates: readonly T[]): T | undefined {
  const order = rendezvousOrder(key, candidates);
  return order.find((c) => c.hasFreeSlot) ?? order.find((c) => !c.full);
}

function fnv1a(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** murmur3's finaliser: spreads FNV's weak low bits. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
