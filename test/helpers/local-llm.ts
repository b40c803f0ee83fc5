import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Need } from './ci.ts';

/**
 * The real local LLM for the tests: TRIBUTARY_TEST_LLM_GGUF, or the file that
 * `node cli/main.ts models pull smollm2 --dir ~/.cache/tributary/models` puts in the cache (`npm test`
 * pulls it first: test/setup/fetch-fixtures.ts). Without it they skip and say how to get it; in CI they fail.
 */
export const LOCAL_LLM_GGUF = process.env['TRIBUTARY_TEST_LLM_GGUF']
  ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'tributary', 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf');
export const HAVE_LOCAL_LLM = existsSync(LOCAL_LLM_GGUF);
/** What the local-model suites need: `npm test` pulls the model first, so in CI a missing one fails. */
export const LOCAL_LLM_NEED: Need = {
  toRun: HAVE_LOCAL_LLM ? null : `no model at ${LOCAL_LLM_GGUF}: run \`node cli/main.ts models pull smollm2 --dir ${join(LOCAL_LLM_GGUF, '..')}\` (\`npm test\` does), or set TRIBUTARY_TEST_LLM_GGUF`,
  inCi: 'fail',
};
/** The id the local model is served under (its file name without .gguf). */
export const LOCAL_LLM_MODEL_ID = 'SmolLM2-135M-Instruct.Q4_1';
