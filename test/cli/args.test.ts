import { describe, expect, it } from 'vitest';
import { closest, editDistance, parseCommandArgs, parseIntInRange, renderHelp, type CommandSpec } from '../../cli/args.ts';
import { ExitCodes, findCliError } from '../../cli/errors.ts';

const spec: CommandSpec = {
  name: 'search',
  summary: 'search things',
  usage: '<query>',
  options: {
    k: { type: 'string', short: 'k', value: 'n', description: 'results', defaultText: '5' },
    category: { type: 'string', value: 'name', description: 'only this category', multiple: true },
    json: { type: 'boolean', description: 'json output' },
  },
  positionals: { min: 1, max: 1 },
  examples: ['tributary search "x"'],
  env: [['TRIBUTARY_URL', 'API base URL']],
};

function usageError(fn: () => unknown): { message: string; hints: string[] } {
  try {
    fn();
  } catch (e) {
    const cli = findCliError(e);
    expect(cli?.exitCode).toBe(ExitCodes.usage);
    return { message: cli!.message, hints: cli!.hints };
  }
  throw new Error('expected a usage error');
}

describe('parseCommandArgs', () => {
  it('parses options, repeated options and the positional', () => {
    const r = parseCommandArgs(spec, ['kafka lag', '-k', '3', '--category', 'article', '--category=post', '--json']);
    expect(r.help).toBe(false);
    if (r.help) return;
    expect(r.args.positionals).toEqual(['kafka lag']);
    expect(r.args.int('k', { min: 1, max: 100 }, 5)).toBe(3);
    expect(r.args.strings('category')).toEqual(['article', 'post']);
    expect(r.args.flag('json')).toBe(true);
    expect(r.args.string('missing')).toBeUndefined();
  });

  it('applies the fallback of an integer option that was not given', () => {
    const r = parseCommandArgs(spec, ['q']);
    if (r.help) throw new Error('unexpected help');
    expect(r.args.int('k', { min: 1, max: 100 }, 5)).toBe(5);
    expect(r.args.int('k', { min: 1, max: 100 })).toBeUndefined();
    expect(r.args.flag('json')).toBe(false);
  });

  it('recognises --help and -h anywhere before "--", even with other errors', () => {
    expect(parseCommandArgs(spec, ['--help']).help).toBe(true);
    expect(parseCommandArgs(spec, ['--bogus', '-h']).help).toBe(true);
    expect(parseCommandArgs(spec, ['--', '--help']).help).toBe(false);
  });

  it('rejects an unknown option and suggests the closest one', () => {
    const e = usageError(() => parseCommandArgs(spec, ['q', '--categroy', 'x']));
    expect(e.message).toBe('unknown option --categroy for `tributary search`');
    expect(e.hints).toContain('Did you mean --category?');
    expect(e.hints.at(-1)).toContain('tributary search --help');
  });

  it('rejects a string option without a value and a boolean with one', () => {
    expect(usageError(() => parseCommandArgs(spec, ['q', '-k'])).message).toBe('option -k needs a value (-k <n>)');
    expect(usageError(() => parseCommandArgs(spec, ['q', '--json=yes'])).message).toBe('option --json takes no value (got "yes")');
  });

  it('checks the number of positionals, suggesting quotes for a split query', () => {
    expect(usageError(() => parseCommandArgs(spec, [])).message).toMatch(/^missing <query>/);
    const e = usageError(() => parseCommandArgs(spec, ['kafka', 'lag']));
    expect(e.message).toBe('unexpected argument "lag"');
    expect(e.hints[0]).toBe('Quote a query with spaces: tributary search "kafka lag"');
  });

  it('validates integer options', () => {
    const r = parseCommandArgs(spec, ['q', '-k', 'ten']);
    if (r.help) throw new Error('unexpected help');
    expect(usageError(() => r.args.int('k', { min: 1, max: 100 })).message).toBe('--k must be a whole number from 1 to 100 (got "ten")');
    expect(parseIntInRange(' 42 ', 'n', { min: 0, max: 42 })).toBe(42);
    expect(usageError(() => parseIntInRange('1.5', 'n', { min: 0, max: 9 })).message).toMatch(/whole number/);
    expect(usageError(() => parseIntInRange('101', 'n', { min: 0, max: 100 })).message).toMatch(/from 0 to 100/);
  });
});

describe('renderHelp', () => {
  it('lists usage, every option with its default, --help, environment and examples', () => {
    const help = renderHelp(spec);
    expect(help).toContain('Usage: tributary search <query> [options]');
    expect(help).toMatch(/-k, --k <n>\s+results \(default: 5\)/);
    expect(help).toMatch(/--category <name>\s+only this category \(repeatable\)/);
    expect(help).toMatch(/-h, --help\s+show this help/);
    expect(help).toMatch(/TRIBUTARY_URL\s+API base URL/);
    expect(help).toContain('tributary search "x"');
  });
});

describe('closest', () => {
  it('finds plausible typos only', () => {
    expect(closest('serch', ['search', 'ask', 'lag'])).toBe('search');
    expect(closest('lga', ['search', 'ask', 'lag'])).toBe('lag');
    expect(closest('completely-different', ['search', 'ask'])).toBeUndefined();
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });
});
