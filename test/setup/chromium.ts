import { accessSync, constants } from 'node:fs';

/**
 * The Chromium the browser suites drive: TRIBUTARY_TEST_CHROMIUM, else `chromium` on the PATH
 * (Debian's, installed with apt by test/setup/fetch-chromium.sh; `.ci/run` runs it). `npm test`
 * cannot install it (apt needs root): without one it names the command, and the suites skip
 * (in CI they fail).
 */
export function findChromium(): string | null {
  const configured = process.env['TRIBUTARY_TEST_CHROMIUM'];
  if (configured) return configured;
  for (const dir of (process.env['PATH'] ?? '').split(':').filter(Boolean)) {
    const candidate = `${dir}/chromium`;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** What would run the browser suites when there is no Chromium. */
export const CHROMIUM_TO_RUN = 'run `bash test/setup/fetch-chromium.sh` (apt-get install chromium), or set TRIBUTARY_TEST_CHROMIUM';
