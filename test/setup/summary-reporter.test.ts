import { describe, expect, it } from 'vitest';
import { isCi, skippedTitle, toRunOf } from '../helpers/ci.ts';
import { closingLines, toRunOfTest, type FileTally, type TestTally } from './summary-reporter.ts';

const tests = (n: number, state: TestTally['state'], toRun: string | null = null): TestTally[] => Array.from({ length: n }, () => ({ state, toRun }));

describe('the closing lines of a test run', () => {
  it('lists each skipped file with its count and what would run it, then the totals, last', () => {
    const files: FileTally[] = [
      { file: 'test/unit/a.test.ts', tests: tests(12, 'passed'), failedEmpty: false },
      { file: 'test/conformance/vector-index.qdrant.test.ts', tests: [...tests(5, 'passed'), ...tests(31, 'skipped', 'set QDRANT_URL')], failedEmpty: false },
      { file: 'test/conformance/change-feed.mongodb.test.ts', tests: tests(1, 'skipped', 'set MONGODB_URL to a replica set'), failedEmpty: false },
      { file: 'test/unit/b.test.ts', tests: [...tests(2, 'failed'), ...tests(1, 'passed')], failedEmpty: false },
    ];
    expect(closingLines(files)).toEqual([
      'skipped: test/conformance/change-feed.mongodb.test.ts (1 test, set MONGODB_URL to a replica set)',
      'skipped: test/conformance/vector-index.qdrant.test.ts (31 tests, set QDRANT_URL)',
      'vitest: 18 passed, 2 failed, 32 skipped',
    ]);
  });

  it('one line per reason when a file skips for several; a skip without a reason says so', () => {
    const files: FileTally[] = [{
      file: 'test/e2e/x.test.ts',
      tests: [...tests(3, 'skipped', 'set QDRANT_URL'), ...tests(2, 'skipped'), ...tests(1, 'pending'), ...tests(4, 'skipped', 'set QDRANT_URL')],
      failedEmpty: false,
    }];
    expect(closingLines(files)).toEqual([
      'skipped: test/e2e/x.test.ts (7 tests, set QDRANT_URL)',
      'skipped: test/e2e/x.test.ts (2 tests, no reason given)',
      'skipped: test/e2e/x.test.ts (1 test, did not run)',
      'vitest: 0 passed, 0 failed, 10 skipped',
    ]);
  });

  it('a file that failed before any test was collected counts as one failure; nothing skipped: only the totals', () => {
    expect(closingLines([
      { file: 'test/browser/ops-page.test.ts', tests: [], failedEmpty: true },
      { file: 'test/unit/a.test.ts', tests: tests(3, 'passed'), failedEmpty: false },
    ])).toEqual(['vitest: 3 passed, 1 failed, 0 skipped']);
  });

  it('reads what would run a test from its skip note, else from the nearest title that says', () => {
    const suite = skippedTitle('VectorIndex conformance: qdrant', 'set QDRANT_URL (e.g. http://127.0.0.1:6333)');
    expect(toRunOf(suite)).toBe('set QDRANT_URL (e.g. http://127.0.0.1:6333)');
    expect(toRunOf('a title with no mark')).toBeNull();
    expect(toRunOfTest(undefined, ['upserts', 'inner suite', suite])).toBe('set QDRANT_URL (e.g. http://127.0.0.1:6333)');
    expect(toRunOfTest(undefined, ['upserts', 'inner suite'])).toBeNull();
    // a test's own note wins, first line only
    expect(toRunOfTest('promtool is not built: run `bash test/deploy/fetch-promtool.sh`\nmore detail', [suite])).toBe('promtool is not built: run `bash test/deploy/fetch-promtool.sh`');
    expect(toRunOfTest(skippedTitle('x', 'set FERRETDB_URL'), [])).toBe('set FERRETDB_URL');
  });
});

describe('isCi: one reading of CI', () => {
  it('CI=true or CI=1, in any case; anything else is not CI', () => {
    for (const v of ['true', 'TRUE', '1', ' true ']) expect(isCi({ CI: v }), v).toBe(true);
    for (const v of [undefined, '', '0', 'false', 'yes']) expect(isCi({ CI: v }), String(v)).toBe(false);
  });
});
