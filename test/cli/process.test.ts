import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

function run(args: string[]) {
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the tributary process', () => {
  it('`node cli/main.ts --help` lists the commands and exits 0', () => {
    const r = run(['cli/main.ts', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: tributary <command> \[options\]/);
    for (const c of ['dev', 'ingest', 'search', 'ask', 'lag', 'dlq list', 'dlq replay', 'demo']) expect(r.stdout).toContain(`\n  ${c} `);
    expect(r.stderr).toBe('');
  });

  it('an unknown command exits 2 with a suggestion on stderr', () => {
    const r = run(['cli/main.ts', 'serch', 'kafka']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('error: unknown command "serch"');
    expect(r.stderr).toContain('Did you mean `tributary search`?');
  });

  it('the bin shim runs main.ts with the same node, passing arguments and the exit code', () => {
    const help = run(['cli/bin.js', 'search', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: tributary search <query> \[options\]/);
    const bad = run(['cli/bin.js', 'search']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error: missing <query>');
  });
});
