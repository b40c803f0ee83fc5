import { TributaryError } from '../../ports/errors.ts';
import type { PromptTemplate } from './template.ts';

/**
 * The prompts Tributary uses, by role: the template id each role reads and the variables its
 * text must use. A prompt set is complete (one template per role) and checked once at start-up.
 */
export const PROMPT_ROLES = {
  answer: { id: 'rag-answer', variables: [] },
  expansion: { id: 'rag-expansion', variables: ['n'] },
  rerank: { id: 'rag-rerank', variables: [] },
  selfQuery: { id: 'rag-self-query', variables: ['categories'] },
  judge: { id: 'rag-judge', variables: [] },
  injection: { id: 'guard-injection', variables: [] },
} as const satisfies Record<string, { id: string; variables: readonly string[] }>;

export type PromptRole = keyof typeof PROMPT_ROLES;
export type PromptSet = Readonly<Record<PromptRole, PromptTemplate>>;

/** The id and version a trace or a cache key records for a template. */
export function promptRef(t: PromptTemplate): { templateId: string; templateVersion: number } {
  return { templateId: t.id, templateVersion: t.version };
}

/** Builds the set from templates by id; `where` names their origin in errors. */
export function promptSetOf(byId: ReadonlyMap<string, PromptTemplate>, where: string): PromptSet {
  const out: Partial<Record<PromptRole, PromptTemplate>> = {};
  for (const [role, spec] of Object.entries(PROMPT_ROLES) as Array<[PromptRole, (typeof PROMPT_ROLES)[PromptRole]]>) {
    const t = byId.get(spec.id);
    if (!t) throw new TributaryError('INVALID_CONFIG', `prompt template "${spec.id}" is missing from ${where} (expected ${spec.id}.md)`);
    const want: readonly string[] = spec.variables;
    if (want.length !== t.variables.length || want.some((v) => !t.variables.includes(v))) {
      throw new TributaryError('INVALID_CONFIG', `prompt template "${spec.id}" (${where}) must use exactly the variables ${want.length ? want.map((v) => `{{${v}}}`).join(', ') : '(none)'}; it declares ${t.variables.length ? t.variables.join(', ') : 'none'}`);
    }
    out[role] = t;
  }
  return out as PromptSet;
}
