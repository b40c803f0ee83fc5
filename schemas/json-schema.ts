import { z } from 'zod';
import { SCHEMA_TOPICS, TOPIC_VALUE_SCHEMAS, subjectFor, type SchemaTopic } from './registry.ts';

/**
 * JSON Schema for each registered topic value, generated from the zod payloads.
 * Draft-07: the dialect every Confluent-compatible registry's compatibility checker understands
 * (Apicurio 3.0 rejects 2020-12 with "could not determine version"). Objects come out closed
 * (additionalProperties: false), which is what lets a new optional field stay BACKWARD compatible.
 */
export function jsonSchemaFor(topic: SchemaTopic): Record<string, unknown> {
  const generated = z.toJSONSchema(TOPIC_VALUE_SCHEMAS[topic], { target: 'draft-7', io: 'output', unrepresentable: 'throw' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  // $schema first, then a title naming the subject; the rest in generation order (deterministic)
  return { $schema, title: subjectFor(topic), ...rest };
}

/** The exact text registered: the registry looks schemas up by their text, so it must not vary between runs. */
export function schemaTextFor(topic: SchemaTopic): string {
  return JSON.stringify(jsonSchemaFor(topic));
}

export interface GeneratedSchema {
  topic: SchemaTopic;
  subject: string;
  schema: string;
}

export function generatedSchemas(): GeneratedSchema[] {
  return SCHEMA_TOPICS.map((topic) => ({ topic, subject: subjectFor(topic), schema: schemaTextFor(topic) }));
}

type Json = Record<string, unknown>;
const asObj = (v: unknown): Json | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null);
const typesOf = (s: Json): string => {
  const t = s['type'];
  return Array.isArray(t) ? [...t].map(String).sort().join('|') : t === undefined ? 'any' : String(t);
};

/**
 * What changed between two JSON Schemas, in words, for the fields a reader cares about: properties
 * removed or added, requiredness, types, closing the object. A hint beside the registry's verdict
 * (which says only compatible or not), not a compatibility checker of its own.
 */
export function describeSchemaChanges(before: unknown, after: unknown, path = ''): string[] {
  const a = asObj(before);
  const b = asObj(after);
  if (!a || !b) return [];
  const at = (k: string) => (path ? `${path}.${k}` : k);
  const out: string[] = [];
  if (typesOf(a) !== typesOf(b)) out.push(`${path || '(root)'}: type ${typesOf(a)} → ${typesOf(b)}`);
  const pa = asObj(a['properties']) ?? {};
  const pb = asObj(b['properties']) ?? {};
  const ra = new Set(Array.isArray(a['required']) ? (a['required'] as string[]) : []);
  const rb = new Set(Array.isArray(b['required']) ? (b['required'] as string[]) : []);
  for (const k of Object.keys(pa)) if (!(k in pb)) out.push(`${at(k)}: property removed`);
  for (const k of Object.keys(pb)) {
    if (!(k in pa)) out.push(`${at(k)}: property added${rb.has(k) ? ' as required (data written before has no value for it)' : ' (optional)'}`);
    else {
      if (rb.has(k) && !ra.has(k)) out.push(`${at(k)}: became required`);
      if (!rb.has(k) && ra.has(k)) out.push(`${at(k)}: became optional`);
      out.push(...describeSchemaChanges(pa[k], pb[k], at(k)));
    }
  }
  if (a['additionalProperties'] !== false && b['additionalProperties'] === false) out.push(`${path || '(root)'}: closed to extra properties`);
  if (a['additionalProperties'] === false && b['additionalProperties'] !== false) out.push(`${path || '(root)'}: opened to extra properties`);
  for (const key of ['minLength', 'maxLength', 'minimum', 'maximum', 'pattern', 'format'] as const) {
    if (a[key] !== b[key] && path) out.push(`${path}: ${key} ${a[key] === undefined ? 'none' : JSON.stringify(a[key])} → ${b[key] === undefined ? 'none' : JSON.stringify(b[key])}`);
  }
  const ia = asObj(a['items']);
  const ib = asObj(b['items']);
  if (ia && ib) out.push(...describeSchemaChanges(ia, ib, `${path || '(root)'}[]`));
  return out;
}
