import { describe } from 'vitest';

/**
 * The one answer to "is this run CI?", for every suite and global setup: CI=true or CI=1 (any case).
 * `.ci/run` exports CI=true (GitHub Actions sets it too). In CI what a suite needs must be there: a
 * missing fixture or a server that does not start fails the run, never a skip. The one exception is
 * a server CI is not given, named by a variable (MONGODB_URL, QDRANT_URL): `need.inCi: 'skip'`.
 */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['true', '1'].includes((env['CI'] ?? '').trim().toLowerCase());
}

/**
 * What a skipped suite's title ends with: ` — skipped: <what would run it>`. The closing summary of
 * the run (test/setup/summary-reporter.ts) reads it back, so each skipped suite is listed with the
 * variable or command that would run it, said by the suite itself.
 */
const SKIP_MARK = ' — skipped: ';

/** `<name> — skipped: <toRun>`: the title of a suite that did not run, saying what would run it. */
export function skippedTitle(name: string, toRun: string): string {
  return `${name}${SKIP_MARK}${toRun}`;
}

/** What would run a suite, read back from a title made by skippedTitle (null: no such mark). */
export function toRunOf(title: string): string | null {
  const at = title.lastIndexOf(SKIP_MARK);
  return at < 0 ? null : title.slice(at + SKIP_MARK.length).trim() || null;
}

/** In CI, throws: a suite needs what CI fetches or starts, and it is missing. Elsewhere does nothing. */
export function failInCi(missing: string | null): void {
  if (missing !== null && isCi()) throw new Error(`${missing} — in CI (CI=${process.env['CI']}) what a suite needs must be there: nothing is skipped`);
}

export interface Need {
  /** null: what the suite needs is here. Otherwise what would run it: "set QDRANT_URL", "run `bash …`". */
  readonly toRun: string | null;
  /**
   * Without it, in CI: "fail" (a fixture `npm test` fetches, a server the tests start) or "skip"
   * (a server CI is not given, named by a variable: MONGODB_URL, QDRANT_URL).
   */
  readonly inCi: 'fail' | 'skip';
}

/**
 * `describe` for a suite that needs something this machine may lack. When it is there the suite
 * runs; when not, every test in it is still collected and reported as skipped (never one
 * placeholder test), under a title saying what would run it — or, in CI with `inCi: "fail"`, the
 * file fails. The body runs either way (that is how its tests are collected): it must not use the
 * missing thing outside hooks and tests.
 */
export function describeWith(need: Need, name: string, fn: () => void): void {
  if (need.toRun === null) {
    describe(name, fn);
    return;
  }
  if (need.inCi === 'fail') failInCi(`${name}: ${need.toRun}`);
  describe.skip(skippedTitle(name, need.toRun), fn);
}
