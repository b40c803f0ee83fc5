import type { TestProject } from 'vitest/node';
import { isCi } from '../helpers/ci.ts';
import { FERRETDB_VERSION, FerretDb, ferretDbAvailable } from './ferretdb.ts';

/**
 * Global setup of the "mongodb-wire" test project: provides `ferretDbUrl` to the suites.
 *  - FERRETDB_URL set: that server is used as is (any MongoDB wire-protocol server).
 *  - otherwise FerretDB (SQLite backend) is started from the binary cached by
 *    test/setup/fetch-ferretdb.sh (built with Go on first use) and stopped after the last suite.
 * With CI=true a FerretDB that cannot be built or started fails the run. On a developer machine
 * the suites are skipped instead, with a loud notice saying why.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    /** mongodb:// URL of the test server ("" = MongoDB wire-protocol suites skipped, not CI). */
    ferretDbUrl: string;
    /** How the server came to be: "external …", "local … up in N ms" or the skip reason. */
    ferretDbInfo: string;
    /** What would run the MongoDB wire-protocol suites when they are skipped ("" when they run). */
    ferretDbToRun: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const external = process.env['FERRETDB_URL'];
  if (external) {
    project.provide('ferretDbUrl', external);
    project.provide('ferretDbInfo', `external server ${external}`);
    project.provide('ferretDbToRun', '');
    return undefined;
  }
  const t0 = Date.now();
  let server: FerretDb;
  try {
    if (!ferretDbAvailable()) {
      throw new Error(`FerretDB ${FERRETDB_VERSION} is not built and there is no Go on this machine to build it (install Go, or set FERRETDB_URL)`);
    }
    server = await FerretDb.start({ onProgress: (line) => process.stderr.write(`[ferretdb] ${line}\n`) });
  } catch (e) {
    if (isCi()) throw e;
    const message = (e as Error).message;
    const why = `${message.split('\n')[0]!.replace(/:$/, '')}: the MongoDB wire-protocol suites are SKIPPED (in CI they fail instead)`;
    process.stderr.write(`\n[ferretdb] ${why}\n${message.includes('\n') ? `${message}\n` : ''}\n`);
    project.provide('ferretDbUrl', '');
    project.provide('ferretDbInfo', why);
    project.provide('ferretDbToRun', ferretDbAvailable()
      ? 'FerretDB did not start (see the [ferretdb] notice above), or set FERRETDB_URL'
      : 'install Go (`npm test` then builds FerretDB), or set FERRETDB_URL');
    return undefined;
  }
  project.provide('ferretDbUrl', server.url);
  project.provide('ferretDbInfo', `local FerretDB ${FERRETDB_VERSION} (SQLite) at ${server.url}, up in ${Date.now() - t0} ms`);
  project.provide('ferretDbToRun', '');
  return async () => { await server.destroy(); };
}
