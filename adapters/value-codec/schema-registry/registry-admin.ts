import { Compatibility } from '@confluentinc/schemaregistry/dist/schemaregistry-client.js';
import { TributaryError } from '../../../ports/errors.ts';
import { describeSchemaChanges, generatedSchemas } from '../../../schemas/json-schema.ts';
import { SUBJECT_COMPATIBILITY } from '../../../schemas/registry.ts';
import { isNotFound, registryError, type RegistryClient } from './registry-client.ts';

/**
 * `tributary schemas check|apply`: compares the schemas generated from the zod payloads with the
 * registry's latest version of each subject, using the registry's own compatibility endpoint, and
 * registers them (compatibility BACKWARD first, so the registry itself refuses a breaking change).
 */

export type SubjectState = 'new' | 'unchanged' | 'compatible' | 'incompatible';

export interface SubjectCheck {
  topic: string;
  subject: string;
  state: SubjectState;
  /** The subject's compatibility level (its own, else the registry default). */
  compatibility: string | null;
  latestVersion: number | null;
  latestId: number | null;
  /** What changed against the latest version, in words (empty when unchanged or new). */
  changes: string[];
  /** Why the check fails for this subject; null when it passes. */
  problem: string | null;
}

export interface AppliedSubject {
  subject: string;
  id: number;
  state: 'registered' | 'unchanged';
}

/** A schema to keep registered: by default every generated one (schemas/json-schema.ts). */
export interface SubjectSchema {
  topic: string;
  subject: string;
  /** JSON Schema text. */
  schema: string;
}

export class SchemaRegistryAdmin {
  private readonly client: RegistryClient;
  private readonly schemas: SubjectSchema[];

  constructor(opts: { client: RegistryClient; schemas?: SubjectSchema[] }) {
    this.client = opts.client;
    this.schemas = opts.schemas ?? generatedSchemas();
  }

  async check(): Promise<SubjectCheck[]> {
    const out: SubjectCheck[] = [];
    for (const g of this.schemas) out.push(await this.checkOne(g));
    return out;
  }

  /** Registers every generated schema; refuses to change anything when one of them would break compatibility. */
  async apply(): Promise<AppliedSubject[]> {
    const checks = await this.check();
    const bad = checks.filter((c) => c.state === 'incompatible');
    if (bad.length > 0) throw new TributaryError('SCHEMA_VIOLATION', `nothing applied: ${bad.map((c) => `${c.subject} ${c.problem}`).join('; ')}`, { details: bad });
    const applied: AppliedSubject[] = [];
    for (const g of this.schemas) {
      const c = checks.find((x) => x.subject === g.subject)!;
      if (c.compatibility !== SUBJECT_COMPATIBILITY) {
        try { await this.client.updateCompatibility(g.subject, Compatibility.BACKWARD); } catch (e) { throw registryError(e, `setting ${g.subject} to ${SUBJECT_COMPATIBILITY}`); }
      }
      if (c.state === 'unchanged' && c.latestId !== null) { applied.push({ subject: g.subject, id: c.latestId, state: 'unchanged' }); continue; }
      try {
        const id = await this.client.register(g.subject, { schemaType: 'JSON', schema: g.schema }, false);
        applied.push({ subject: g.subject, id, state: 'registered' });
      } catch (e) {
        throw registryError(e, `registering ${g.subject}`);
      }
    }
    return applied;
  }

  private async checkOne(g: SubjectSchema): Promise<SubjectCheck> {
    const base = { topic: g.topic, subject: g.subject };
    let latest: { version?: number; id?: number; schema: string; schemaType?: string } | null = null;
    try {
      latest = await this.client.getLatestSchemaMetadata(g.subject);
    } catch (e) {
      if (!isNotFound(e)) throw registryError(e, `reading the latest version of ${g.subject}`);
    }
    const compatibility = await this.compatibilityOf(g.subject);
    if (!latest) {
      return { ...base, state: 'new', compatibility, latestVersion: null, latestId: null, changes: [], problem: null };
    }
    const latestVersion = latest.version ?? null;
    const latestId = latest.id ?? null;
    const wrongLevel = compatibility !== SUBJECT_COMPATIBILITY
      ? `has compatibility ${compatibility ?? 'unknown'}, not ${SUBJECT_COMPATIBILITY}: \`tributary schemas apply\` sets it` : null;
    if ((latest.schemaType ?? 'AVRO') === 'JSON' && sameJson(latest.schema, g.schema)) {
      return { ...base, state: 'unchanged', compatibility, latestVersion, latestId, changes: [], problem: wrongLevel };
    }
    const changes = (latest.schemaType ?? 'AVRO') === 'JSON' ? describeSchemaChanges(safeParse(latest.schema), safeParse(g.schema)) : [`latest version is ${latest.schemaType ?? 'AVRO'}, the generated schema is JSON`];
    let compatible: boolean;
    try {
      compatible = await this.client.testCompatibility(g.subject, latestVersion ?? -1, { schemaType: 'JSON', schema: g.schema });
    } catch (e) {
      // a registry answers 422 when the schema can't be compared at all (e.g. another type)
      const te = registryError(e, `checking ${g.subject}`);
      if (te.code !== 'SCHEMA_VIOLATION') throw te;
      compatible = false;
    }
    if (!compatible) {
      const problem = `would break ${SUBJECT_COMPATIBILITY} compatibility with version ${latestVersion} (schema id ${latestId})`
        + (changes.length ? `: ${changes.join('; ')}` : '');
      return { ...base, state: 'incompatible', compatibility, latestVersion, latestId, changes, problem };
    }
    return { ...base, state: 'compatible', compatibility, latestVersion, latestId, changes, problem: wrongLevel };
  }

  private async compatibilityOf(subject: string): Promise<string | null> {
    try {
      return (await this.client.getCompatibility(subject)) ?? null;
    } catch (e) {
      if (!isNotFound(e)) throw registryError(e, `reading the compatibility of ${subject}`);
    }
    try {
      return (await this.client.getDefaultCompatibility()) ?? null;
    } catch (e) {
      throw registryError(e, 'reading the registry\'s default compatibility');
    }
  }
}

function safeParse(text: string): unknown {
  try { return JSON.parse(text); } catch { return null; }
}

function sameJson(a: string, b: string): boolean {
  if (a === b) return true;
  return canonical(safeParse(a)) === canonical(safeParse(b));
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}
