import { TributaryError } from '../../ports/errors.ts';

/**
 * Prompt templates: the instructions Tributary gives a model live as files (prompts/<id>.md in the
 * repository, overridable per deployment), each with an id and a version that traces and the answer
 * cache record. A file is a small header between `---` lines, then the template text:
 *
 *   ---
 *   id: rag-answer
 *   version: 1
 *   description: the grounded answer, with numbered citations
 *   variables: n, categories
 *   ---
 *   You answer questions using only …  {{n}} …
 *
 * `{{name}}` is replaced by the value given for it; every placeholder must be declared in
 * `variables` and every declared variable must be used, so a typo fails at start-up, not in a
 * prompt. Pure: text in, template out.
 */

export interface PromptTemplate {
  id: string;
  version: number;
  description: string;
  variables: string[];
  text: string;
}

const ID = /^[a-z][a-z0-9-]{0,63}$/;
const PLACEHOLDER = /\{\{\s*([a-zA-Z][a-zA-Z0-9_]*)\s*\}\}/g;

function invalid(source: string, message: string): TributaryError {
  return new TributaryError('INVALID_CONFIG', `prompt template ${source}: ${message}`);
}

/** Parses a template file; `source` names it in errors (its path). */
export function parsePromptTemplate(content: string, source: string): PromptTemplate {
  const m = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?([\s\S]*)$/.exec(content);
  if (!m) throw invalid(source, 'does not start with a header between "---" lines (id, version, description, variables)');
  const header = new Map<string, string>();
  for (const [i, raw] of m[1]!.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const kv = /^([a-z]+)\s*:\s*(.*)$/.exec(line);
    if (!kv) throw invalid(source, `header line ${i + 2} is not "name: value": ${JSON.stringify(raw)}`);
    if (header.has(kv[1]!)) throw invalid(source, `header names "${kv[1]}" twice`);
    header.set(kv[1]!, kv[2]!.trim());
  }
  const unknown = [...header.keys()].filter((k) => !['id', 'version', 'description', 'variables'].includes(k));
  if (unknown.length) throw invalid(source, `unknown header field ${unknown.map((k) => `"${k}"`).join(', ')} (known: id, version, description, variables)`);
  const id = header.get('id') ?? '';
  if (!ID.test(id)) throw invalid(source, `"id" must be lower-case letters, digits and dashes (got ${JSON.stringify(id)})`);
  const versionText = header.get('version') ?? '';
  if (!/^[1-9]\d{0,5}$/.test(versionText)) throw invalid(source, `"version" must be a positive whole number (got ${JSON.stringify(versionText)}); bump it whenever the text changes`);
  const variables = (header.get('variables') ?? '').split(',').map((v) => v.trim()).filter(Boolean);
  const text = m[2]!.replace(/\s+$/, '');
  if (!text) throw invalid(source, 'has no text after its header');
  const used = new Set([...text.matchAll(PLACEHOLDER)].map((p) => p[1]!));
  const undeclared = [...used].filter((v) => !variables.includes(v));
  if (undeclared.length) throw invalid(source, `uses ${undeclared.map((v) => `{{${v}}}`).join(', ')} without declaring it in "variables"`);
  const unused = variables.filter((v) => !used.has(v));
  if (unused.length) throw invalid(source, `declares ${unused.map((v) => `"${v}"`).join(', ')} in "variables" but never uses it`);
  return { id, version: Number(versionText), description: header.get('description') ?? '', variables, text };
}

/** The template's text with every placeholder replaced; a missing value is a programming error. */
export function renderPrompt(t: PromptTemplate, values: Readonly<Record<string, string | number>> = {}): string {
  const missing = t.variables.filter((v) => values[v] === undefined);
  if (missing.length) throw new Error(`prompt ${t.id} v${t.version} needs ${missing.join(', ')}`);
  return t.text.replace(PLACEHOLDER, (_, name: string) => String(values[name]));
}
