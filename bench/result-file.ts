/** The benchmark groups, in the order bench/run.ts runs them (`--only` picks some). */
export const BENCH_GROUPS = ['freshness', 'throughput', 'load', 'search', 'qdrant', 'mongodb', 'onnx', 'kafka', 'proxy', 'llm', 'traces', 'masking', 'cache', 'eval', 'finetune', 'peers'] as const;
export type BenchGroup = (typeof BENCH_GROUPS)[number];

/**
 * The file in bench/results/ a run writes: one per kind of run, so a run of some groups never
 * overwrites another's figures. A full run writes latest.json; `--only cache` cache.json;
 * `--only throughput,freshness` freshness+throughput.json (groups in the runner's order, whatever
 * order they were asked in); a quick run quick.json or quick-<groups>.json (smoke runs, not committed).
 */
export function resultFileName(quick: boolean, only: ReadonlySet<string> | null): string {
  const name = only ? BENCH_GROUPS.filter((g) => only.has(g)).join('+') : '';
  if (quick) return name ? `quick-${name}.json` : 'quick.json';
  return name ? `${name}.json` : 'latest.json';
}
