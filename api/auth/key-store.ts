import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyConfig } from './api-key-config.ts';

/**
 * The configured keys, by their SHA-256. A presented key is hashed and compared with every stored
 * hash in constant time, and the loop never stops early, so timing tells nothing about which key
 * (or how much of one) matched. The keys themselves are never held.
 */
export class ApiKeyStore {
  private readonly entries: Array<{ key: ApiKeyConfig; hash: Buffer }>;

  constructor(keys: readonly ApiKeyConfig[]) {
    this.entries = keys.map((key) => ({ key, hash: Buffer.from(key.sha256, 'hex') }));
  }

  get size(): number {
    return this.entries.length;
  }

  verify(presented: string): ApiKeyConfig | null {
    const h = createHash('sha256').update(presented, 'utf8').digest();
    let found: ApiKeyConfig | null = null;
    for (const e of this.entries) {
      if (timingSafeEqual(h, e.hash) && found === null) found = e.key;
    }
    return found;
  }
}
