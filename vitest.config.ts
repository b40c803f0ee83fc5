import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Five projects: "core" (everything that needs no servers), "local-llm" (suites on the real local
 * model, one file at a time), "browser" (the /ops page in a real Chromium driven by playwright-core,
 * one file at a time), "kafka" (suites against a real Apache
 * Kafka broker, started once by test/setup/kafka-global-setup.ts, or the cluster in KAFKA_BROKERS)
 * and "mongodb-wire" (suites against a real MongoDB wire-protocol server: FerretDB with its SQLite
 * backend, started once by test/setup/ferretdb-global-setup.ts, or the server in FERRETDB_URL).
 * `npm test` runs all five; `npm run test:kafka` runs only the Kafka suites.
 */
const KAFKA_SUITES = ['test/kafka/**/*.test.ts', 'test/conformance/*.kafka.test.ts'];
const MONGODB_WIRE_SUITES = ['test/integration/mongodb-wire/**/*.test.ts', 'test/conformance/*.ferretdb.test.ts'];
const LOCAL_LLM_SUITES = ['test/**/*.local-llm.test.ts'];
const BROWSER_SUITES = ['test/browser/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', './test/setup/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'core',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...KAFKA_SUITES, ...MONGODB_WIRE_SUITES, ...LOCAL_LLM_SUITES, ...BROWSER_SUITES],
        },
      },
      {
        test: {
          name: 'local-llm',
          include: LOCAL_LLM_SUITES,
          // each suite loads the real local model, whose threads take every core (llama.cpp spins while
          // it waits): two at once would oversubscribe the machine, so one file at a time
          fileParallelism: false,
          // a RAG test makes several generations on one thread (self-query, expansion, rerank, the answer):
          // about 30 s each here alone, and the core project's files run beside it on the same 2 cores
          testTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: BROWSER_SUITES,
          // a real Chromium (Debian's, test/setup/fetch-chromium.sh) takes a core of its own: one file at a time
          fileParallelism: false,
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'kafka',
          include: KAFKA_SUITES,
          globalSetup: ['test/setup/kafka-global-setup.ts'],
          // the suites share one broker and some of them run several processes: one file at a time
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'mongodb-wire',
          include: MONGODB_WIRE_SUITES,
          globalSetup: ['test/setup/ferretdb-global-setup.ts'],
          // the suites share one server: one file at a time
          fileParallelism: false,
        },
      },
    ],
  },
});
