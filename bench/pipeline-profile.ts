import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/**
 * CPU profiles of the embedded pipeline draining a backlog (benchThroughput: 3,000 synthetic documents,
 * hashing embedder, TRIBUTARY_SQLITE_SYNC=full), taken with `node --cpu-prof`: one profile per thread
 * (the API thread and, with pipeline threads, the clean and embed threads). Where the time goes in
 * each: its idle share, the functions with the most self time, and the inclusive time of the stages'
 * main frames. With `--before <checkout>`, the same run on another checkout (e.g. the commit before a
 * change) first, so both profiles come from one session on one machine.
 *
 *   node bench/pipeline-profile.ts [--before <dir>] [--out bench/results/pipeline-profile.md]
 */

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

const ROOT = resolve(import.meta.dirname, '..');
const FRAMES = ['process clean/clean-stage.ts', 'process embed/embed-stage.ts', 'applyBatch embedded/embedded-vector-index.ts', 'chunkDocument chunk/chunk-document.ts',
  'embedAll embed/embed-stage.ts', 'putMany sqlite/sqlite-embedding-cache.ts', 'maskSensitive clean/mask.ts', 'put embedded/embedded-document-store.ts', 'countTokens chunk/tokens.ts'];

function frameName(n: Node): string {
  const c = n.callFrame;
  return `${c.functionName || '(anonymous)'} ${c.url.split('/').slice(-2).join('/')}`.trim();
}

function summarise(file: string, top: number): string[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const time = new Map<number, number>();
  p.samples.forEach((id, i) => time.set(id, (time.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...time.values()].reduce((a, b) => a + b, 0);
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, t] of time) {
    const name = frameName(byId.get(id)!);
    self.set(name, (self.get(name) ?? 0) + t);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = frameName(byId.get(cur)!);
      if (!seen.has(f)) { seen.add(f); incl.set(f, (incl.get(f) ?? 0) + t); }
    }
  }
  const pct = (t: number) => `${((t / total) * 100).toFixed(1)} %`;
  const lines = [`total ${(total / 1e6).toFixed(2)} s sampled, idle ${pct(self.get('(idle)') ?? 0)}`, '', '| self time | function |', '|---|---|'];
  for (const [f, t] of [...self].filter(([f]) => f !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`| ${pct(t)} | \`${f.replace(/\|/g, '\\|').slice(0, 110)}\` |`);
  const frames = FRAMES.filter((f) => incl.has(f));
  if (frames.length > 0) {
    lines.push('', '| inclusive | frame |', '|---|---|');
    for (const f of frames) lines.push(`| ${pct(incl.get(f)!)} | \`${f}\` |`);
  }
  return lines;
}

function profileRun(checkout: string, label: string, threads: string | null): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-prof-'));
  try {
    const script = `const { benchThroughput } = await import(${JSON.stringify(join(checkout, 'bench/pipeline-bench.ts'))});
const r = await benchThroughput({ documents: 3000, overrides: { sqliteSync: 'full'${threads ? `, pipelineThreads: '${threads}'` : ''} } });
console.log(JSON.stringify(r));`;
    const out = execFileSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--input-type=module', '-e', script], { cwd: checkout, encoding: 'utf8', maxBuffer: 1 << 24 });
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { chunks: number; seconds: number; chunksPerSecond: number };
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
    const lines = [`### ${label}`, '', `${result.chunks} chunks in ${result.seconds} s under the profiler (${result.chunksPerSecond} chunks/s); ${files.length} thread(s)`, ''];
    // file names end in <pid>.<thread>.<seq>: thread 0 is the API (main) thread
    for (const f of files) {
      const thread = f.split('.').at(-3);
      lines.push(`#### thread ${thread}${thread === '0' ? ' (API / main)' : ''}`, '', ...summarise(join(dir, f), 12), '');
    }
    return lines;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const { values } = parseArgs({ options: { before: { type: 'string' }, out: { type: 'string', default: join(ROOT, 'bench/results/pipeline-profile.md') } } });
const cpu = cpus();
const doc = [
  '# Where the embedded pipeline spends its time',
  '',
  `\`node bench/pipeline-profile.ts${values.before ? ' --before <checkout>' : ''}\` on ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
  'benchThroughput: 3,000 synthetic documents (about 8,900 chunks), hashing embedder, TRIBUTARY_SQLITE_SYNC=full, under `--cpu-prof` (the profiler slows every thread; compare shares, not speeds). Thread start-up (module compilation) counts in each thread\'s total.',
  '',
];
if (values.before) doc.push(...profileRun(resolve(values.before), 'Before (the other checkout, stages on the API thread)', null));
doc.push(...profileRun(ROOT, 'After: pipeline threads (the default)', 'on'));
writeFileSync(values.out, doc.join('\n') + '\n');
process.stdout.write(`${values.out}\n`);
