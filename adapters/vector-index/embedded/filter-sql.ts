import type { SearchFilter } from '../../../ports/vector-index.ts';

/**
 * A SearchFilter as a SQL condition on the `chunks` table (aliased `c`). A single value becomes
 * `col = ?`; a list becomes `col IN (SELECT value FROM json_each(?))`, so the statement text depends
 * only on the filter's shape and prepared statements can be cached; an empty list matches nothing.
 */

export interface FilterSql {
  /** A condition (never empty: "1" when there is no filter). */
  where: string;
  params: string[];
  /** Statement-cache key component. */
  shape: string;
}

const COLUMNS: Array<[keyof SearchFilter, string]> = [
  ['category', 'c.category'],
  ['author', 'c.author'],
  ['docId', 'c.doc_id'],
];

export function filterSql(filter: SearchFilter | undefined): FilterSql {
  const parts: string[] = [];
  const params: string[] = [];
  const shape: string[] = [];
  for (const [key, column] of COLUMNS) {
    const v = filter?.[key];
    if (v === undefined) {
      shape.push('-');
    } else if (Array.isArray(v)) {
      if (v.length === 0) return { where: '0', params: [], shape: 'none' };
      parts.push(`${column} IN (SELECT value FROM json_each(?))`);
      params.push(JSON.stringify(v));
      shape.push('l');
    } else {
      parts.push(`${column} = ?`);
      params.push(v);
      shape.push('v');
    }
  }
  return { where: parts.length === 0 ? '1' : parts.join(' AND '), params, shape: shape.join('') };
}

/** Whether the filter can match anything at all (an empty list in any field cannot). */
export function filterCanMatch(filter: SearchFilter | undefined): boolean {
  return !COLUMNS.some(([key]) => Array.isArray(filter?.[key]) && (filter![key] as string[]).length === 0);
}

/** Throws a message for a malformed filter (wrong types); returns it unchanged otherwise. */
export function checkFilter(filter: unknown): SearchFilter | undefined {
  if (filter === undefined || filter === null) return undefined;
  if (typeof filter !== 'object' || Array.isArray(filter)) throw new Error('filter must be an object');
  for (const [key, v] of Object.entries(filter)) {
    if (!COLUMNS.some(([k]) => k === key)) throw new Error(`unknown filter field "${key}" (expected category, author or docId)`);
    if (v === undefined) continue;
    const ok = typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    if (!ok) throw new Error(`filter.${key} must be a string or an array of strings`);
  }
  return filter as SearchFilter;
}
