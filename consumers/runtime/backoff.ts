/**
 * The stage consumer's back-off and sleep live in common/ (one home for each mechanism); this
 * module only keeps the import path of consumers/runtime/ stable.
 */
export { backoffDelay, type BackoffPolicy } from '../../common/backoff.ts';
export { sleep } from '../../common/sleep.ts';
