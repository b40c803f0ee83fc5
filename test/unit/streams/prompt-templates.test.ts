import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePromptTemplate, renderPrompt } from '../../../streams/prompts/template.ts';
import { PROMPT_ROLES } from '../../../streams/prompts/catalogue.ts';
import { loadPrompts, SHIPPED_PROMPTS_DIR } from '../../../wiring/prompts.ts';

// Prompt templates are files in the repository (prompts/<id>.md) with an id and a version;
// TRIBUTARY_PROMPTS_DIR replaces them by id. Every mistake in one is refused at start-up, by name.

const file = (head: string, body: string) => `---\n${head}\n---\n${body}\n`;

describe('prompt template files', () => {
  it('parses the header and renders the placeholders', () => {
    const t = parsePromptTemplate(file('id: rag-expansion\nversion: 3\ndescription: d\nvariables: n', 'Write {{n}} queries, {{ n }} at most.'), 'x.md');
    expect(t).toMatchObject({ id: 'rag-expansion', version: 3, description: 'd', variables: ['n'] });
    expect(renderPrompt(t, { n: 2 })).toBe('Write 2 queries, 2 at most.');
    expect(() => renderPrompt(t, {})).toThrow(/needs n/);
  });

  it.each([
    ['no header', 'just text', /header between "---" lines/],
    ['a bad id', file('id: Rag Answer\nversion: 1', 'x'), /"id" must be lower-case/],
    ['no version', file('id: a', 'x'), /"version" must be a positive whole number/],
    ['version 0', file('id: a\nversion: 0', 'x'), /"version" must be a positive whole number/],
    ['an unknown field', file('id: a\nversion: 1\nmodel: gpt', 'x'), /unknown header field "model"/],
    ['a field twice', file('id: a\nversion: 1\nversion: 2', 'x'), /names "version" twice/],
    ['an undeclared placeholder', file('id: a\nversion: 1', 'Say {{nme}}'), /uses \{\{nme\}\} without declaring it/],
    ['a declared variable never used', file('id: a\nversion: 1\nvariables: n', 'no placeholder'), /declares "n" in "variables" but never uses it/],
    ['no text', file('id: a\nversion: 1', ''), /has no text/],
  ])('refuses a file with %s, naming the file', (_, content, message) => {
    expect(() => parsePromptTemplate(content, 'prompts/a.md')).toThrow(message);
    expect(() => parsePromptTemplate(content, 'prompts/a.md')).toThrow(/prompts\/a\.md/);
  });

  it('ships one template per role, each with the variables its role fills', () => {
    const set = loadPrompts();
    for (const [role, spec] of Object.entries(PROMPT_ROLES)) {
      const t = set[role as keyof typeof set];
      expect(t.id, role).toBe(spec.id);
      expect(t.version).toBeGreaterThanOrEqual(1);
      expect([...t.variables].sort()).toEqual([...spec.variables].sort());
    }
  });
});

describe('TRIBUTARY_PROMPTS_DIR overrides', () => {
  let dir: string | undefined;
  afterEach(() => { if (dir) rmSync(dir, { recursive: true, force: true }); dir = undefined; });
  const overrides = (files: Record<string, string>) => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-prompts-'));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    return dir;
  };
  const shipped = (id: string) => readFileSync(join(SHIPPED_PROMPTS_DIR, `${id}.md`), 'utf8');

  it('replaces a shipped template by id and keeps the others', () => {
    const d = overrides({ 'rag-answer.md': file('id: rag-answer\nversion: 7\ndescription: terse', 'Answer in one sentence from the numbered passages, citing them like [1].') });
    const set = loadPrompts(d);
    expect(set.answer).toMatchObject({ id: 'rag-answer', version: 7, text: 'Answer in one sentence from the numbered passages, citing them like [1].' });
    expect(set.rerank).toEqual(loadPrompts().rerank);
  });

  it('refuses a changed text under the shipped version: traces and the cache would take it for the shipped prompt', () => {
    const d = overrides({ 'rag-rerank.md': shipped('rag-rerank').replace('most relevant first', 'best first') });
    expect(() => loadPrompts(d)).toThrow(/rag-rerank\.md changes the text of rag-rerank but keeps its version 1; give it another version/);
    // the same text under the same version is accepted (a copy of the shipped file)
    writeFileSync(join(d, 'rag-rerank.md'), shipped('rag-rerank'));
    expect(loadPrompts(d).rerank).toEqual(loadPrompts().rerank);
  });

  it('refuses an unknown id (a misspelt file is never silently ignored), a file named after another id, and a missing variable', () => {
    expect(() => loadPrompts(overrides({ 'rag-anwser.md': file('id: rag-anwser\nversion: 2', 'x') }))).toThrow(/rag-anwser\.md is not a prompt Tributary uses \(known: rag-answer/);
    expect(() => loadPrompts(overrides({ 'rag-answer.md': file('id: rag-rerank\nversion: 2', 'x') }))).toThrow(/its id is "rag-rerank"; name the file rag-rerank\.md/);
    expect(() => loadPrompts(overrides({ 'rag-expansion.md': file('id: rag-expansion\nversion: 2', 'Write three queries.') })))
      .toThrow(/"rag-expansion" .* must use exactly the variables \{\{n\}\}; it declares none/);
    expect(() => loadPrompts(join(tmpdir(), 'no-such-prompts-dir-4711'))).toThrow(/TRIBUTARY_PROMPTS_DIR \(promptsDir\) .* cannot be read/);
  });
});
