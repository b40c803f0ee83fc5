import { describe, expect, it } from 'vitest';
import { toGrammarSchema } from '../../../adapters/llm/llama-cpp/grammar-schema.ts';

describe('response schemas for the local model: rewritten to what the grammar enforces, or refused', () => {
  it('anyOf becomes oneOf, everywhere (zod .nullable() and Pydantic Optional emit it)', () => {
    expect(toGrammarSchema({ type: 'object', properties: { a: { anyOf: [{ type: 'string' }, { type: 'null' }] } }, required: ['a'] }))
      .toEqual({ type: 'object', properties: { a: { oneOf: [{ type: 'string' }, { type: 'null' }] } }, required: ['a'] });
  });

  it('a type list becomes oneOf of single types, each keeping its constraints', () => {
    expect(toGrammarSchema({ type: ['string', 'null'], maxLength: 60, description: 'a name' }))
      .toEqual({ oneOf: [{ type: 'string', maxLength: 60 }, { type: 'null' }] });
  });

  it('recurses into items, prefixItems, $defs and additionalProperties', () => {
    expect(toGrammarSchema({ type: 'array', items: { anyOf: [{ const: 1 }, { const: 2 }] }, $defs: { x: { type: ['integer', 'null'] } } }))
      .toEqual({ type: 'array', items: { oneOf: [{ const: 1 }, { const: 2 }] }, $defs: { x: { oneOf: [{ type: 'integer' }, { type: 'null' }] } } });
  });

  it('refuses a keyword it cannot enforce, naming it and where — never a schema enforced only in part', () => {
    expect(() => toGrammarSchema({ type: 'object', properties: { id: { type: 'string', pattern: '^[a-z]+$' } } })).toThrow(/keyword "pattern" at \(root\)\.properties\.id/);
    expect(() => toGrammarSchema({ type: 'integer', minimum: 1 })).toThrow(/"minimum"/);
    expect(() => toGrammarSchema({ type: 'array', uniqueItems: true })).toThrow(/"uniqueItems"/);
    expect(() => toGrammarSchema({ allOf: [{ type: 'string' }] })).toThrow(/"allOf"/);
  });
});
