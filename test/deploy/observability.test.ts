import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parseDocument, stringify } from 'yaml';
import { Metrics } from '../../observability/metrics.ts';
import { requiredScope } from '../../api/auth/route-scopes.ts';
import { promqlRefs, resultLabels, type PromqlRefs, type SeriesRef } from './promql.ts';
import { failInCi } from '../helpers/ci.ts';

/**
 * deploy/observability/, checked against the code: every metric name in every PromQL expression of
 * the alerting rules (alerts.yaml) and the Grafana dashboard (grafana-dashboard.json) is one a real
 * Metrics registry exports (observability/metrics.ts, with prom-client's default metrics; a
 * histogram as its _bucket, _sum and _count series), or `up`; every label a matcher, a by/on list,
 * an alert's {{ $labels.x }} or a legend's {{x}} uses is one the metric has or the scrape adds
 * (prometheus.yaml); the jobs and components named are the ones scraped and deployed. Renaming a
 * metric or a label in the code fails here. The expressions are read by test/deploy/promql.ts, a
 * tokenizer that refuses what it does not understand. With promtool (test/deploy/fetch-promtool.sh),
 * Prometheus itself checks the rules and the configuration, and runs the firing scenarios of
 * test/deploy/alerts.promtool.yaml; without it those tests skip, naming the script.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = join(root, 'deploy/observability');
const alertsText = readFileSync(join(dir, 'alerts.yaml'), 'utf8');
const scrapeText = readFileSync(join(dir, 'prometheus.yaml'), 'utf8');
const dashboardText = readFileSync(join(dir, 'grafana-dashboard.json'), 'utf8');

interface Rule { alert?: string; record?: string; expr: string; for?: string; keep_firing_for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
interface RulesFile { groups: Array<{ name: string; interval?: string; rules: Rule[] }> }
interface RelabelConfig { source_labels?: string[]; regex?: string; action?: string; target_label?: string; replacement?: string }
interface ScrapeConfig { job_name: string; metrics_path?: string; authorization?: { type?: string; credentials_file?: string }; kubernetes_sd_configs?: Array<{ role: string; namespaces?: { names: string[] } }>; relabel_configs?: RelabelConfig[] }
interface PrometheusConfig { rule_files?: string[]; scrape_configs: ScrapeConfig[] }
interface Target { refId: string; expr: string; legendFormat?: string; datasource?: { type?: string; uid?: string } }
interface Panel { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; datasource?: { type?: string; uid?: string }; targets?: Target[]; panels?: Panel[] }
interface Variable { name: string; type: string; query: string | { query: string }; datasource?: { uid?: string } }
interface Dashboard { title: string; uid: string; panels: Panel[]; templating: { list: Variable[] }; __inputs?: unknown[] }

function parseYaml<T>(text: string, file: string): T {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
  return doc.toJS() as T;
}
const rules = parseYaml<RulesFile>(alertsText, 'alerts.yaml');
const scrape = parseYaml<PrometheusConfig>(scrapeText, 'prometheus.yaml');
const dashboard = JSON.parse(dashboardText) as Dashboard;
const alerts = rules.groups.flatMap((g) => g.rules);

/** The panels, rows' nested panels included. */
const allPanels = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
const panels = allPanels(dashboard.panels);
const dashboardVariables = new Set(dashboard.templating.list.map((v) => v.name));
/** Grafana's own variables a query may use. */
const GRAFANA_VARIABLES = new Set(['__rate_interval', '__interval', '__range', '__range_s']);

/** The labels Prometheus puts on every series of a target: job and instance, and what the relabelling of prometheus.yaml writes. */
const TARGET_LABELS = new Set(['job', 'instance', ...scrape.scrape_configs.flatMap((s) => (s.relabel_configs ?? []).map((r) => r.target_label).filter((l): l is string => l !== undefined && !l.startsWith('__')))]);
const SCRAPE_JOBS = new Set(scrape.scrape_configs.map((s) => s.job_name));

/** Tributary's workloads in deploy/ and their pod templates. */
interface Workload { kind: string; metadata: { name: string }; spec: { template: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: { containers: Array<{ args?: string[]; ports?: Array<{ name?: string; containerPort: number }> }> } } } }
const workloads: Workload[] = readdirSync(join(root, 'deploy')).filter((f) => f.endsWith('.yaml')).flatMap((f) => parseAllDocuments(readFileSync(join(root, 'deploy', f), 'utf8')).map((d) => d.toJS() as Workload))
  .filter((d) => d?.kind === 'Deployment' || d?.kind === 'StatefulSet');
const COMPONENTS = new Set(workloads.map((w) => w.spec.template.metadata.labels?.['app.kubernetes.io/component']).filter((c): c is string => c !== undefined));

/** Every series name the code exports, with its labels (from a real registry). */
type Exported = Map<string, readonly string[]>;
async function exportedSeries(): Promise<Exported> {
  const metrics = new Metrics({ defaultMetrics: true });
  const out: Exported = new Map([['up', []]]);
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const labels = (metrics.registry.getSingleMetric(m.name) as unknown as { labelNames?: readonly string[] } | undefined)?.labelNames ?? [];
    // the enum of prom-client's typings is the type's name at run time
    const type = String(m.type);
    if (type === 'histogram') {
      out.set(`${m.name}_bucket`, [...labels, 'le']);
      out.set(`${m.name}_sum`, labels);
      out.set(`${m.name}_count`, labels);
    } else if (type === 'summary') {
      out.set(m.name, [...labels, 'quantile']);
      out.set(`${m.name}_sum`, labels);
      out.set(`${m.name}_count`, labels);
    } else {
      out.set(m.name, labels);
    }
  }
  metrics.registry.clear();
  return out;
}

/** Why an expression does not fit what the code exports and the scrape adds ([] when it does), and what it refers to. */
function checkExpr(where: string, expr: string, exported: Exported, opts: { allowVariables: boolean }): { problems: string[]; refs: PromqlRefs | null } {
  let refs: PromqlRefs;
  try {
    refs = promqlRefs(expr, { allowVariables: opts.allowVariables });
  } catch (e) {
    return { problems: [`${where}: ${(e as Error).message}`], refs: null };
  }
  const problems: string[] = [];
  const labelsOf = (s: SeriesRef) => [...(exported.get(s.name) ?? []), ...TARGET_LABELS];
  for (const s of refs.series) {
    if (!exported.has(s.name)) { problems.push(`${where}: ${s.name} is not a metric Tributary exports`); continue; }
    const labels = new Set(labelsOf(s));
    for (const m of s.matchers) {
      if (!labels.has(m.label)) problems.push(`${where}: ${s.name} has no label ${m.label} (it has ${[...labels].join(', ')})`);
      const values = m.op === '=' ? [m.value] : m.op === '=~' && /^[a-z0-9_|-]+$/.test(m.value) ? m.value.split('|') : [];
      if (m.label === 'job') for (const v of values) if (!SCRAPE_JOBS.has(v)) problems.push(`${where}: job "${v}" is not a scrape job of prometheus.yaml (${[...SCRAPE_JOBS].join(', ')})`);
      if (m.label === 'component') for (const v of values) if (!COMPONENTS.has(v)) problems.push(`${where}: component "${v}" is not deployed (${[...COMPONENTS].join(', ')})`);
    }
  }
  const anyLabel = new Set(refs.series.flatMap(labelsOf));
  for (const list of refs.labelLists) for (const l of list.labels) if (!anyLabel.has(l)) problems.push(`${where}: ${list.keyword} (${l}): no series of the expression has ${l}`);
  for (const v of refs.variables) if (!GRAFANA_VARIABLES.has(v) && !dashboardVariables.has(v)) problems.push(`${where}: $${v} is not a variable of the dashboard`);
  return { problems, refs };
}

let exported: Exported;
beforeAll(async () => { exported = await exportedSeries(); });

/** promtool: $PROMTOOL, or the one test/deploy/fetch-promtool.sh built into the user cache; null when neither. */
function promtoolPath(): string | null {
  if (process.env['PROMTOOL']) return process.env['PROMTOOL'];
  const script = readFileSync(join(root, 'test/deploy/fetch-promtool.sh'), 'utf8');
  const version = /PROMTOOL_VERSION:-([0-9.]+)\}/.exec(script)?.[1];
  const bin = join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'tributary', `promtool-${version}`, 'promtool');
  return existsSync(bin) ? bin : null;
}

describe('the PromQL reader (test/deploy/promql.ts)', () => {
  it('finds series, matchers and label lists, and skips functions, keywords, ranges and strings', () => {
    const r = promqlRefs('histogram_quantile(0.99, sum by (le, stage) (rate(tributary_stage_freshness_seconds_bucket{stage="cleaned", job=~"a|b"}[5m] offset 1h))) > on () group_left max(x:y_total) and bool up unless {__name__="z"}');
    expect(r.series).toEqual([
      { name: 'tributary_stage_freshness_seconds_bucket', matchers: [{ label: 'stage', op: '=', value: 'cleaned' }, { label: 'job', op: '=~', value: 'a|b' }] },
      { name: 'x:y_total', matchers: [] },
      { name: 'up', matchers: [] },
      { name: 'z', matchers: [] },
    ]);
    expect(r.functions).toEqual(['histogram_quantile', 'sum', 'rate', 'max']);
    expect(r.labelLists).toEqual([{ keyword: 'by', labels: ['le', 'stage'] }, { keyword: 'on', labels: [] }, { keyword: 'group_left', labels: [] }]);
    expect(promqlRefs('sum(rate(a_total[$__rate_interval])) by (group) / count(b{c!~"d"}[1h30m:1m])', { allowVariables: true }).series.map((s) => s.name)).toEqual(['a_total', 'b']);
    expect(promqlRefs('label_replace(up, "dst", "$1", "src", "(.*)")').series.map((s) => s.name)).toEqual(['up']);
  });

  it('refuses what it does not understand', () => {
    expect(() => promqlRefs('rat(x[5m])')).toThrow(/unknown function rat/);
    expect(() => promqlRefs('sum(x')).toThrow(/unclosed/);
    expect(() => promqlRefs('x{a="b"')).toThrow();
    expect(() => promqlRefs('x{a=b}')).toThrow(/string/);
    expect(() => promqlRefs('rate(x[$__rate_interval])')).toThrow(/Grafana variable/);
    expect(() => promqlRefs('x ; y')).toThrow(/unexpected/);
    expect(() => promqlRefs('{job="a"}')).toThrow(/without a metric name/);
  });

  it('the labels of a result: an aggregation keeps its by labels, histogram_quantile drops le, absent() keeps its equality matchers', () => {
    const labelsOf = () => ['a', 'b', 'le'];
    expect([...resultLabels(promqlRefs('max by (a) (x) > 1'), labelsOf)]).toEqual(['a']);
    expect([...resultLabels(promqlRefs('histogram_quantile(0.5, sum by (le, b) (rate(x_bucket[5m])))'), labelsOf)]).toEqual(['b']);
    expect([...resultLabels(promqlRefs('absent(up{job="j", a=~"x"})'), labelsOf)]).toEqual(['job']);
    expect([...resultLabels(promqlRefs('x == 0'), labelsOf)].sort()).toEqual(['a', 'b', 'le']);
  });
});

describe('deploy/observability/alerts.yaml', () => {
  const SEVERITIES = ['critical', 'warning', 'info'];
  const RULE_KEYS = new Set(['alert', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations']);

  it('is a Prometheus rules file: groups with unique names, each with alerting rules', () => {
    expect(Object.keys(rules)).toEqual(['groups']);
    expect(rules.groups.length).toBeGreaterThan(0);
    expect(new Set(rules.groups.map((g) => g.name)).size).toBe(rules.groups.length);
    for (const g of rules.groups) {
      expect(g.name, 'a group name').toMatch(/^tributary-[a-z-]+$/);
      expect(Array.isArray(g.rules) && g.rules.length > 0, g.name).toBe(true);
    }
    const names = alerts.map((r) => r.alert);
    expect(new Set(names).size, 'unique alert names').toBe(names.length);
  });

  it.each(alerts.map((r) => [r.alert ?? '(no name)', r] as const))('%s: an expression, a duration, a severity, a summary and a description that says where to look', (_name, r) => {
    for (const k of Object.keys(r)) expect(RULE_KEYS.has(k), `unknown key ${k}`).toBe(true);
    expect(r.alert).toMatch(/^Tributary[A-Z][A-Za-z0-9]+$/);
    expect(typeof r.expr === 'string' && r.expr.trim().length > 0).toBe(true);
    if (r.for !== undefined) expect(r.for).toMatch(/^(\d+(ms|s|m|h|d|w|y))+$/);
    expect(Object.keys(r.labels ?? {})).toEqual(['severity']);
    expect(SEVERITIES).toContain(r.labels?.['severity']);
    expect(Object.keys(r.annotations ?? {}).sort()).toEqual(['description', 'summary']);
    expect(r.annotations!['summary']!.length).toBeGreaterThan(10);
    expect(r.annotations!['description']!).toMatch(/\/ops|`tributary (lag|dlq)|\/healthz|\/readyz|dashboard|logs/);
    // balanced Go template actions
    for (const text of Object.values(r.annotations!)) expect(text.split('{{').length, text).toBe(text.split('}}').length);
  });

  it('uses only metrics Tributary exports, with labels they have, the scrape jobs of prometheus.yaml and deployed components', () => {
    const problems = alerts.flatMap((r) => checkExpr(r.alert!, r.expr, exported, { allowVariables: false }).problems);
    expect(problems).toEqual([]);
  });

  it('its annotations name only labels the expression\'s result has ({{ $labels.x }})', () => {
    const problems: string[] = [];
    for (const r of alerts) {
      const refs = promqlRefs(r.expr);
      const has = resultLabels(refs, (s) => [...(exported.get(s.name) ?? []), ...TARGET_LABELS]);
      for (const text of Object.values(r.annotations ?? {})) {
        for (const m of text.matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)) if (!has.has(m[1]!)) problems.push(`${r.alert}: $labels.${m[1]} (the result has ${[...has].join(', ') || 'no label'})`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('covers what the on-call person must hear about', () => {
    const used = (alert: string) => promqlRefs(alerts.find((r) => r.alert === alert)?.expr ?? expect.fail(`no alert ${alert}`)).series.map((s) => s.name);
    expect(used('TributaryConsumerGroupStalledOrStopped')).toEqual(['tributary_consumer_group_status']);
    expect(used('TributaryConsumerGroupLagWarn')).toEqual(['tributary_consumer_group_status']);
    expect(used('TributaryConsumerNotRunning')).toEqual(['tributary_consumer_running']);
    expect(used('TributaryProcessDown')).toEqual(['up']);
    expect(new Set(used('TributaryFreshnessBudgetBurnFast'))).toEqual(new Set(['tributary_freshness_probe_over_slo_total', 'tributary_freshness_probe_seconds_count']));
    expect(new Set(used('TributaryFreshnessProbeP99AboveSlo'))).toEqual(new Set(['tributary_freshness_probe_seconds_bucket', 'tributary_freshness_slo_seconds']));
    expect(used('TributaryFreshnessProbeFailing')).toEqual(['tributary_freshness_probe_failures_total']);
    expect(new Set(used('TributaryDlqGrowing'))).toEqual(new Set(['tributary_dlq_records_total']));
    expect(new Set(used('TributaryInferenceErrorRateHigh'))).toEqual(new Set(['tributary_inference_errors_total', 'tributary_inference_requests_total']));
    expect(new Set(used('TributaryInferenceUpstreamEjected'))).toEqual(new Set(['tributary_inference_ejections_total']));
    expect(used('TributaryInferenceUpstreamDown')).toEqual(['tributary_inference_upstream_up']);
    // the Burrow encoding the thresholds rely on: 1 WARN, 3 STALL, 4 STOP (observability/metrics.ts's help)
    const help = readFileSync(join(root, 'observability/metrics.ts'), 'utf8');
    expect(help).toContain('Worst partition lag status of the group: 0 OK, 1 WARN, 2 REWIND, 3 STALL, 4 STOP');
    expect(alerts.find((r) => r.alert === 'TributaryConsumerGroupStalledOrStopped')!.expr).toMatch(/>= 3\s*$/);
    expect(alerts.find((r) => r.alert === 'TributaryConsumerGroupLagWarn')!.expr).toMatch(/== 1\s*$/);
  });

  it('the check fails when a metric or a label is renamed (in the code or here)', () => {
    const renamed = new Map(exported);
    renamed.delete('tributary_dlq_records_total');
    renamed.set('tributary_dlq_total', exported.get('tributary_dlq_records_total')!);
    const dlq = alerts.find((r) => r.alert === 'TributaryDlqGrowing')!;
    expect(checkExpr(dlq.alert!, dlq.expr, renamed, { allowVariables: false }).problems.join('\n')).toMatch(/tributary_dlq_records_total is not a metric Tributary exports/);
    // a histogram is its _bucket/_sum/_count series, never its bare name
    expect(checkExpr('x', 'rate(tributary_freshness_probe_seconds[5m])', exported, { allowVariables: false }).problems).toHaveLength(1);
    expect(checkExpr('x', 'sum(tributary_stage_freshness_seconds_count{stag="cleaned"})', exported, { allowVariables: false }).problems.join('\n')).toMatch(/has no label stag/);
    expect(checkExpr('x', 'sum by (grp) (tributary_consumer_lag)', exported, { allowVariables: false }).problems.join('\n')).toMatch(/by \(grp\)/);
    expect(checkExpr('x', 'up{job="tributary-consumers"}', exported, { allowVariables: false }).problems.join('\n')).toMatch(/not a scrape job/);
    expect(checkExpr('x', 'up{component="indexer"}', exported, { allowVariables: false }).problems.join('\n')).toMatch(/not deployed/);
    // prom-client's default metrics are there (TRIBUTARY_METRICS=true), under their real names
    expect(exported.has('tributary_process_cpu_user_seconds_total')).toBe(true);
    expect(exported.has('tributary_nodejs_gc_duration_seconds_bucket')).toBe(true);
  });
});

describe('deploy/observability/prometheus.yaml (the scrape configuration the rules assume)', () => {
  const job = (name: string) => scrape.scrape_configs.find((s) => s.job_name === name) ?? expect.fail(`no scrape job ${name}`);
  const reads = (s: ScrapeConfig) => new Set((s.relabel_configs ?? []).flatMap((r) => r.source_labels ?? []));

  it('loads the rules file and scrapes the pods of namespace tributary in two jobs, each labelling component, pod and namespace', () => {
    expect(scrape.rule_files).toEqual(['tributary-alerts.yaml']);
    expect([...SCRAPE_JOBS].sort()).toEqual(['tributary', 'tributary-api']);
    for (const s of scrape.scrape_configs) {
      expect(s.kubernetes_sd_configs).toEqual([{ role: 'pod', namespaces: { names: ['tributary'] } }]);
      const targets = (s.relabel_configs ?? []).filter((r) => r.target_label && !r.target_label.startsWith('__'));
      expect(Object.fromEntries(targets.map((r) => [r.target_label, r.source_labels]))).toEqual({
        namespace: ['__meta_kubernetes_namespace'],
        pod: ['__meta_kubernetes_pod_name'],
        component: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'],
      });
      for (const r of s.relabel_configs ?? []) if (r.regex !== undefined) expect(() => new RegExp(r.regex!), r.regex).not.toThrow();
    }
  });

  it('job tributary: the pods annotated prometheus.io/scrape "true", on the port and path they name; every annotated pod carries the annotations it reads', () => {
    const s = job('tributary');
    const keep = (s.relabel_configs ?? []).find((r) => r.action === 'keep' && r.source_labels?.[0] === '__meta_kubernetes_pod_annotation_prometheus_io_scrape');
    expect(keep?.regex).toBe('true');
    const annotationLabels = [...reads(s)].filter((l) => l.startsWith('__meta_kubernetes_pod_annotation_'));
    expect(annotationLabels.sort()).toEqual(['__meta_kubernetes_pod_annotation_prometheus_io_path', '__meta_kubernetes_pod_annotation_prometheus_io_port', '__meta_kubernetes_pod_annotation_prometheus_io_scrape']);
    const annotated = workloads.filter((w) => w.spec.template.metadata.annotations?.['prometheus.io/scrape'] === 'true');
    expect(annotated.length).toBeGreaterThan(0);
    for (const w of annotated) {
      // Kubernetes service discovery's names: every character not [a-zA-Z0-9_] becomes _
      const present = new Set(Object.keys(w.spec.template.metadata.annotations ?? {}).map((k) => `__meta_kubernetes_pod_annotation_${k.replace(/[^a-zA-Z0-9_]/g, '_')}`));
      for (const l of annotationLabels) expect(present.has(l), `${w.metadata.name}: ${l}`).toBe(true);
      // the port annotated is a port the container declares
      const port = Number(w.spec.template.metadata.annotations!['prometheus.io/port']);
      expect(w.spec.template.spec.containers.flatMap((c) => c.ports ?? []).map((p) => p.containerPort), w.metadata.name).toContain(port);
    }
    // the address rewrite puts the annotated port after the pod's address
    const rewrite = (s.relabel_configs ?? []).find((r) => r.target_label === '__address__')!;
    expect(rewrite.source_labels).toEqual(['__address__', '__meta_kubernetes_pod_annotation_prometheus_io_port']);
    expect('10.1.2.3:8080;9464'.replace(new RegExp(`^(?:${rewrite.regex})$`), rewrite.replacement!.replace(/\$(\d)/g, '$$$1'))).toBe('10.1.2.3:9464');
    expect('10.1.2.3;9464'.replace(new RegExp(`^(?:${rewrite.regex})$`), rewrite.replacement!.replace(/\$(\d)/g, '$$$1'))).toBe('10.1.2.3:9464');
  });

  it('job tributary-api: the API pods on their http port, with an API key (GET /metrics needs the admin scope)', () => {
    const s = job('tributary-api');
    expect(requiredScope('GET', '/metrics')).toBe('admin');
    expect(s.authorization?.type).toBe('Bearer');
    expect(s.authorization?.credentials_file).toMatch(/^\//);
    expect((s.relabel_configs ?? []).find((r) => r.source_labels?.[0] === '__meta_kubernetes_pod_container_port_name')?.regex).toBe('http');
    const api = workloads.find((w) => w.spec.template.metadata.labels?.['app.kubernetes.io/component'] === 'api')!;
    expect(api.spec.template.spec.containers.flatMap((c) => c.ports ?? []).map((p) => p.name)).toContain('http');
    // not annotated for a keyless scrape, which would fail (and page as a process down)
    expect(api.spec.template.metadata.annotations?.['prometheus.io/scrape']).toBeUndefined();
  });
});

describe('deploy/observability/grafana-dashboard.json', () => {
  const queryPanels = panels.filter((p) => p.type !== 'row');

  it('takes its Prometheus as the datasource variable DS_PROMETHEUS, in every panel and query', () => {
    const ds = dashboard.templating.list.find((v) => v.name === 'DS_PROMETHEUS');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    for (const p of queryPanels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
      for (const t of p.targets ?? []) expect(t.datasource, `${p.title} ${t.refId}`).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) expect(v.datasource?.uid, v.name).toBe('${DS_PROMETHEUS}');
  });

  it('has unique panel ids, and every panel at least one query with unique refIds', () => {
    const ids = panels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(queryPanels.length).toBeGreaterThanOrEqual(20);
    for (const p of queryPanels) {
      expect(p.targets?.length ?? 0, p.title).toBeGreaterThan(0);
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
      for (const t of p.targets!) expect(t.expr.trim().length, `${p.title} ${t.refId}`).toBeGreaterThan(0);
    }
  });

  it('lays its panels out on the 24-column grid without overlap', () => {
    const top = dashboard.panels;
    for (const p of top) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    for (const [i, a] of top.entries()) {
      for (const b of top.slice(i + 1)) {
        const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w && a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h;
        expect(overlap, `${a.title} / ${b.title}`).toBe(false);
      }
    }
  });

  it('queries only metrics Tributary exports, with labels they have, and the dashboard\'s variables', () => {
    const problems = queryPanels.flatMap((p) => (p.targets ?? []).flatMap((t) => checkExpr(`${p.title} ${t.refId}`, t.expr, exported, { allowVariables: true }).problems));
    expect(problems).toEqual([]);
  });

  it('its legends name only labels the query\'s result has ({{x}})', () => {
    const problems: string[] = [];
    for (const p of queryPanels) {
      for (const t of p.targets ?? []) {
        const has = resultLabels(promqlRefs(t.expr, { allowVariables: true }), (s) => [...(exported.get(s.name) ?? []), ...TARGET_LABELS]);
        for (const m of (t.legendFormat ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) if (!has.has(m[1]!)) problems.push(`${p.title} ${t.refId}: {{${m[1]}}} (the result has ${[...has].join(', ') || 'no label'})`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('its variables list label values of metrics that have the label', () => {
    const queries = dashboard.templating.list.filter((v) => v.type === 'query');
    expect(queries.length).toBeGreaterThan(0);
    for (const v of queries) {
      const q = typeof v.query === 'string' ? v.query : v.query.query;
      const m = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(q);
      expect(m, `${v.name}: ${q}`).not.toBeNull();
      expect(checkExpr(v.name, m![1]!, exported, { allowVariables: false }).problems).toEqual([]);
      const [series] = promqlRefs(m![1]!).series;
      expect(exported.get(series!.name), `${v.name}: ${series!.name} has ${m![2]}`).toContain(m![2]);
    }
  });

  it('has the panels the on-call person needs: lag, Burrow status, freshness with the SLO, stages, DLQ, latencies, inference, judge scores, answer cache', () => {
    const used = new Set(queryPanels.flatMap((p) => (p.targets ?? []).flatMap((t) => promqlRefs(t.expr, { allowVariables: true }).series.map((s) => s.name))));
    for (const name of [
      'tributary_consumer_lag', 'tributary_consumer_lag_seconds', 'tributary_consumer_group_status', 'tributary_consumer_lag_status', 'tributary_consumer_running', 'up',
      'tributary_freshness_seconds_bucket', 'tributary_freshness_probe_seconds_bucket', 'tributary_freshness_slo_seconds', 'tributary_stage_freshness_seconds_bucket',
      'tributary_freshness_probe_over_slo_total', 'tributary_freshness_probe_failures_total',
      'tributary_stage_records_total', 'tributary_stage_failures_total', 'tributary_dlq_records_total', 'tributary_stage_batch_seconds_bucket',
      'tributary_embed_seconds_bucket', 'tributary_search_seconds_bucket',
      'tributary_inference_requests_total', 'tributary_inference_errors_total', 'tributary_inference_ttft_seconds_bucket', 'tributary_inference_ejections_total', 'tributary_inference_upstream_up',
      'tributary_rag_judge_score_sum', 'tributary_rag_judge_score_count', 'tributary_answer_cache_total',
    ]) expect(used.has(name), name).toBe(true);
    // the SLO is drawn in the freshness panel, with both the pipeline's and the probe's quantiles
    const freshness = queryPanels.find((p) => (p.targets ?? []).some((t) => t.expr.includes('tributary_freshness_slo_seconds')))!;
    const exprs = freshness.targets!.map((t) => t.expr).join('\n');
    for (const s of ['tributary_freshness_seconds_bucket', 'tributary_freshness_probe_seconds_bucket', 'histogram_quantile(0.5', 'histogram_quantile(0.99']) expect(exprs).toContain(s);
  });
});

describe('Prometheus\'s own checks (promtool)', () => {
  const promtool = promtoolPath();
  const NO_PROMTOOL = 'promtool is not built: `bash test/deploy/fetch-promtool.sh` builds it (Go, the Go module proxy; minutes, once)';
  // `npm test` builds it first (test/setup/fetch-fixtures.ts): in CI a missing promtool is a failure, never a skip
  failInCi(promtool ? null : NO_PROMTOOL);
  const scenariosFile = join(root, 'test/deploy/alerts.promtool.yaml');
  let work = '';
  beforeAll(() => { work = mkdtempSync(join(tmpdir(), 'tributary-promtool-')); });
  afterAll(() => { rmSync(work, { recursive: true, force: true }); });
  const run = (args: string[]) => {
    const r = spawnSync(promtool!, args, { cwd: work, encoding: 'utf8', timeout: 120_000 });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
  };

  it('promtool check rules: alerts.yaml is a valid rules file (expressions, templates, durations)', ({ skip }) => {
    if (!promtool) skip(NO_PROMTOOL);
    const r = run(['check', 'rules', '--lint=all', '--lint-fatal', join(dir, 'alerts.yaml')]);
    expect(r.ok, r.output).toBe(true);
    expect(r.output).toContain(`SUCCESS: ${alerts.length} rules found`);
  });

  it('promtool check config: prometheus.yaml is a valid configuration, and its rule file loads', ({ skip }) => {
    if (!promtool) skip(NO_PROMTOOL);
    // beside it, the files it names: the rules, and a key where credentials_file points
    const keyFile = join(work, 'api-key');
    writeFileSync(keyFile, 'stand-in-admin-key\n');
    writeFileSync(join(work, scrape.rule_files![0]!), alertsText);
    const credentials = scrape.scrape_configs.find((s) => s.authorization?.credentials_file)!.authorization!.credentials_file!;
    writeFileSync(join(work, 'prometheus.yaml'), scrapeText.replaceAll(credentials, keyFile));
    const r = run(['check', 'config', 'prometheus.yaml']);
    expect(r.ok, r.output).toBe(true);
    expect(r.output).toContain('SUCCESS: 1 rule files found');
  });

  it('promtool test rules: every alert fires when it should, with the labels it should (test/deploy/alerts.promtool.yaml)', ({ skip }) => {
    if (!promtool) skip(NO_PROMTOOL);
    const scenarios = readFileSync(scenariosFile, 'utf8');
    // every alert has a scenario
    const tested = new Set([...scenarios.matchAll(/alertname: (\S+)/g)].map((m) => m[1]));
    expect(alerts.map((r) => r.alert).filter((a) => !tested.has(a))).toEqual([]);
    // the rules without annotations (promtool compares them whole; the scenarios are about firing)
    const bare = { groups: rules.groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...rule }) => rule) })) };
    writeFileSync(join(work, 'tributary-alerts.yaml'), stringify(bare));
    writeFileSync(join(work, 'alerts.promtool.yaml'), scenarios);
    const r = run(['test', 'rules', 'alerts.promtool.yaml']);
    expect(r.ok, r.output).toBe(true);
    expect(r.output).toContain('SUCCESS');
  }, 60_000);
});
