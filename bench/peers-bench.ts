import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, homedir, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { chunksIndexed, post, publishBatches, readmeCorpus, sleep, startDev } from './load-bench.ts';
import { chunkDocument } from '../streams/chunk/index.ts';
import { cleanDocument } from '../streams/clean/index.ts';
import { loadConfig } from '../wiring/config.ts';

/**
 * Tributary beside its peers (`npm run bench -- --only peers`): Pathway (streaming), LangChain's
 * indexing API and LlamaIndex's IngestionPipeline, on the load benchmark's markdown corpus (the
 * README.md files under node_modules, then other .md files there; 1,300 documents, 150 with --quick), with the same chunking (Tributary's TRIBUTARY_CHUNK_TOKENS /
 * TRIBUTARY_CHUNK_OVERLAP_TOKENS, in cl100k_base tokens) and the same kind of embedder (feature hashing,
 * 256 dimensions: Tributary's TRIBUTARY_EMBEDDER=hashing; bench/peers/hashing.py for the Python peers).
 * Each system runs alone, one after the other: the whole corpus ingested (docs/s, chunks/s until
 * all of it is searchable), then 20 documents updated (a sentence with a unique marker word appended)
 * and 20 others deleted, timed until a search or lookup shows all of it; then whether the index holds
 * exactly the chunks of the live documents, and the peak resident memory of the system under test.
 *
 * Tributary: `tributary dev` in a child process (embedded default, a fresh data directory,
 * TRIBUTARY_EMBEDDER=hashing), published to through `POST /v1/content` in batches of 100 as fast as
 * accepted (429/503 honoured); ingested when the clean and embed consumers have no lag and the clean
 * stage's topic holds a record per document (/v1/ops/lag, polled every 50 ms); the changes are
 * reflected when a keyword search for the 20 markers finds each in its document and a search filtered
 * to the 20 deleted documents finds nothing (polled every 20 ms), the updates having been published
 * as one batch and the 20 `DELETE /v1/content/:id` sent at once. Its peak RSS is that of the process
 * tree, sampled from /proc every 50 ms (and the main process's VmHWM). The exactness check reads the
 * index file after the process has stopped and compares it with Tributary's own clean + chunk of the
 * live documents.
 *
 * The peers: bench/peers/*.py in a Python virtual environment of their own
 * (~/.cache/tributary/peers-venv, made and reused here; bench/peers/requirements.txt pinned with
 * constraints.txt), each printing one JSON line; how each detects completion is written at the top
 * of its script. Start-up (a server, imports, a first-use load) is outside every timing.
 */

const ROOT = resolve(import.meta.dirname, '..');
const PEERS_DIR = join(ROOT, 'bench', 'peers');
const VENV = join(homedir(), '.cache', 'tributary', 'peers-venv');
export const PEERS = ['pathway', 'langchain', 'llamaindex'] as const;
export type Peer = (typeof PEERS)[number];

export interface SystemResult {
  system: 'tributary' | Peer;
  versions: Record<string, string>;
  splitter: string;
  embedder: string;
  ingest: { seconds: number; docs: number; chunks: number; docsPerSecond: number; chunksPerSecond: number } & Record<string, unknown>;
  /** `reflected`: whether a search or lookup showed every change (within 120 s); the documents it did not show, when some. */
  reflect: { seconds: number; updated: number; deleted: number; reflected: boolean; updatesNotShown?: string[]; deletesNotShown?: string[] } & Record<string, unknown>;
  exactness: {
    exact: boolean; chunks: number; expectedChunks: number; docs: number; expectedDocs: number;
    docsWithWrongChunks: number; deletedDocsPresent: number; unknownDocsPresent: number;
  };
  peakRssMb: number;
  /** The machine's 1-minute load average when the system's run began and ended (the machine may be shared). */
  loadAverage?: { before: number; after: number };
  [k: string]: unknown;
}

export interface PeersBenchResult {
  machine: { cpu: string; cores: number; memoryGiB: number };
  corpus: { documents: number; bytes: number; limit: number; source: string };
  changes: { updated: number; deleted: number };
  chunking: { tokens: number; overlapTokens: number; encoding: 'cl100k_base' };
  embedder: string;
  python: { executable: string; version: string; venv: string; packages: Record<string, string> } | { skipped: string };
  /** How each system's completion is detected (the scripts' headers say more). */
  completion: Record<'tributary' | Peer, string>;
  /** Each system's figures, or why it has none. */
  systems: Partial<Record<'tributary' | Peer, SystemResult | { failed: string }>>;
  /**
   * Tributary ÷ peer for docs/s and chunks/s, peer ÷ Tributary for the reflect time: > 1 is Tributary
   * ahead. The reflect ratio is null unless both showed every change.
   */
  ratios: Partial<Record<Peer, { docsPerSecond: number; chunksPerSecond: number; reflect: number | null }>>;
}

interface PlanDoc { id: string; title: string; content: string }
interface Plan {
  chunkTokens: number;
  overlapTokens: number;
  updates: Array<{ id: string; content: string; marker: string }>;
  deletes: string[];
}

const COMPLETION: PeersBenchResult['completion'] = {
  tributary: 'ingest: /v1/ops/lag polled every 50 ms until the clean topic holds a record per document and the clean and embed groups have no lag; changes: POST /v1/search polled every 20 ms until a keyword search finds every marker in its document and a dense search filtered to the deleted documents finds nothing',
  pathway: 'pw.io.subscribe on the chunk table (with vectors) checked at each on_time_end until it shows every document (ingest) or the changes, then a query through the BM25 and vector indexes (query_as_of_now): the time is taken when its answers arrive',
  langchain: 'index() is synchronous: done when it returns; changes: index(cleanup="incremental") for the updates, the deleted sources\' keys removed from the vector store and the SQLRecordManager, then a lookup through the record manager',
  llamaindex: 'IngestionPipeline.run() is synchronous: done when it returns; changes: one more run() with the live documents (UPSERTS_AND_DELETE), then a lookup in the vector store',
};

/** Changes not shown by then count as not reflected. */
const REFLECT_TIMEOUT_MS = 120_000;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** The 20 updates (every other of 40 documents spread over the corpus) and the 20 deletes (the others). */
function changePlan(docs: readonly PlanDoc[], chunkTokens: number, overlapTokens: number): Plan {
  const changes = Math.min(20, Math.floor(docs.length / 4));
  const stride = Math.max(1, Math.floor(docs.length / (2 * changes)));
  const updates: Plan['updates'] = [];
  const deletes: string[] = [];
  for (let i = 0; i < changes; i++) {
    const u = docs[2 * i * stride]!;
    const marker = `tribpeersmark${String(i).padStart(2, '0')}`;
    updates.push({ id: u.id, marker, content: `${u.content}\n\nPeers benchmark update ${i}: ${marker}.\n` });
    deletes.push(docs[(2 * i + 1) * stride]!.id);
  }
  return { chunkTokens, overlapTokens, updates, deletes };
}

// ---- memory of a process tree, from /proc

function rssKb(pid: number): { rss: number; hwm: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rss: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0), hwm: Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0) };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

function treeRssKb(pid: number): number {
  let kb = rssKb(pid).rss;
  let tasks: string[];
  try { tasks = readdirSync(`/proc/${pid}/task`); } catch { return kb; }
  for (const t of tasks) {
    let children = '';
    try { children = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8'); } catch { /* gone */ }
    for (const c of children.split(' ')) if (c.trim() !== '') kb += treeRssKb(Number(c));
  }
  return kb;
}

function rssSampler(pid: number, everyMs = 50): { stop: () => number } {
  let peak = treeRssKb(pid);
  const timer = setInterval(() => { peak = Math.max(peak, treeRssKb(pid)); }, everyMs);
  return { stop: () => { clearInterval(timer); return Math.max(peak, treeRssKb(pid)); } };
}

// ---- Tributary

interface LagGroup { group: string; end: number; lag: number }

/** The clean stage's topic holds `records` records and neither clean nor embed has any lag. */
async function drained(url: string, records: number): Promise<boolean> {
  const body = (await (await fetch(`${url}/v1/ops/lag`)).json()) as { groups?: LagGroup[] };
  const groups = (body.groups ?? []).filter((g) => g.group === 'clean' || g.group === 'embed');
  const cleanEnd = groups.filter((g) => g.group === 'clean').reduce((n, g) => n + g.end, 0);
  return cleanEnd >= records && groups.every((g) => g.lag === 0);
}

async function deleteDoc(url: string, id: string): Promise<void> {
  for (;;) {
    const r = await fetch(`${url}/v1/content/${encodeURIComponent(id)}`, { method: 'DELETE' });
    if (r.status === 429 || r.status === 503) {
      await r.arrayBuffer();
      await sleep(Math.max(50, Number(r.headers.get('retry-after') ?? '0.1') * 1000));
      continue;
    }
    if (r.status !== 202) throw new Error(`DELETE ${id} answered ${r.status}: ${await r.text()}`);
    await r.arrayBuffer();
    return;
  }
}

interface Hit { docId: string; text: string }
async function search(url: string, body: object): Promise<Hit[]> {
  const r = await post(url, '/v1/search', body);
  if (r.status !== 200) throw new Error(`search answered ${r.status}: ${await r.text()}`);
  return ((await r.json()) as { hits: Hit[] }).hits;
}

function tributaryVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

async function runTributary(docs: readonly PlanDoc[], plan: Plan, log: (l: string) => void): Promise<SystemResult> {
  const items = docs.map((d) => ({ category: 'repository', author: d.id.split('/')[0]!, title: d.title, content: d.content, source: 'bench-readmes', externalId: d.id }));
  const byExternal = new Map(items.map((it) => [it.externalId, it]));
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-peers-'));
  const { url, child } = await startDev(dir, { TRIBUTARY_EMBEDDER: 'hashing' });
  const sampler = rssSampler(child.pid!);
  const readyKb = rssKb(child.pid!).rss;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  };
  try {
    const chunks0 = (await chunksIndexed(url)) ?? 0;
    log(`tributary: publishing ${items.length} documents in batches of 100…`);
    let t0 = performance.now();
    const { ids, pushedBack } = await publishBatches(url, items);
    const published = performance.now() - t0;
    while (!(await drained(url, items.length))) await sleep(50);
    const ingestS = (performance.now() - t0) / 1000;
    const chunks = ((await chunksIndexed(url)) ?? 0) - chunks0;
    const idOf = new Map(items.map((it, i) => [it.externalId, ids[i]!]));

    log(`tributary: ${plan.updates.length} updates and ${plan.deletes.length} deletes…`);
    const updated = plan.updates.map((u) => ({ id: u.id, docId: idOf.get(u.id)!, marker: u.marker }));
    const deleted = plan.deletes.map((d) => idOf.get(d)!);
    const markers = plan.updates.map((u) => u.marker).join(' ');
    t0 = performance.now();
    await publishBatches(url, plan.updates.map((u) => ({ ...byExternal.get(u.id)!, content: u.content })));
    await Promise.all(deleted.map((id) => deleteDoc(url, id)));
    let polls = 0;
    let notShown: { updates: string[]; deletes: string[] } = { updates: [], deletes: [] };
    for (const deadline = t0 + REFLECT_TIMEOUT_MS; ; polls++) {
      const hits = await search(url, { query: markers, mode: 'keyword', k: 100 });
      const gone = await search(url, { query: 'readme', mode: 'dense', k: 100, filter: { docId: deleted } });
      notShown = {
        updates: updated.filter((u) => !hits.some((h) => h.docId === u.docId && h.text.includes(u.marker))).map((u) => u.id),
        deletes: [...new Set(gone.map((h) => h.docId))].map((d) => plan.deletes[deleted.indexOf(d)]!),
      };
      if ((notShown.updates.length === 0 && notShown.deletes.length === 0) || performance.now() > deadline) break;
      await sleep(20);
    }
    const reflectS = (performance.now() - t0) / 1000;
    const hwmKb = rssKb(child.pid!).hwm;
    const treeKb = sampler.stop();
    await stop();

    // exactness: the index file, read after the process has stopped, against Tributary's own
    // clean + chunk of the live documents
    const live = new Map(items.map((it) => [idOf.get(it.externalId)!, it]));
    for (const u of plan.updates) live.set(idOf.get(u.id)!, { ...byExternal.get(u.id)!, content: u.content });
    for (const d of deleted) live.delete(d);
    const db = new DatabaseSync(join(dir, 'index.db'), { readOnly: true });
    const rows = db.prepare('SELECT c.doc_id AS docId, p.text AS text FROM chunks c JOIN chunk_payloads p ON p.pk = c.pk').all() as unknown as Hit[];
    db.close();
    const indexed = new Map<string, string[]>();
    for (const r of rows) indexed.set(r.docId, [...(indexed.get(r.docId) ?? []), r.text]);
    const config = loadConfig(process.env, {});
    let expectedChunks = 0;
    let wrong = 0;
    for (const [docId, it] of live) {
      const cleaned = cleanDocument({ _id: docId, category: it.category, author: it.author, content: it.content, title: it.title, url: null, source: it.source, externalId: it.externalId, metadata: null }, { version: 1, sourceTsMs: 0, nowMs: 0 });
      const want = chunkDocument(cleaned, { maxTokens: config.chunkTokens, overlapTokens: config.chunkOverlapTokens }).map((c) => c.text).sort();
      expectedChunks += want.length;
      const have = [...(indexed.get(docId) ?? [])].sort();
      if (have.length !== want.length || have.some((t, i) => t !== want[i])) wrong++;
    }
    const unknown = [...indexed.keys()].filter((d) => !live.has(d));
    const deletedSet = new Set(deleted);
    return {
      system: 'tributary',
      versions: { tributary: tributaryVersion(), node: process.version },
      splitter: `Tributary's chunker (${config.chunkTokens}/${config.chunkOverlapTokens} cl100k_base tokens, structure-aware)`,
      embedder: `hashing (TRIBUTARY_EMBEDDER=hashing, ${config.hashingDimension} dimensions)`,
      ingest: {
        seconds: round(ingestS, 3), docs: items.length, chunks, docsPerSecond: round(items.length / ingestS, 1), chunksPerSecond: round(chunks / ingestS, 1),
        publishSeconds: round(published / 1000, 3), pushedBack,
      },
      reflect: {
        seconds: round(reflectS, 3), updated: plan.updates.length, deleted: deleted.length, searchPolls: polls + 1,
        reflected: notShown.updates.length === 0 && notShown.deletes.length === 0,
        ...(notShown.updates.length > 0 ? { updatesNotShown: notShown.updates } : {}),
        ...(notShown.deletes.length > 0 ? { deletesNotShown: notShown.deletes } : {}),
      },
      exactness: {
        exact: wrong === 0 && unknown.length === 0,
        chunks: rows.length, expectedChunks, docs: indexed.size, expectedDocs: live.size, docsWithWrongChunks: wrong,
        deletedDocsPresent: unknown.filter((d) => deletedSet.has(d)).length, unknownDocsPresent: unknown.filter((d) => !deletedSet.has(d)).length,
      },
      peakRssMb: round(Math.max(treeKb, hwmKb) / 1024, 1),
      peakRssTreeSampledMb: round(treeKb / 1024, 1),
      peakRssMainVmHwmMb: round(hwmKb / 1024, 1),
      rssAtReadyMb: round(readyKb / 1024, 1),
    };
  } finally {
    sampler.stop();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the Python peers

interface Venv { python: string; version: string; tiktokenCache: string; packages: Record<string, string> }

/** Makes (or reuses) the peers' virtual environment; reinstalls when requirements.txt or constraints.txt changed. */
function ensureVenv(log: (l: string) => void): Venv {
  const requirements = join(PEERS_DIR, 'requirements.txt');
  const constraints = join(PEERS_DIR, 'constraints.txt');
  const stamp = createHash('sha256').update(readFileSync(requirements)).update(readFileSync(constraints)).digest('hex');
  const python = join(VENV, 'bin', 'python');
  const stampFile = join(VENV, '.tributary-requirements.sha256');
  const quiet = { stdio: ['ignore', 2, 2] as ['ignore', number, number], timeout: 1_200_000 };
  if (!existsSync(python)) {
    log(`creating the peers' virtual environment in ${VENV}…`);
    execFileSync('python3', ['-m', 'venv', VENV], quiet);
  }
  if (!existsSync(stampFile) || readFileSync(stampFile, 'utf8').trim() !== stamp) {
    log('installing the peers (pip, bench/peers/requirements.txt with constraints.txt; minutes the first time)…');
    execFileSync(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', requirements, '-c', constraints], quiet);
    writeFileSync(stampFile, `${stamp}\n`);
  }
  // what pip resolved, for the pinned packages
  const pinned = readFileSync(requirements, 'utf8').split('\n').map((l) => /^([A-Za-z0-9._-]+)==(\S+)/.exec(l.trim())).filter((m) => m !== null);
  const frozen = new Map(execFileSync(python, ['-m', 'pip', 'freeze', '--disable-pip-version-check'], { encoding: 'utf8' }).split('\n')
    .map((l) => /^([A-Za-z0-9._-]+)==(\S+)/.exec(l.trim())).filter((m) => m !== null).map((m) => [m[1]!.toLowerCase(), m[2]!]));
  const packages: Record<string, string> = {};
  for (const m of pinned) {
    const got = frozen.get(m[1]!.toLowerCase()) ?? 'missing';
    packages[m[1]!] = got;
    if (got !== m[2]) log(`peers: ${m[1]} is ${got} in ${VENV}, requirements.txt pins ${m[2]}`);
  }
  const version = execFileSync(python, ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();
  // tiktoken downloads cl100k_base's BPE file on first use; llama-index-core's wheel carries it (a
  // cache under the name tiktoken looks for), and only PyPI is reachable from here
  const tiktokenCache = execFileSync(python, ['-c', "import importlib.util, os; print(os.path.join(importlib.util.find_spec('llama_index.core').submodule_search_locations[0], '_static', 'tiktoken_cache'))"], { encoding: 'utf8' }).trim();
  return { python, version, tiktokenCache, packages };
}

async function runPeer(venv: Venv, peer: Peer, corpusPath: string, planPath: string, timeoutMs: number): Promise<SystemResult> {
  const child = spawn(venv.python, [join(PEERS_DIR, `${peer}_peer.py`), corpusPath, planPath], {
    cwd: PEERS_DIR,
    env: { ...process.env, TIKTOKEN_CACHE_DIR: venv.tiktokenCache, PYTHONDONTWRITEBYTECODE: '1', PEERS_TIMEOUT_S: String(Math.floor(timeoutMs / 1000) - 30) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-20_000); });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(timer);
  const line = out.split('\n').filter((l) => l.startsWith('{')).pop();
  if (code !== 0 || !line) {
    const tail = err.split('\n').filter((l) => !/:INFO:/.test(l)).slice(-15).join('\n');
    throw new Error(`${peer} exited with ${code ?? 'a signal'}${line ? '' : ', no result line'}: ${tail}`);
  }
  return JSON.parse(line) as SystemResult;
}

// ---- the run

export async function runPeersBench(opts: { quick: boolean; limit?: number; log: (l: string) => void }): Promise<PeersBenchResult> {
  const limit = opts.limit ?? (opts.quick ? 150 : 1300);
  const corpus = readmeCorpus(limit);
  const docs: PlanDoc[] = corpus.map((d) => ({ id: d.externalId, title: d.title, content: d.content }));
  const config = loadConfig(process.env, {});
  const plan = changePlan(docs, config.chunkTokens, config.chunkOverlapTokens);
  const work = mkdtempSync(join(tmpdir(), 'tributary-bench-peers-input-'));
  const corpusPath = join(work, 'corpus.jsonl');
  const planPath = join(work, 'plan.json');
  writeFileSync(corpusPath, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  writeFileSync(planPath, JSON.stringify(plan));

  const result: PeersBenchResult = {
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30) },
    corpus: { documents: docs.length, bytes: docs.reduce((n, d) => n + Buffer.byteLength(d.content), 0), limit, source: 'markdown under node_modules: the README.md files, then other .md files when they are too few (readmeCorpus, as the load benchmark)' },
    changes: { updated: plan.updates.length, deleted: plan.deletes.length },
    chunking: { tokens: config.chunkTokens, overlapTokens: config.chunkOverlapTokens, encoding: 'cl100k_base' },
    embedder: `feature hashing of lower-cased words and word pairs, ${config.hashingDimension} dimensions, L2-normalised (Tributary: TRIBUTARY_EMBEDDER=hashing; peers: bench/peers/hashing.py)`,
    python: { skipped: 'not reached' },
    completion: COMPLETION,
    systems: {},
    ratios: {},
  };
  try {
    // the venv first: a pip install is no part of any system's figures
    let venv: Venv | null = null;
    try {
      venv = ensureVenv(opts.log);
      result.python = { executable: venv.python, version: venv.version, venv: VENV, packages: venv.packages };
    } catch (e) {
      const why = (e as Error).message.split('\n')[0]!;
      opts.log(`peers: no Python environment (${why}); the peers are left out`);
      result.python = { skipped: why };
    }

    try {
      const before = round(loadavg()[0]!);
      result.systems.tributary = { ...(await runTributary(docs, plan, opts.log)), loadAverage: { before, after: round(loadavg()[0]!) } };
    } catch (e) {
      opts.log(`tributary: ${(e as Error).message}`);
      result.systems.tributary = { failed: (e as Error).message };
    }
    for (const peer of PEERS) {
      if (!venv) { result.systems[peer] = { failed: 'no Python environment' }; continue; }
      opts.log(`${peer}: ingesting ${docs.length} documents, then the changes…`);
      try {
        const before = round(loadavg()[0]!);
        result.systems[peer] = { ...(await runPeer(venv, peer, corpusPath, planPath, opts.quick ? 600_000 : 1_800_000)), loadAverage: { before, after: round(loadavg()[0]!) } };
      } catch (e) {
        opts.log(`${peer}: ${(e as Error).message}`);
        result.systems[peer] = { failed: (e as Error).message };
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const t = result.systems.tributary;
  if (t && 'ingest' in t) {
    for (const peer of PEERS) {
      const p = result.systems[peer];
      if (!p || !('ingest' in p)) continue;
      result.ratios[peer] = {
        docsPerSecond: round(t.ingest.docsPerSecond / p.ingest.docsPerSecond),
        chunksPerSecond: round(t.ingest.chunksPerSecond / p.ingest.chunksPerSecond),
        reflect: p.reflect.reflected && t.reflect.reflected ? round(p.reflect.seconds / t.reflect.seconds) : null,
      };
    }
  }
  return result;
}

export function peersTable(r: PeersBenchResult): string {
  const name = (s: SystemResult) => {
    const v = s.system === 'tributary' ? s.versions['tributary'] : s.versions[{ pathway: 'pathway', langchain: 'langchain-core', llamaindex: 'llama-index-core' }[s.system]];
    return `${s.system}${v ? ` ${v}` : ''}`;
  };
  const lines = [
    `Peers (each alone on ${r.machine.cpu}, ${r.machine.cores} cores): ${r.corpus.documents} markdown documents (${Math.round(r.corpus.bytes / 1024)} KiB), chunks of ${r.chunking.tokens} ${r.chunking.encoding} tokens (overlap ${r.chunking.overlapTokens}), hashing embedder; then ${r.changes.updated} updated + ${r.changes.deleted} deleted`,
    '| system | ingest (s) | docs/s | chunks | chunks/s | update+delete reflected (s) | exact | peak RSS (MB) |', '|---|---|---|---|---|---|---|---|',
  ];
  for (const key of ['tributary', ...PEERS] as const) {
    const s = r.systems[key];
    if (!s) continue;
    if (!('ingest' in s)) { lines.push(`| ${key} | failed: ${s.failed.split('\n')[0]!.slice(0, 120)} | | | | | | |`); continue; }
    const x = s.exactness;
    const missed = (s.reflect.updatesNotShown?.length ?? 0) + (s.reflect.deletesNotShown?.length ?? 0);
    const reflect = s.reflect.reflected ? String(s.reflect.seconds) : `NOT all: ${missed} of ${s.reflect.updated + s.reflect.deleted} changes never shown (${s.reflect.seconds} s)`;
    lines.push(`| ${name(s)} | ${s.ingest.seconds} | ${s.ingest.docsPerSecond} | ${s.ingest.chunks} | ${s.ingest.chunksPerSecond} | ${reflect} | ${x.exact ? 'yes' : 'NO'} (${x.chunks}/${x.expectedChunks} chunks, ${x.docs}/${x.expectedDocs} docs) | ${s.peakRssMb} |`);
  }
  const loads = (['tributary', ...PEERS] as const).map((k) => {
    const s = r.systems[k];
    return s && 'loadAverage' in s && s.loadAverage ? `${k} ${s.loadAverage.before}→${s.loadAverage.after}` : null;
  }).filter((x) => x !== null);
  if (loads.length > 0) lines.push(`1-minute load average at the start→end of each run (${r.machine.cores} cores; others' work counts in it): ${loads.join(', ')}`);
  const peers = PEERS.filter((p) => r.ratios[p]);
  if (peers.length > 0) {
    lines.push('', '| peer | docs/s Tributary ÷ peer | chunks/s Tributary ÷ peer | reflect time peer ÷ Tributary |', '|---|---|---|---|');
    for (const p of peers) {
      const ratio = r.ratios[p]!;
      lines.push(`| ${p} | ${ratio.docsPerSecond}× | ${ratio.chunksPerSecond}× | ${ratio.reflect === null ? 'n/a (not every change shown)' : `${ratio.reflect}×`} |`);
    }
    lines.push('(> 1: Tributary ahead)');
  }
  return lines.join('\n');
}
