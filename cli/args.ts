import { parseArgs } from 'node:util';
import { UsageError } from './errors.ts';

/**
 * Command-line parsing on top of util.parseArgs: each command declares its options once (with the
 * text shown by --help), and gets back typed accessors. Unknown options, missing values and wrong
 * argument counts become UsageErrors (exit 2) that name the command's --help.
 */

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  description: string;
  /** Placeholder shown by --help: `--k <n>`. */
  value?: string;
  /** Default as shown by --help; commands apply defaults themselves so "not given" stays visible. */
  defaultText?: string;
}

export interface CommandSpec {
  /** As typed after `tributary`, e.g. "search" or "dlq list". */
  name: string;
  summary: string;
  /** Positional part of the usage line, e.g. "<query>" or "<files or globs...>". */
  usage: string;
  description?: string;
  options: Record<string, OptionSpec>;
  positionals: { min: number; max: number };
  examples?: string[];
  env?: Array<[name: string, description: string]>;
}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help' };

export type ParseOutcome = { help: true } | { help: false; args: ParsedArgs };

export class ParsedArgs {
  readonly command: string;
  private readonly values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  readonly positionals: string[];

  constructor(command: string, values: Record<string, string | boolean | Array<string | boolean> | undefined>, positionals: string[]) {
    this.command = command;
    this.values = values;
    this.positionals = positionals;
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  string(name: string): string | undefined {
    const v = this.values[name];
    if (Array.isArray(v)) return typeof v.at(-1) === 'string' ? (v.at(-1) as string) : undefined;
    return typeof v === 'string' ? v : undefined;
  }

  strings(name: string): string[] {
    const v = this.values[name];
    if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
    return typeof v === 'string' ? [v] : [];
  }

  /** An integer option within [min, max]; `fallback` when not given. */
  int(name: string, range: { min: number; max: number }, fallback: number): number;
  int(name: string, range: { min: number; max: number }): number | undefined;
  int(name: string, range: { min: number; max: number }, fallback?: number): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    return parseIntInRange(raw, `--${name}`, range, this.command);
  }
}

export function parseIntInRange(raw: string, label: string, range: { min: number; max: number }, command?: string): number {
  const n = /^[+-]?\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new UsageError(`${label} must be a whole number from ${range.min} to ${range.max} (got "${raw}")`, command ? [helpHint(command)] : []);
  }
  return n;
}

export function helpHint(command: string): string {
  return `Run \`tributary ${command} --help\` for usage.`;
}

/** Parses argv (the words after the command name) against the command's spec. */
export function parseCommandArgs(spec: CommandSpec, argv: string[]): ParseOutcome {
  const dashDash = argv.indexOf('--');
  const beforeDashDash = dashDash === -1 ? argv : argv.slice(0, dashDash);
  if (beforeDashDash.includes('--help') || beforeDashDash.includes('-h')) return { help: true };

  const options: Record<string, OptionSpec> = { ...spec.options, help: HELP_OPTION };
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries(options)) {
    config[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  // Non-strict parse with tokens, then our own checks: messages that name the command and suggest fixes.
  const { values, positionals, tokens } = parseArgs({ args: argv, options: config, allowPositionals: true, strict: false, tokens: true });
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const o = options[t.name];
    if (!o) {
      const guess = closest(t.name, Object.keys(options));
      throw new UsageError(`unknown option ${t.rawName} for \`tributary ${spec.name}\``, [
        ...(guess ? [`Did you mean --${guess}?`] : []),
        helpHint(spec.name),
      ]);
    }
    if (o.type === 'string' && (t.value === undefined || t.value === '')) {
      throw new UsageError(`option ${t.rawName} needs a value${o.value ? ` (${t.rawName} <${o.value}>)` : ''}`, [helpHint(spec.name)]);
    }
    if (o.type === 'boolean' && t.value !== undefined) {
      throw new UsageError(`option ${t.rawName} takes no value (got "${t.value}")`, [helpHint(spec.name)]);
    }
  }
  if (positionals.length < spec.positionals.min) {
    throw new UsageError(`missing ${spec.usage || 'argument'} (usage: tributary ${spec.name} ${spec.usage} [options])`, [helpHint(spec.name)]);
  }
  if (positionals.length > spec.positionals.max) {
    const extra = positionals.slice(spec.positionals.max);
    const quoteHint = spec.positionals.max === 1 ? ['Quote a query with spaces: tributary ' + `${spec.name} "${positionals.join(' ')}"`] : [];
    throw new UsageError(`unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((a) => `"${a}"`).join(' ')}`, [...quoteHint, helpHint(spec.name)]);
  }
  return { help: false, args: new ParsedArgs(spec.name, values, positionals) };
}

export function renderHelp(spec: CommandSpec): string {
  const lines: string[] = [];
  lines.push(`Usage: tributary ${spec.name}${spec.usage ? ` ${spec.usage}` : ''} [options]`, '');
  lines.push(spec.description ?? spec.summary, '');
  const options = { ...spec.options, help: HELP_OPTION };
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` <${o.value ?? 'value'}>` : ''}`;
    const text = `${o.description}${o.defaultText ? ` (default: ${o.defaultText})` : ''}${o.multiple ? ' (repeatable)' : ''}`;
    return [flag, text] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  lines.push('Options:');
  for (const [flag, text] of rows) lines.push(`  ${flag.padEnd(width)}${text}`);
  if (spec.env?.length) {
    lines.push('', 'Environment:');
    const w = Math.max(...spec.env.map(([n]) => n.length)) + 2;
    for (const [n, d] of spec.env) lines.push(`  ${n.padEnd(w)}${d}`);
  }
  if (spec.examples?.length) {
    lines.push('', 'Examples:');
    for (const e of spec.examples) lines.push(`  ${e}`);
  }
  return lines.join('\n') + '\n';
}

/** The candidate closest to `word` by edit distance, if it is close enough to be a plausible typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) { best = c; bestDistance = d; }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return bestDistance <= limit ? best : undefined;
}

/** Edit distance counting insertions, deletions, substitutions and swaps of neighbours ("lga" → "lag" = 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
