import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

/**
 * Summaries of V8 CPU profiles (`node --cpu-prof`, .cpuprofile files): self time by function and
 * by what the code does (kafkajs decoding, JSON, cleaning, chunking, embedding, HTTP to Qdrant, …),
 * and the share of the time the process was idle (waiting on the broker, Qdrant or a timer).
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds, on the monotonic clock (process.hrtime's). */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry { name: string; pct: number }

export interface ProfileSummary {
  /** Which samples were counted: the measured window, or the whole life of the process when the clocks did not line up. */
  span: 'measured window' | 'whole process';
  sampledMs: number;
  /** Share of the sampled time the process had nothing to run (waiting on the network or a timer). */
  idlePct: number;
  /** Share of the busy (non-idle) time. */
  gcPct: number;
  /** Self time by kind of work, as a share of all sampled time (idle included). */
  categories: ProfileEntry[];
  /** The functions with the most self time, as a share of all sampled time: "name (file:line)". */
  top: ProfileEntry[];
}

const ROOT = resolve(import.meta.dirname, '..');
const r1 = (n: number) => Math.round(n * 10) / 10;

/** What a frame's code does, from its file; '' for frames with no file (natives, builtins), which take their caller's. */
function categoryOf(url: string, fn: string): string {
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'garbage collection';
  if (fn === '(program)') return 'V8/native, not attributed (program)';
  if (fn === '(root)') return 'V8/native, not attributed (program)';
  if (url === '') return '';
  const u = url.replace(/^file:\/\//, '');
  if (u.includes('node_modules/kafkajs/src/protocol/')) return 'kafkajs protocol (decode/encode)';
  if (u.includes('node_modules/kafkajs/')) return 'kafkajs client (fetch loop, network, groups)';
  if (u.includes('node_modules/@qdrant/') || u.includes('undici') || u.startsWith('node:internal/deps/undici')) return 'HTTP to Qdrant (client, undici)';
  if (u.includes('node_modules/zod/')) return 'validation (zod)';
  if (u.includes('node_modules/pino')) return 'logging (pino)';
  if (u.includes('node_modules/prom-client') || u.includes('node_modules/@opentelemetry/')) return 'metrics/tracing';
  if (u.includes('node_modules/')) return `other packages (${u.split('node_modules/').pop()!.split('/').slice(0, u.includes('node_modules/@') ? 2 : 1).join('/')})`;
  if (u.startsWith('node:')) return 'Node internals (sockets, streams, timers, buffers)';
  if (u.startsWith('wasm:')) return 'WebAssembly';
  const rel = relative(ROOT, u);
  if (rel.startsWith('streams/clean/')) return 'cleaning';
  if (rel.startsWith('streams/chunk/')) return 'chunking/tokenization';
  if (rel.startsWith('adapters/embedder/') || rel.startsWith('streams/embed/')) return 'embedding (hashing embedder, content hashes, points)';
  if (rel.startsWith('adapters/embedding-cache/')) return 'embedding cache';
  if (rel.startsWith('adapters/vector-index/')) return 'Qdrant adapter (payloads, sparse vectors, requests)';
  if (rel.startsWith('adapters/event-log/')) return 'Tributary Kafka adapter';
  if (rel.startsWith('adapters/value-codec/') || rel.startsWith('schemas/')) return 'envelopes and schemas';
  if (rel.startsWith('consumers/')) return 'stage runtime (consumers/)';
  if (rel.startsWith('observability/')) return 'metrics/tracing';
  return `other Tributary code (${rel.split('/').slice(0, 2).join('/')})`;
}

/** Native frames with a name telling what they do, reported apart from their caller's category. */
function nativeCategory(fn: string): string | null {
  if (fn === 'parse' || fn === 'stringify' || fn === 'JSON.parse' || fn === 'JSON.stringify') return 'JSON (parse/stringify)';
  return null;
}

/**
 * Self time per function and per category. `window` (µs on the monotonic clock, process.hrtime's)
 * restricts the samples to a measured interval; when the profile's clock does not cover it, the
 * whole profile is counted (and `span` says so).
 */
export function summarizeCpuProfile(file: string, window?: { startUs: number; endUs: number }, topN = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // the category of each node: its own file's, else (natives) its nearest caller's with a file
  const cat = new Map<number, string>();
  const categoryOfNode = (id: number): string => {
    const known = cat.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id)!;
    let c = nativeCategory(n.callFrame.functionName) ?? categoryOf(n.callFrame.url, n.callFrame.functionName);
    if (c === '') {
      const p = parent.get(id);
      c = p === undefined ? 'V8/native, not attributed (program)' : categoryOfNode(p);
      if (c === 'idle' || c === 'garbage collection') c = 'V8/native, not attributed (program)';
    }
    cat.set(id, c);
    return c;
  };

  // sample i lasts until sample i+1
  const times: number[] = [];
  let t = profile.startTime;
  for (const d of profile.timeDeltas) { t += d; times.push(t); }
  const inWindow = window !== undefined && profile.startTime <= window.startUs && profile.endTime >= window.endUs;
  const self = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const start = times[i]!;
    const end = i + 1 < times.length ? times[i + 1]! : profile.endTime;
    if (inWindow && (end <= window.startUs || start >= window.endUs)) continue;
    const dur = Math.max(0, end - start);
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dur);
    total += dur;
  }

  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const c = categoryOfNode(id);
    categories.set(c, (categories.get(c) ?? 0) + us);
    if (c === 'idle') continue; // reported as idlePct
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url ? ` (${relative(ROOT, url.replace(/^file:\/\//, '')).replace(/^(\.\.\/)+/, '').replace(/^.*node_modules\//, '')}:${lineNumber + 1})` : '';
    const fn = functionName || '(anonymous)';
    const name = `${fn.length > 90 ? `${fn.slice(0, 87)}…` : fn}${where}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
  }
  const pct = (us: number) => (total > 0 ? r1((us / total) * 100) : 0);
  const ranked = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) => ({ name, pct: pct(us) }));
  const idle = categories.get('idle') ?? 0;
  const gc = categories.get('garbage collection') ?? 0;
  return {
    span: inWindow ? 'measured window' : 'whole process',
    sampledMs: Math.round(total / 1000),
    idlePct: pct(idle),
    gcPct: total - idle > 0 ? r1((gc / (total - idle)) * 100) : 0,
    categories: ranked(categories, 20),
    top: ranked(functions, topN),
  };
}
