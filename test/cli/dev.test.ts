import { describe, expect, it } from 'vitest';
import { configError, renderBanner } from '../../cli/commands/dev.ts';
import { ExitCodes, findCliError } from '../../cli/errors.ts';
import { styleFor } from '../../cli/format.ts';
import { loadConfig } from '../../wiring/config.ts';

describe('dev', () => {
  it('turns INVALID_CONFIG into one line naming each variable (exit 78)', () => {
    let thrown: unknown;
    try { loadConfig({ PORT: '99999', TRIBUTARY_LOG_LEVEL: 'loud' }); } catch (e) { thrown = e; }
    const cli = findCliError(configError(thrown));
    expect(cli?.exitCode).toBe(ExitCodes.config);
    expect(cli?.message).not.toContain('\n');
    expect(cli?.message).toMatch(/^invalid configuration: PORT \(port\): .+; TRIBUTARY_LOG_LEVEL \(logLevel\): .+ \(set in the environment or in TRIBUTARY_CONFIG_FILE\)$/);
  });

  it('leaves other errors alone', () => {
    const e = new Error('boom');
    expect(configError(e)).toBe(e);
  });

  it('prints a banner with the URL, docs, data dir, embedder and LLM (or extractive)', () => {
    const banner = renderBanner({ url: 'http://127.0.0.1:8080', dataDir: '/srv/data', embedder: 'hashing-v1-d256 (256 dimensions)', llm: null, mode: 'embedded', invokedAs: 'npx tributary' }, styleFor({ isTTY: false }));
    expect(banner).toContain('API       http://127.0.0.1:8080');
    expect(banner).toContain('Docs      http://127.0.0.1:8080/docs');
    expect(banner).toContain('Data      /srv/data');
    expect(banner).toContain('Embedder  hashing-v1-d256 (256 dimensions)');
    expect(banner).toContain('LLM       none — answers are extractive');
    expect(banner).toContain('npx tributary demo');
  });
});
