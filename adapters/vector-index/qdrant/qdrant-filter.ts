import type { Schemas } from '@qdrant/js-client-rest';
import type { SearchFilter } from '../../../ports/vector-index.ts';
import { rejected } from './qdrant-errors.ts';

export type QdrantFilter = Schemas['Filter'];
type QdrantCondition = Schemas['FieldCondition'] | Schemas['HasIdCondition'];

/** A SearchFilter as a Qdrant filter; null when it cannot match anything (an empty list). */
export function toQdrantFilter(filter: SearchFilter | undefined): QdrantFilter | undefined | null {
  if (!filter) return undefined;
  const must: QdrantCondition[] = [];
  for (const [field, key] of [['category', 'category'], ['author', 'author'], ['docId', 'doc_id']] as const) {
    const v = filter[field];
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      if (v.length === 0) return null;
      must.push({ key, match: { any: v } });
    } else {
      must.push({ key, match: { value: v } });
    }
  }
  return must.length === 0 ? undefined : { must };
}

/** Checks a filter that came from outside the type system (an API body): unknown fields and wrong types are INDEX_REJECTED. */
export function checkFilter(filter: unknown): SearchFilter | undefined {
  if (filter === undefined || filter === null) return undefined;
  if (typeof filter !== 'object' || Array.isArray(filter)) throw rejected('filter must be an object');
  for (const [key, v] of Object.entries(filter)) {
    if (key !== 'category' && key !== 'author' && key !== 'docId') throw rejected(`unknown filter field "${key}" (expected category, author or docId)`);
    if (v !== undefined && typeof v !== 'string' && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) {
      throw rejected(`filter.${key} must be a string or an array of strings`);
    }
  }
  return filter as SearchFilter;
}
