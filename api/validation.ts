import type { FastifySchemaCompiler } from 'fastify';
import type { $ZodIssue, $ZodType } from 'zod/v4/core';
import { safeParse } from 'zod/v4/core';
import { TributaryError } from '../ports/errors.ts';
import type { FieldError } from './errors.ts';

/**
 * Request validation with zod, reporting EACH bad field as `{ path, message }`:
 * union errors are resolved to the branch the input was evidently meant for (the one that knows its
 * keys), unknown keys are reported one per key, and a missing field says "is required".
 */

type Path = ReadonlyArray<PropertyKey>;

function valueAt(data: unknown, path: Path): unknown {
  let cur = data;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k as string];
  }
  return cur;
}

function pathString(path: Path, root: string): string {
  if (path.length === 0) return root;
  return path.map((p) => (typeof p === 'number' ? String(p) : String(p))).join('.');
}

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** How badly a union branch misses the input: a root type mismatch is worst, then unknown keys at the root. */
function branchMiss(issues: readonly $ZodIssue[]): number {
  let miss = 0;
  for (const i of issues) {
    if (i.path.length !== 0) continue;
    if (i.code === 'invalid_type') miss += 1_000_000;
    else if (i.code === 'unrecognized_keys') miss += i.keys.length * 1000;
  }
  return miss;
}

export function fieldErrors(issues: readonly $ZodIssue[], data: unknown, root = 'body', base: Path = []): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const misses = issue.errors.map(branchMiss);
      const allTypeMismatch = misses.every((m) => m >= 1_000_000);
      if (allTypeMismatch) {
        const expected = [...new Set(issue.errors.flatMap((b) => b.filter((i) => i.path.length === 0 && i.code === 'invalid_type').map((i) => (i as { expected: string }).expected)))];
        out.push({ path: pathString(path, root), message: `expected ${expected.join(' or ')}, received ${describeType(valueAt(data, path))}` });
        continue;
      }
      let best = 0;
      for (let b = 1; b < misses.length; b++) if (misses[b]! < misses[best]!) best = b;
      out.push(...fieldErrors(issue.errors[best]!, data, root, path));
      continue;
    }
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push({ path: pathString([...path, k], root), message: 'unknown field' });
      continue;
    }
    const value = valueAt(data, path);
    if (issue.code === 'invalid_type' && (value === undefined || (path.length === 0 && value === null))) {
      out.push({ path: pathString(path, root), message: 'is required' });
      continue;
    }
    out.push({ path: pathString(path, root), message: issue.message });
  }
  // one entry per field: several complaints about the same field are joined
  const merged = new Map<string, string[]>();
  for (const e of out) {
    const list = merged.get(e.path) ?? [];
    if (!list.includes(e.message)) list.push(e.message);
    merged.set(e.path, list);
  }
  return [...merged].map(([path, messages]) => ({ path, message: messages.join('; ') }));
}

/** Builds the INVALID_INPUT error for a failed parse (also used by handlers that validate by hand). */
export function invalidInput(issues: readonly $ZodIssue[], data: unknown, part = 'body'): TributaryError {
  return invalidFields(fieldErrors(issues, data, part), part);
}

function invalidFields(details: FieldError[], part: string): TributaryError {
  const summary = details.slice(0, 5).map((d) => `${d.path}: ${d.message}`).join('; ');
  const more = details.length > 5 ? `; and ${details.length - 5} more` : '';
  return new TributaryError('INVALID_INPUT', `invalid request ${part}: ${summary}${more}`, { details });
}

/** A number written as JSON writes it (an exponent allowed), and nothing else: no blanks, no "0x", no "Infinity". */
const NUMBER_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Query and path values arrive as text, and `z.coerce.number()` reads them with Number(): "" is 0,
 * " 5 " is 5, "0x10" is 16. A value the schema read as a number must have been written as one.
 */
function numbersFromOtherText(raw: unknown, parsed: unknown): FieldError[] {
  if (raw === null || typeof raw !== 'object' || parsed === null || typeof parsed !== 'object') return [];
  const out: FieldError[] = [];
  for (const [key, value] of Object.entries(parsed)) {
    const text = (raw as Record<string, unknown>)[key];
    if (typeof value !== 'number' || typeof text !== 'string' || NUMBER_TEXT.test(text)) continue;
    out.push({ path: key, message: text === '' ? 'is empty; expected a number' : `expected a number, received ${JSON.stringify(text)}` });
  }
  return out;
}

/** Fastify validator compiler for zod schemas (replaces fastify-type-provider-zod's, which loses union detail). */
export const zodValidatorCompiler: FastifySchemaCompiler<$ZodType> = ({ schema, httpPart }) => (data) => {
  const result = safeParse(schema, data);
  const part = httpPart === 'querystring' ? 'query' : (httpPart ?? 'body');
  if (!result.success) return { error: invalidInput(result.error.issues, data, part) };
  if (httpPart === 'querystring' || httpPart === 'params') {
    const odd = numbersFromOtherText(data, result.data);
    if (odd.length > 0) return { error: invalidFields(odd, part) };
  }
  return { value: result.data };
};
