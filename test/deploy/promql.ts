/**
 * A small PromQL reader for test/deploy/observability.test.ts: not a parser, a tokenizer that sorts
 * every identifier of an expression into what it is, and refuses what it does not understand (an
 * unknown function, a character PromQL has not, an unbalanced bracket), so nothing slips through as
 * "not a metric".
 *  - a series: an identifier that is not followed by `(`, not a keyword and not inside a label
 *    matcher, with the matchers of the `{…}` right after it (or a bare `{…}` naming `__name__`);
 *  - a function or an aggregation: an identifier followed by `(` (or an aggregation followed by
 *    by/without): it must be one PromQL has;
 *  - label names: the left side of a matcher inside `{…}`, and the lists after by, without, on,
 *    ignoring, group_left and group_right;
 *  - the rest: keywords (and, or, unless, bool, offset, atan2), numbers, durations, strings, ranges
 *    and subqueries (`[5m]`, `[1h:1m]`), and Grafana's variables (`$__rate_interval`, `$group`) when allowed.
 * What it does not do: evaluate, or know which labels survive an aggregation (resultLabels
 * approximates that, see there).
 */

/** Every PromQL function (Prometheus 3), and the @ modifier's start() and end(). */
export const PROMQL_FUNCTIONS = new Set([
  'abs', 'absent', 'absent_over_time', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh', 'avg_over_time', 'ceil', 'changes', 'clamp',
  'clamp_max', 'clamp_min', 'cos', 'cosh', 'count_over_time', 'day_of_month', 'day_of_week', 'day_of_year', 'days_in_month', 'deg', 'delta',
  'deriv', 'double_exponential_smoothing', 'exp', 'floor', 'histogram_avg', 'histogram_count', 'histogram_fraction', 'histogram_quantile',
  'histogram_stddev', 'histogram_stdvar', 'histogram_sum', 'hour', 'idelta', 'increase', 'info', 'irate', 'label_join', 'label_replace',
  'last_over_time', 'ln', 'log10', 'log2', 'mad_over_time', 'max_over_time', 'min_over_time', 'minute', 'month', 'pi', 'predict_linear',
  'present_over_time', 'quantile_over_time', 'rad', 'rate', 'resets', 'round', 'scalar', 'sgn', 'sin', 'sinh', 'sort', 'sort_by_label',
  'sort_by_label_desc', 'sort_desc', 'sqrt', 'stddev_over_time', 'stdvar_over_time', 'sum_over_time', 'tan', 'tanh', 'time', 'timestamp',
  'vector', 'year', 'start', 'end',
]);
export const PROMQL_AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
const BINARY_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'atan2', 'offset']);
/** Followed by a list of label names: required after by, without, on, ignoring; optional after group_left/right. */
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

export interface Matcher { label: string; op: '=' | '!=' | '=~' | '!~'; value: string }
export interface SeriesRef { name: string; matchers: Matcher[] }
export interface PromqlRefs {
  series: SeriesRef[];
  /** Functions and aggregations called, in order. */
  functions: string[];
  /** Label lists after by/without/on/ignoring/group_left/group_right, with the keyword. */
  labelLists: Array<{ keyword: string; labels: string[] }>;
  /** Grafana variables used ($name or ${name}), without the $. */
  variables: string[];
}

type TokKind = 'ident' | 'number' | 'string' | 'op' | 'var';
interface Tok { kind: TokKind; text: string; pos: number }

const NUMBER_OR_DURATION = /^(?:0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)?)/;
/** A metric or label name; a leading colon (legal in a metric name, unusual) is not read, so `[5m:1m]` is a subquery. */
const IDENT = /^[a-zA-Z_][a-zA-Z0-9_:]*/;
const OPS = ['==', '!=', '=~', '!~', '>=', '<=', '>', '<', '=', '+', '-', '*', '/', '%', '^', '(', ')', '{', '}', '[', ']', ',', '@', ':'];
/** Grafana's variables: $name, ${name} or ${name:format}. */
const VARIABLE = /^\$(?:\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-zA-Z]+)?\}|([a-zA-Z_][a-zA-Z0-9_]*))/;

function tokenize(expr: string, allowVariables: boolean): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    const rest = expr.slice(i);
    if (/\s/.test(c)) { i++; continue; }
    if (c === '#') { while (i < expr.length && expr[i] !== '\n') i++; continue; }
    if (c === '"' || c === '\'' || c === '`') {
      let j = i + 1;
      let value = '';
      while (j < expr.length && expr[j] !== c) {
        if (expr[j] === '\\' && c !== '`') { value += expr[j + 1] ?? ''; j += 2; continue; }
        value += expr[j];
        j++;
      }
      if (j >= expr.length) throw new Error(`unterminated string at ${i}: ${rest}`);
      toks.push({ kind: 'string', text: value, pos: i });
      i = j + 1;
      continue;
    }
    if (c === '$') {
      const m = VARIABLE.exec(rest);
      if (!m) throw new Error(`a $ that is not a variable at ${i}: ${rest}`);
      if (!allowVariables) throw new Error(`a Grafana variable (${m[0]}) where none may be: ${expr}`);
      toks.push({ kind: 'var', text: m[1] ?? m[2]!, pos: i });
      i += m[0].length;
      continue;
    }
    const num = NUMBER_OR_DURATION.exec(rest);
    if (num && /[0-9.]/.test(c)) { toks.push({ kind: 'number', text: num[0], pos: i }); i += num[0].length; continue; }
    const id = IDENT.exec(rest);
    if (id) { toks.push({ kind: 'ident', text: id[0], pos: i }); i += id[0].length; continue; }
    const op = OPS.find((o) => rest.startsWith(o));
    if (op) { toks.push({ kind: 'op', text: op, pos: i }); i += op.length; continue; }
    throw new Error(`unexpected ${JSON.stringify(c)} at ${i}: ${expr}`);
  }
  return toks;
}

/** What a PromQL expression refers to. Throws on what it cannot read. */
export function promqlRefs(expr: string, opts: { allowVariables?: boolean } = {}): PromqlRefs {
  const toks = tokenize(expr, opts.allowVariables ?? false);
  const refs: PromqlRefs = { series: [], functions: [], labelLists: [], variables: toks.filter((t) => t.kind === 'var').map((t) => t.text) };
  const parens: string[] = [];
  let i = 0;
  const peek = (k = 0) => toks[i + k];
  const expectOp = (text: string) => {
    const t = toks[i];
    if (t?.kind !== 'op' || t.text !== text) throw new Error(`expected "${text}" at ${t?.pos ?? expr.length}: ${expr}`);
    i++;
  };

  /** `{ label op "value", … }` from the current `{`; a lone string is the metric's name (Prometheus 3's quoted names). */
  const readMatchers = (): { matchers: Matcher[]; quotedName: string | null } => {
    expectOp('{');
    const matchers: Matcher[] = [];
    let quotedName: string | null = null;
    while (!(peek()?.kind === 'op' && peek()!.text === '}')) {
      const label = peek();
      if (label?.kind === 'string' && peek(1)?.kind === 'op' && [',', '}'].includes(peek(1)!.text)) {
        quotedName = label.text;
        i++;
      } else {
        if (label?.kind !== 'ident' && label?.kind !== 'string') throw new Error(`expected a label name at ${label?.pos ?? expr.length}: ${expr}`);
        const op = peek(1);
        if (op?.kind !== 'op' || !['=', '!=', '=~', '!~'].includes(op.text)) throw new Error(`expected a matcher operator after ${label.text}: ${expr}`);
        const value = peek(2);
        if (value?.kind !== 'string') throw new Error(`expected a string after ${label.text}${op.text}: ${expr}`);
        matchers.push({ label: label.text, op: op.text as Matcher['op'], value: value.text });
        i += 3;
      }
      if (peek()?.kind === 'op' && peek()!.text === ',') i++;
      else if (!(peek()?.kind === 'op' && peek()!.text === '}')) throw new Error(`expected "," or "}" at ${peek()?.pos ?? expr.length}: ${expr}`);
    }
    expectOp('}');
    return { matchers, quotedName };
  };

  const readLabelList = (keyword: string) => {
    if (!(peek()?.kind === 'op' && peek()!.text === '(')) {
      if (keyword === 'group_left' || keyword === 'group_right') { refs.labelLists.push({ keyword, labels: [] }); return; }
      throw new Error(`expected "(" after ${keyword}: ${expr}`);
    }
    i++;
    const labels: string[] = [];
    while (!(peek()?.kind === 'op' && peek()!.text === ')')) {
      const t = peek();
      if (t?.kind !== 'ident' && t?.kind !== 'string') throw new Error(`expected a label name in ${keyword} (…) at ${t?.pos ?? expr.length}: ${expr}`);
      labels.push(t.text);
      i++;
      if (peek()?.kind === 'op' && peek()!.text === ',') i++;
    }
    i++;
    refs.labelLists.push({ keyword, labels });
  };

  while (i < toks.length) {
    const t = toks[i]!;
    if (t.kind === 'op') {
      if (t.text === '[') {
        // a range or a subquery: durations, variables, ":" only
        i++;
        while (!(peek()?.kind === 'op' && peek()!.text === ']')) {
          const r = peek();
          if (!r || !(r.kind === 'number' || r.kind === 'var' || (r.kind === 'op' && r.text === ':'))) throw new Error(`not a range at ${r?.pos ?? expr.length}: ${expr}`);
          i++;
        }
        i++;
        continue;
      }
      if (t.text === '{') {
        // a selector with no name before it: its name is a __name__ matcher, or a quoted name
        const { matchers, quotedName } = readMatchers();
        const name = quotedName ?? matchers.find((m) => m.label === '__name__' && m.op === '=')?.value;
        if (name === undefined) throw new Error(`a selector without a metric name: ${expr}`);
        refs.series.push({ name, matchers: matchers.filter((m) => m.label !== '__name__') });
        continue;
      }
      if (t.text === '(') parens.push('(');
      if (t.text === ')' && parens.pop() === undefined) throw new Error(`unbalanced ")" at ${t.pos}: ${expr}`);
      if (t.text === ']' || t.text === '}') throw new Error(`unbalanced "${t.text}" at ${t.pos}: ${expr}`);
      i++;
      continue;
    }
    if (t.kind !== 'ident') { i++; continue; }
    const word = t.text;
    const lower = word.toLowerCase();
    const next = peek(1);
    if (LABEL_LIST_KEYWORDS.has(lower)) { i++; readLabelList(lower); continue; }
    if (BINARY_KEYWORDS.has(lower)) { i++; continue; }
    if (lower === 'inf' || lower === 'nan') { i++; continue; }
    const calls = next?.kind === 'op' && next.text === '(';
    const aggregatesBy = next?.kind === 'ident' && ['by', 'without'].includes(next.text.toLowerCase());
    // aggregations are keywords (any case); functions are names (exact)
    if (calls || (aggregatesBy && PROMQL_AGGREGATIONS.has(lower))) {
      if (!PROMQL_FUNCTIONS.has(word) && !PROMQL_AGGREGATIONS.has(lower)) throw new Error(`unknown function ${word}: ${expr}`);
      refs.functions.push(PROMQL_AGGREGATIONS.has(lower) ? lower : word);
      i++;
      continue;
    }
    // a series
    i++;
    const matchers = peek()?.kind === 'op' && peek()!.text === '{' ? readMatchers().matchers : [];
    refs.series.push({ name: word, matchers });
  }
  if (parens.length > 0) throw new Error(`unclosed "(": ${expr}`);
  return refs;
}

/**
 * The labels an expression's result can carry, approximately: with an aggregation, the labels of its
 * `by` lists (le dropped by histogram_quantile) and the equality matchers of absent(); without one,
 * every label of its series (`labelsOf`). Enough to check `{{ $labels.x }}` in an alert and
 * `{{x}}` in a legend: a label an aggregation dropped is caught.
 */
export function resultLabels(refs: PromqlRefs, labelsOf: (series: SeriesRef) => readonly string[]): Set<string> {
  const aggregates = refs.functions.some((f) => PROMQL_AGGREGATIONS.has(f));
  const out = new Set<string>();
  if (refs.functions.includes('absent') || refs.functions.includes('absent_over_time')) {
    for (const s of refs.series) for (const m of s.matchers) if (m.op === '=') out.add(m.label);
  }
  if (aggregates) {
    if (refs.labelLists.some((l) => l.keyword === 'without')) throw new Error('resultLabels: `without` is not handled');
    for (const l of refs.labelLists) if (l.keyword === 'by') l.labels.forEach((x) => out.add(x));
    if (refs.functions.includes('histogram_quantile')) out.delete('le');
  } else if (!refs.functions.includes('absent')) {
    for (const s of refs.series) labelsOf(s).forEach((x) => out.add(x));
  }
  return out;
}
