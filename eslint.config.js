import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Lint rules, and the arrows of the layout (STYLE habits 3, 4 and 10):
 *  - ports/ and streams/ import no driver and no adapter;
 *  - only wiring/ (the composition root) and the tests import adapters: api/, consumers/, cli/,
 *    bench/, connectors/, inference/, observability/, schemas/ and common/ see ports;
 *  - the API and everything below it never import wiring/ (routes get an ApiContext made of ports);
 *  - adapters never import the layers above them.
 */
const DRIVERS = ['kafkajs', 'mongodb', '@qdrant/*', 'openai', 'node:sqlite', 'sqlite-vec', 'fastify', '@huggingface/*'];
const restrict = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });
const noAdapters = { group: ['**/adapters/**'], message: 'only wiring/ imports adapters: depend on the port in ports/ (STYLE habit 4).' };
const noWiring = { group: ['**/wiring/**'], message: 'the composition root is imported only by cli/, bench/ and tests: take what you need as ports (api/context.ts for routes).' };

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'bench/results/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', Buffer: 'readonly', fetch: 'readonly', performance: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['ports/**/*.ts', 'streams/**/*.ts'],
    rules: restrict([{ group: DRIVERS, message: 'ports/ and streams/ import no driver (STYLE habits 3 and 10).' }, noAdapters, noWiring]),
  },
  {
    files: ['api/**/*.ts', 'consumers/**/*.ts', 'connectors/**/*.ts', 'inference/**/*.ts', 'observability/**/*.ts', 'schemas/**/*.ts', 'common/**/*.ts'],
    rules: restrict([noAdapters, noWiring]),
  },
  {
    files: ['cli/**/*.ts', 'bench/**/*.ts'],
    rules: restrict([noAdapters]),
  },
  {
    files: ['adapters/**/*.ts'],
    rules: restrict([{ group: ['**/wiring/**', '**/api/**', '**/consumers/**', '**/cli/**', '**/bench/**'], message: 'adapters implement ports: they never import the layers above them.' }]),
  },
);
