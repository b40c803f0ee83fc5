import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { buildApp } from '../api/app.ts';
import { main } from '../cli/main.ts';
import { loadConfig } from '../wiring/config.ts';
import { createSystem } from '../wiring/system.ts';

/**
 * Retrieval quality per search mode (`npm run bench -- --only eval`): the team's labelled set
 * (demo/eval/retrieval.jsonl, 30 queries) over the demo corpus, through the real API and
 * `tributary eval retrieval --json`, once per embedder — the hashing one, and the ONNX
 * all-MiniLM-L6-v2 model when it is in the models cache. The ratio is hybrid's MRR over the better
 * single mode's: ≥ 1 means fusing both sides pays.
 */

type Summary = { queries: number; mrr: number; ndcg: number; recallAt5: number; recallAtK: number };
export interface EvalBenchResult {
  queries: number;
  k: number;
  embedders: Array<{ embedder: string; modes: Record<'hybrid' | 'dense' | 'keyword', Summary>; hybridOverBestSingle: number }>;
}

const ROOT = resolve(import.meta.dirname, '..');

async function cli(argv: string[], url: string): Promise<string> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: { write: (c: string) => { out += c; return true; } },
    stderr: { write: (c: string) => { err += c; return true; } },
    env: { NO_COLOR: '1', TRIBUTARY_URL: url }, cwd: ROOT, invokedAs: 'tributary',
  });
  if (code !== 0) throw new Error(`tributary ${argv.join(' ')} exited ${code}: ${err}`);
  return out;
}

async function evaluate(overrides: Record<string, unknown>): Promise<{ k: number; queries: number; modes: EvalBenchResult['embedders'][number]['modes'] }> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-eval-'));
  const config = loadConfig({}, { dataDir: dir, logLevel: 'silent', metricsEnabled: false, sqliteSync: 'normal', ...overrides });
  const system = await createSystem(config, { logger: pino({ level: 'silent' }) });
  const app = await buildApp(system);
  try {
    await system.start();
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    await cli(['demo'], url); // publishes the corpus and waits until every document is searchable
    return JSON.parse(await cli(['eval', 'retrieval', '--dataset', 'demo/eval/retrieval.jsonl', '--json'], url)) as { k: number; queries: number; modes: EvalBenchResult['embedders'][number]['modes'] };
  } finally {
    await app.close();
    await system.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runEvalBench(opts: { log: (line: string) => void }): Promise<EvalBenchResult> {
  const onnxDir = process.env['TRIBUTARY_ONNX_MODEL_DIR'] ?? join(homedir(), '.cache/tributary/models/all-MiniLM-L6-v2-onnx-int8');
  const runs: Array<[string, Record<string, unknown>]> = [['hashing', { embedder: 'hashing' }]];
  if (existsSync(join(onnxDir, 'onnx', 'model.onnx'))) runs.push(['onnx all-MiniLM-L6-v2', { embedder: 'onnx', onnxModelDir: onnxDir }]);
  else opts.log(`no ONNX model at ${onnxDir} (tributary models pull minilm): the hashing embedder only`);
  const out: EvalBenchResult = { queries: 0, k: 0, embedders: [] };
  for (const [name, overrides] of runs) {
    opts.log(`${name}: indexing the demo corpus and running the set…`);
    const r = await evaluate(overrides);
    out.queries = r.queries;
    out.k = r.k;
    const best = Math.max(r.modes.dense.mrr, r.modes.keyword.mrr);
    out.embedders.push({ embedder: name, modes: r.modes, hybridOverBestSingle: Math.round((r.modes.hybrid.mrr / best) * 100) / 100 });
  }
  return out;
}

export function evalTable(r: EvalBenchResult): string {
  const lines = [`Retrieval per mode, demo/eval/retrieval.jsonl (${r.queries} queries, k = ${r.k}): MRR / nDCG / recall@5 / recall@k`];
  for (const e of r.embedders) {
    lines.push(`  ${e.embedder}:`);
    for (const mode of ['hybrid', 'dense', 'keyword'] as const) {
      const m = e.modes[mode];
      lines.push(`    ${mode.padEnd(8)} ${m.mrr.toFixed(3)}  ${m.ndcg.toFixed(3)}  ${m.recallAt5.toFixed(3)}  ${m.recallAtK.toFixed(3)}`);
    }
    lines.push(`    ratio hybrid MRR / best single mode: ${e.hybridOverBestSingle.toFixed(2)}`);
  }
  return lines.join('\n');
}
