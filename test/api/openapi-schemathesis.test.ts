import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hashApiKey } from '../../api/auth/api-key-config.ts';
import { INFERENCE_ENDPOINTS } from '../../inference/gateway.ts';
import { startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';
import { describeWith } from '../helpers/ci.ts';
import { JUDGE_SCORES, startScriptedLlm, type ScriptedLlm } from '../helpers/scripted-llm.ts';

/**
 * The OpenAPI document is honest: schemathesis (property-based testing from the document) runs every
 * check it has against the real embedded API, listening on a port, and finds nothing. Each operation
 * gets generated requests, valid and invalid (bodies, parameters, methods, missing keys); each
 * response must carry a documented status, content type, headers and body. Once with API keys (the
 * admin key sent), once without (the open, loopback-only mode), and once with no LLM configured (the
 * routes that need one answer what the document says, never a 5xx).
 *
 * schemathesis comes from PyPI into the user cache: `bash test/setup/fetch-schemathesis.sh` (`npm test`
 * runs it first). Without it the suite is skipped locally and fails in CI.
 */
const SCHEMATHESIS_VERSION = '4.32.5'; // keep in sync with test/setup/fetch-schemathesis.sh
const ST = process.env['TRIBUTARY_TEST_SCHEMATHESIS']
  ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'tributary', `schemathesis-${SCHEMATHESIS_VERSION}`, 'bin', 'st');
const missing = existsSync(ST) ? null : `no schemathesis at ${ST}: run \`bash test/setup/fetch-schemathesis.sh\` (Python 3.10+ with venv), or set TRIBUTARY_TEST_SCHEMATHESIS`;

const ADMIN_KEY = 'trb_admin_schemathesis_0123456789';
const apiKeys = [{ name: 'ops', sha256: hashApiKey(ADMIN_KEY), scopes: ['admin'] }];

/**
 * Left out: the OpenAI-compatible inference proxy. Its bodies are forwarded to the upstream
 * inference servers byte for byte, unvalidated by design (the upstream owns that contract), and no
 * upstream runs in this test.
 */
const PROXY_PATHS = `^/v1/(${[...INFERENCE_ENDPOINTS, 'models'].join('|')})$`;

/** Bounded so each run takes about a minute on two cores; deterministic, so a failure reproduces. */
const MAX_EXAMPLES = 20;

interface StRun {
  code: number | null;
  output: string;
  ms: number;
}

function runSchemathesis(url: string, headers: string[], dir: string): Promise<StRun> {
  const args = [
    '--no-color',
    'run', `${url}/docs/json`,
    '--checks', 'all',
    '--max-examples', String(MAX_EXAMPLES),
    '--generation-deterministic',
    '--workers', '1',
    '--request-timeout', '20',
    '--exclude-path-regex', PROXY_PATHS,
    ...headers.flatMap((h) => ['--header', h]),
  ];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // its caches (.hypothesis, .schemathesis) go to the temporary directory
    const child = spawn(ST, args, { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: Buffer.concat(chunks).toString('utf8'), ms: Date.now() - started });
    });
  });
}

/** What to show when the run failed: its failures and summary, not the whole log. */
function report(run: StRun): string {
  const from = run.output.search(/^=+ (FAILURES|ERRORS) =+$/m);
  const text = from >= 0 ? run.output.slice(from) : run.output;
  return `schemathesis exited ${run.code} after ${run.ms} ms:\n${text.length > 40_000 ? `…${text.slice(-40_000)}` : text}`;
}

function summary(run: StRun): string {
  const ops = /Tested:\s+(\d+)/.exec(run.output)?.[1] ?? '?';
  const cases = /(\d+) generated/.exec(run.output)?.[1] ?? '?';
  return `${ops} operations, ${cases} test cases, ${(run.ms / 1000).toFixed(1)} s`;
}

/**
 * The API answers with an LLM (a scripted OpenAI-compatible server), so that every route does its
 * real work: RAG answers through the model (JSON and SSE), the judge route judges.
 */
function scriptedReply(system: string): string {
  if (system.includes('strict evaluator')) return JUDGE_SCORES;
  if (system.includes('security classifier')) return '{"injections": [], "reason": "none"}';
  if (system.includes('extract search filters')) return '{"author": null, "category": null}';
  if (system.includes('different search queries')) return '{"queries": ["kafka partitions order"]}';
  if (system.includes('Rank the numbered passages')) return '{"ranking": [1]}';
  return 'Records with the same key stay in order on one partition [1].';
}

describeWith({ toRun: missing, inCi: 'fail' }, `the OpenAPI document holds against schemathesis ${SCHEMATHESIS_VERSION}`, () => {
  let dir: string;
  let llm: ScriptedLlm;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-schemathesis-'));
    llm = await startScriptedLlm(scriptedReply);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await llm.close();
  });
  const withLlm = () => ({ llmBaseUrl: llm.baseUrl, llmModel: 'scripted' });

  async function serve(h: ApiHarness): Promise<string> {
    // some content, indexed, so that search and answers have hits to return
    const res = await h.app.inject({
      method: 'POST', url: '/v1/content', headers: { authorization: `Bearer ${ADMIN_KEY}` },
      payload: { items: [
        { category: 'article', author: 'Alice', title: 'Partitions', content: 'Kafka splits every topic into partitions; records with the same key stay in order on one partition.' },
        { category: 'post', author: 'Bob', content: 'Qdrant filters narrow a vector search to the points whose payload matches.' },
      ] },
    });
    expect(res.statusCode).toBe(202);
    await h.system.start();
    await waitFor('the content to be indexed', async () => (await h.system.index.count()) >= 2);
    return h.app.listen({ host: '127.0.0.1', port: 0 });
  }

  it('with API keys: every route, the admin key sent (and left out, for the auth checks)', async () => {
    const h = await startApiHarness({ config: { apiKeys, ...withLlm() } });
    try {
      const url = await serve(h);
      const run = await runSchemathesis(url, [`Authorization: Bearer ${ADMIN_KEY}`], dir);
      console.log(`schemathesis, keys on: ${summary(run)}`);
      expect(run.code, report(run)).toBe(0);
      expect(run.output).toMatch(/Tested:\s+[1-9]\d*/);
    } finally {
      await h.close();
    }
  }, 180_000);

  it('without API keys (open, loopback only): no route asks for one', async () => {
    const h = await startApiHarness({ config: withLlm() });
    try {
      const url = await serve(h);
      const run = await runSchemathesis(url, [], dir);
      console.log(`schemathesis, open: ${summary(run)}`);
      expect(run.code, report(run)).toBe(0);
    } finally {
      await h.close();
    }
  }, 180_000);

  it('with no LLM configured: answers are extractive, judging is refused as documented (409, never a 5xx)', async () => {
    const h = await startApiHarness({ config: { apiKeys } });
    try {
      expect(h.system.llm).toBeNull();
      const url = await serve(h);
      const run = await runSchemathesis(url, [`Authorization: Bearer ${ADMIN_KEY}`], dir);
      console.log(`schemathesis, no LLM: ${summary(run)}`);
      expect(run.code, report(run)).toBe(0);
      expect(run.output).toMatch(/Tested:\s+[1-9]\d*/);
    } finally {
      await h.close();
    }
  }, 180_000);
});
