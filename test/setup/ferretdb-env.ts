import { inject } from 'vitest';
import { describeWith } from '../helpers/ci.ts';

/**
 * `describe` for a suite that needs the MongoDB wire-protocol test server (FerretDB, started by
 * ferretdb-global-setup.ts, or FERRETDB_URL): skipped (every test, visibly, with what would run it)
 * only when the global setup decided so — never in CI, where a server that does not start fails the
 * run instead. A skipped suite's body gets "" for the URL (it is only collected, never run).
 */
export function describeFerretDb(name: string, fn: (url: string) => void): void {
  const url = inject('ferretDbUrl');
  describeWith({ toRun: url ? null : inject('ferretDbToRun') || inject('ferretDbInfo'), inCi: 'fail' }, name, () => fn(url));
}
