import type { Reporter, TestCase, TestModule } from 'vitest/node';
import { toRunOf } from '../helpers/ci.ts';

/**
 * Closes the run, after the default reporter's output, with what did not run and the totals:
 *
 *   skipped: test/conformance/vector-index.qdrant.test.ts (31 tests, set QDRANT_URL (e.g. …))
 *   vitest: N passed, N failed, N skipped
 *
 * one `skipped:` line per file (and reason) with its count of skipped tests and what would run them,
 * as the suite itself says it (test/helpers/ci.ts: a skipped suite's title ends with
 * ` — skipped: <what would run it>`, or a test skips itself with `ctx.skip(note)`), then one plain
 * closing line with the totals, last, so a CI reading closing lines sees how many tests ran.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    process.stdout.write(`\n${closingLines(testModules.map(tallyOf)).join('\n')}\n`);
  }
}

export interface TestTally {
  state: 'passed' | 'failed' | 'skipped' | 'pending';
  /** For a test that did not run: what would run it, as its suite says (null: it does not say). */
  toRun: string | null;
}

export interface FileTally {
  /** The test file, relative to the project root. */
  file: string;
  tests: TestTally[];
  /** The file failed before any test was collected (an import that threw, a CI failInCi). */
  failedEmpty: boolean;
}

const NO_REASON = 'no reason given';

/** The run's closing lines: one per skipped file and reason, then the totals, last. */
export function closingLines(files: readonly FileTally[]): string[] {
  let passed = 0; let failed = 0; let skipped = 0;
  const lines: string[] = [];
  for (const f of [...files].sort((a, b) => a.file.localeCompare(b.file))) {
    const byReason = new Map<string, number>();
    for (const t of f.tests) {
      if (t.state === 'passed') passed++;
      else if (t.state === 'failed') failed++;
      else {
        skipped++;
        const reason = t.toRun ?? (t.state === 'pending' ? 'did not run' : NO_REASON);
        byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
      }
    }
    if (f.failedEmpty && f.tests.length === 0) failed++;
    for (const [reason, n] of byReason) lines.push(`skipped: ${f.file} (${n} test${n === 1 ? '' : 's'}, ${reason})`);
  }
  lines.push(`vitest: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  return lines;
}

/** What would run a skipped test: its own skip note, else the nearest title (its own, then its suites') that says. */
export function toRunOfTest(note: string | undefined, titles: readonly string[]): string | null {
  const firstLine = (s: string) => s.split('\n')[0]!.trim();
  if (note) return firstLine(toRunOf(note) ?? note) || null;
  for (const title of titles) {
    const toRun = toRunOf(title);
    if (toRun) return firstLine(toRun);
  }
  return null;
}

function tallyOf(m: TestModule): FileTally {
  const tests: TestTally[] = [];
  for (const t of m.children.allTests()) {
    const result = t.result();
    tests.push({ state: result.state, toRun: result.state === 'skipped' || result.state === 'pending' ? toRunOfTest(result.state === 'skipped' ? result.note : undefined, titlesOf(t)) : null });
  }
  return { file: m.relativeModuleId, tests, failedEmpty: m.state() === 'failed' };
}

/** A test's title, then its suites' titles, innermost first. */
function titlesOf(t: TestCase): string[] {
  const titles = [t.name];
  for (let p = t.parent; p.type === 'suite'; p = p.parent) titles.push(p.name);
  return titles;
}
