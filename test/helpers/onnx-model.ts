import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Need } from './ci.ts';

/**
 * The real ONNX embedding model for the tests (all-MiniLM-L6-v2, int8): TRIBUTARY_TEST_ONNX_MODEL_DIR,
 * or the directory that `node cli/main.ts models pull minilm --dir ~/.cache/tributary/models` fills
 * (`npm test` pulls it first: test/setup/fetch-fixtures.ts). Without it the suites that need it
 * skip and say how to get it; in CI they fail.
 */
export const ONNX_MODEL_DIR = process.env['TRIBUTARY_TEST_ONNX_MODEL_DIR']
  ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'tributary', 'models', 'all-MiniLM-L6-v2-onnx-int8');

export const ONNX_MODEL_NEED: Need = {
  toRun: existsSync(join(ONNX_MODEL_DIR, 'onnx', 'model.onnx')) ? null
    : `no model at ${ONNX_MODEL_DIR}: run \`node cli/main.ts models pull minilm --dir ${join(ONNX_MODEL_DIR, '..')}\` (\`npm test\` does), or set TRIBUTARY_TEST_ONNX_MODEL_DIR`,
  inCi: 'fail',
};
