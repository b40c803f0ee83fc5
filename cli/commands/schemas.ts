import type { ParsedArgs } from '../args.ts';
import { printJson, type Command, type CommandContext } from '../command.ts';
import { CliError, ExitCodes } from '../errors.ts';
import { plural, styleFor, type Style } from '../format.ts';
import { renderTable } from '../table.ts';
import { findTributaryError } from '../../ports/errors.ts';
import { UNREGISTERED_TOPICS, SUBJECT_COMPATIBILITY } from '../../schemas/registry.ts';
import type { SubjectCheck } from '../../wiring/schema-registry.ts';
import { createSchemaRegistryAdmin } from '../../wiring/schema-registry.ts';

const REGISTRY_ENV = 'SCHEMA_REGISTRY_URL';
const registryOption = { type: 'string', value: 'url', description: `Schema Registry URL (overrides ${REGISTRY_ENV})` } as const;
const registryEnv: [string, string] = [REGISTRY_ENV, 'Schema Registry base URL (Confluent API; Apicurio: .../apis/ccompat/v7)'];

function registryUrl(args: ParsedArgs, ctx: CommandContext): string {
  const url = args.string('registry') ?? ctx.env[REGISTRY_ENV];
  if (!url) {
    throw new CliError(`no Schema Registry: set ${REGISTRY_ENV} or pass --registry <url>`, ExitCodes.config, {
      hints: ['Without a registry Tributary writes plain JSON, validated with the same zod schemas; there is nothing to check.'],
    });
  }
  return url;
}

/** Registry failures as CLI errors: unreachable → exit 3, the rest → exit 1. */
function asCliError(e: unknown, url: string): never {
  const te = findTributaryError(e);
  if (te?.code === 'SCHEMA_REGISTRY_UNAVAILABLE' && te.upstreamStatus === undefined) {
    throw new CliError(`cannot reach the Schema Registry at ${url}`, ExitCodes.unavailable, { cause: e, hints: [te.message] });
  }
  if (te) throw new CliError(te.message, ExitCodes.failure, { cause: e });
  throw e;
}

const STATE_TEXT: Record<SubjectCheck['state'], string> = {
  new: 'new',
  unchanged: 'unchanged',
  compatible: 'compatible change',
  incompatible: 'INCOMPATIBLE',
};

function renderChecks(checks: SubjectCheck[], s: Style, width?: number): string {
  const color = (c: SubjectCheck) => (c.state === 'incompatible' ? s.red : c.problem ? s.yellow : s.green)(STATE_TEXT[c.state]);
  const table = renderTable(
    [{ header: 'SUBJECT', flex: true }, { header: 'STATE' }, { header: 'LATEST', align: 'right' }, { header: 'ID', align: 'right' }, { header: 'COMPATIBILITY' }],
    checks.map((c) => [c.subject, color(c), c.latestVersion === null ? '-' : `v${c.latestVersion}`, c.latestId === null ? '-' : String(c.latestId), c.compatibility ?? '-']),
    width !== undefined ? { maxWidth: width } : {},
  );
  const lines: string[] = [table];
  for (const c of checks) {
    if (c.changes.length > 0 && c.state !== 'incompatible') lines.push(`${c.subject}: ${c.changes.join('; ')}`);
    if (c.problem) lines.push((c.state === 'incompatible' ? s.red('✗ ') : s.yellow('! ')) + `${c.subject} ${c.problem}`);
  }
  return lines.join('\n') + (lines.length > 1 ? '\n' : '');
}

export const schemasCheck: Command = {
  spec: {
    name: 'schemas check',
    summary: 'compare the payload schemas with the Schema Registry (fails on a breaking change)',
    usage: '',
    description: [
      'Generates the JSON Schema of every topic value from the zod payloads and asks the Schema Registry',
      `whether each is ${SUBJECT_COMPATIBILITY} compatible with the latest version of its subject (<topic>-value).`,
      'Exits 1 when a change would break compatibility, or a subject is not set to BACKWARD.',
      `Not registered: ${Object.keys(UNREGISTERED_TOPICS).join(', ')}.`,
    ].join('\n'),
    options: { registry: registryOption, json: { type: 'boolean', description: 'print the checks as JSON' } },
    positionals: { min: 0, max: 0 },
    examples: ['tributary schemas check', 'SCHEMA_REGISTRY_URL=http://localhost:8081 tributary schemas check --json'],
    env: [registryEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const url = registryUrl(args, ctx);
    const admin = createSchemaRegistryAdmin(url);
    let checks: SubjectCheck[];
    try { checks = await admin.check(); } catch (e) { asCliError(e, url); }
    const failed = checks.filter((c) => c.problem !== null);
    if (args.flag('json')) {
      printJson(ctx, { ok: failed.length === 0, subjects: checks });
      return failed.length === 0 ? ExitCodes.ok : ExitCodes.failure;
    }
    const s = styleFor(ctx.stdout, ctx.env);
    ctx.stdout.write(renderChecks(checks, s, ctx.stdout.columns));
    if (failed.length > 0) {
      const breaking = failed.filter((c) => c.state === 'incompatible');
      ctx.stderr.write(s.red(breaking.length > 0
        ? `${plural(breaking.length, 'subject')} would break ${SUBJECT_COMPATIBILITY} compatibility: consumers on the new schema could not read data already written. `
          + 'Make the change additive (a new optional field), or publish to a new topic.'
        : `${plural(failed.length, 'subject')} not set to ${SUBJECT_COMPATIBILITY}: run ${ctx.invokedAs} schemas apply`) + '\n');
      return ExitCodes.failure;
    }
    const pending = checks.filter((c) => c.state === 'new' || c.state === 'compatible').length;
    ctx.stdout.write(s.green(pending > 0 ? `OK: ${plural(pending, 'subject')} to register with ${ctx.invokedAs} schemas apply` : 'OK: the registry is up to date') + '\n');
    return ExitCodes.ok;
  },
};

export const schemasApply: Command = {
  spec: {
    name: 'schemas apply',
    summary: 'register the payload schemas in the Schema Registry (BACKWARD)',
    usage: '',
    description: [
      `Sets every subject to ${SUBJECT_COMPATIBILITY} and registers the generated JSON Schema as its latest version.`,
      'Idempotent. Changes nothing when any schema would break compatibility.',
    ].join('\n'),
    options: { registry: registryOption, json: { type: 'boolean', description: 'print the result as JSON' } },
    positionals: { min: 0, max: 0 },
    examples: ['tributary schemas apply'],
    env: [registryEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const url = registryUrl(args, ctx);
    const admin = createSchemaRegistryAdmin(url);
    let applied;
    try { applied = await admin.apply(); } catch (e) { asCliError(e, url); }
    if (args.flag('json')) { printJson(ctx, { subjects: applied }); return ExitCodes.ok; }
    const s = styleFor(ctx.stdout, ctx.env);
    ctx.stdout.write(renderTable(
      [{ header: 'SUBJECT', flex: true }, { header: 'ID', align: 'right' }, { header: 'STATE' }],
      applied.map((a) => [a.subject, String(a.id), a.state === 'registered' ? s.green('registered') : 'unchanged']),
      ctx.stdout.columns !== undefined ? { maxWidth: ctx.stdout.columns } : {},
    ));
    const n = applied.filter((a) => a.state === 'registered').length;
    ctx.stdout.write(`${n > 0 ? `registered ${plural(n, 'schema')}` : 'nothing to register'}; every subject is ${SUBJECT_COMPATIBILITY}\n`);
    return ExitCodes.ok;
  },
};
