import { TributaryError } from '../../../ports/errors.ts';
import type { JsonSchema } from '../../../ports/llm.ts';

/**
 * A JSON Schema rewritten into the subset node-llama-cpp turns into a grammar, or refused naming the
 * keyword it cannot enforce — never a schema that is silently enforced only in part. Rewrites:
 * `anyOf` → `oneOf` (the grammar generates one alternative either way), and a `type` list
 * (`["string", "null"]`) → `oneOf` of single types, each keeping its constraints (node-llama-cpp
 * turns `anyOf` into its last branch and drops `maxLength` beside a type list).
 */

/** Keywords the grammar enforces. */
const ENFORCED = new Set([
  'type', 'properties', 'required', 'additionalProperties', 'items', 'prefixItems', 'minItems', 'maxItems',
  'minLength', 'maxLength', 'minProperties', 'maxProperties', 'enum', 'const', 'oneOf', 'format', '$ref', '$defs',
]);
/** Keywords that constrain nothing (documentation). */
const ANNOTATIONS = new Set(['title', 'description', '$schema', '$id', '$comment', 'examples', 'default', 'deprecated', 'readOnly', 'writeOnly']);

export function toGrammarSchema(schema: JsonSchema, path = '(root)'): JsonSchema {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new TributaryError('INVALID_INPUT', `response JSON schema at ${path} is not an object`);
  }
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (ANNOTATIONS.has(key)) continue;
    if (key === 'anyOf') {
      out['oneOf'] = branches(value, `${path}.anyOf`);
      continue;
    }
    if (!ENFORCED.has(key)) {
      throw new TributaryError('INVALID_INPUT', `response JSON schema keyword "${key}" at ${path} cannot be enforced by the local model (supported: ${[...ENFORCED].join(', ')}, and anyOf)`, {
        details: [{ path: `${path}.${key}`, message: 'not enforceable while decoding' }],
      });
    }
    switch (key) {
      case 'properties':
      case '$defs':
        out[key] = Object.fromEntries(Object.entries(asObject(value, `${path}.${key}`)).map(([k, v]) => [k, toGrammarSchema(v as JsonSchema, `${path}.${key}.${k}`)]));
        break;
      case 'items':
      case 'additionalProperties':
        out[key] = typeof value === 'boolean' ? value : toGrammarSchema(value as JsonSchema, `${path}.${key}`);
        break;
      case 'prefixItems':
      case 'oneOf':
        out[key] = branches(value, `${path}.${key}`);
        break;
      default:
        out[key] = value;
    }
  }
  if (out['oneOf'] && schema['oneOf'] && schema['anyOf']) {
    throw new TributaryError('INVALID_INPUT', `response JSON schema at ${path} has both oneOf and anyOf: use one`);
  }
  const type = out['type'];
  if (Array.isArray(type)) {
    if (out['oneOf']) throw new TributaryError('INVALID_INPUT', `response JSON schema at ${path} has both a type list and oneOf/anyOf: use one`);
    const { type: _types, ...rest } = out;
    return { oneOf: (type as unknown[]).map((t) => (t === 'null' ? { type: 'null' } : { ...rest, type: t })) };
  }
  return out;
}

function branches(value: unknown, path: string): JsonSchema[] {
  if (!Array.isArray(value) || value.length === 0) throw new TributaryError('INVALID_INPUT', `response JSON schema ${path} must be a non-empty list of schemas`);
  return value.map((v, i) => toGrammarSchema(v as JsonSchema, `${path}[${i}]`));
}

function asObject(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TributaryError('INVALID_INPUT', `response JSON schema ${path} must be an object`);
  return value as Record<string, unknown>;
}
