import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TributaryError } from '../ports/errors.ts';
import { parsePromptTemplate, type PromptTemplate } from '../streams/prompts/template.ts';
import { PROMPT_ROLES, promptSetOf, type PromptSet } from '../streams/prompts/catalogue.ts';

/**
 * The prompt templates: the files shipped in the repository (prompts/<id>.md), each replaced by a
 * file of the same id in TRIBUTARY_PROMPTS_DIR when one is set. Read once at start-up. An override
 * that changes a template's text must change its version too (traces and the answer cache record the
 * version, so a changed prompt is never taken for the shipped one); a file there whose id is not a
 * known prompt is refused, so a misspelt name cannot be silently ignored.
 */

export const SHIPPED_PROMPTS_DIR = resolve(import.meta.dirname, '../prompts');

function readDir(dir: string, what: string): Map<string, PromptTemplate> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.md')).sort();
  } catch (e) {
    throw new TributaryError('INVALID_CONFIG', `${what} (${dir}) cannot be read: ${(e as Error).message}`, { cause: e });
  }
  const out = new Map<string, PromptTemplate>();
  for (const name of names) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    const t = parsePromptTemplate(readFileSync(path, 'utf8'), `${what}/${name}`);
    if (`${t.id}.md` !== name) throw new TributaryError('INVALID_CONFIG', `prompt template ${what}/${name}: its id is "${t.id}"; name the file ${t.id}.md`);
    out.set(t.id, t);
  }
  return out;
}

let shipped: Map<string, PromptTemplate> | null = null;

/** The prompt set: the shipped templates, with the overrides of `overrideDir` (TRIBUTARY_PROMPTS_DIR). */
export function loadPrompts(overrideDir?: string): PromptSet {
  shipped ??= readDir(SHIPPED_PROMPTS_DIR, 'prompts');
  if (!overrideDir) return promptSetOf(shipped, 'prompts');
  const what = 'TRIBUTARY_PROMPTS_DIR (promptsDir)';
  const overrides = readDir(resolve(overrideDir), what);
  const known = new Set<string>(Object.values(PROMPT_ROLES).map((r) => r.id));
  const merged = new Map(shipped);
  for (const [id, t] of overrides) {
    if (!known.has(id)) throw new TributaryError('INVALID_CONFIG', `${what}: ${id}.md is not a prompt Tributary uses (known: ${[...known].join(', ')})`);
    const base = shipped.get(id)!;
    if (t.version === base.version && t.text !== base.text) {
      throw new TributaryError('INVALID_CONFIG', `${what}: ${id}.md changes the text of ${id} but keeps its version ${base.version}; give it another version (traces and the answer cache tell prompts apart by version)`);
    }
    merged.set(id, t);
  }
  return promptSetOf(merged, `${what} and the shipped prompts`);
}
