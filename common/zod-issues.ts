/**
 * How a zod validation failure is told to a person and to a client — one wording everywhere:
 * `path: message; path: message`, with `(root)` (or the caller's word) for the value itself.
 */

/** The part of a zod issue this needs (zod's own `$ZodIssue` satisfies it). */
export interface IssueLike {
  readonly path: ReadonlyArray<PropertyKey>;
  readonly message: string;
}

/** `a.b` for a nested path; `items.3.title` for arrays. */
export function issuePath(issue: IssueLike, root = '(root)'): string {
  return issue.path.map((p) => String(p)).join('.') || root;
}

/** One line naming every bad field: `author: Required; tags.2: Expected string`. */
export function describeIssues(issues: readonly IssueLike[], root = '(root)'): string {
  return issues.map((i) => `${issuePath(i, root)}: ${i.message}`).join('; ');
}

/** The machine-readable form for an error's `details`: `[{ path, message }]`. */
export function issueDetails(issues: readonly IssueLike[]): Array<{ path: string; message: string }> {
  return issues.map((i) => ({ path: i.path.map((p) => String(p)).join('.'), message: i.message }));
}
