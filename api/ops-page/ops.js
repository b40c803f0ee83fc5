/* global window, document, sessionStorage, uPlot */
/**
 * The operators' page (served at /ops by api/routes/ops-page.ts). It holds no data: every value comes
 * from the admin JSON API, called with the key typed into the page (kept in this tab's
 * sessionStorage, sent as `Authorization: Bearer <key>`), or with none when the server runs without
 * keys. It refreshes by itself.
 *
 * Every value is written as text (textContent, createElement, element properties): never as HTML.
 */
(() => {
  'use strict';

  const KEY_STORAGE = 'tributary.ops.key';
  const REFRESH_STORAGE = 'tributary.ops.refreshSeconds';
  // the charts show the last hour (time-axis.js, loaded first); the page keeps that much history
  const { WINDOW_MS: HISTORY_KEEP_MS, lastHour } = window.tributaryOpsTimeAxis;
  const TRACE_LIMIT = 20;
  const DLQ_LIMIT = 200;
  const TITLE_TTL_MS = 5 * 60_000;
  const PALETTE = ['#0969da', '#bf3989', '#1a7f37', '#9a6700', '#8250df', '#cf222e', '#116329', '#953800'];

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- DOM, as text only

  /** An element with text or element children; attributes are set one by one (never markup). */
  function el(tag, opts, ...children) {
    const node = document.createElement(tag);
    if (opts) {
      if (opts.className) node.className = opts.className;
      if (opts.title !== undefined && opts.title !== null) node.title = String(opts.title);
      if (opts.data) for (const [k, v] of Object.entries(opts.data)) node.dataset[k] = String(v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  const td = (value, className) => el('td', className ? { className } : null, value === null || value === undefined ? '—' : value);
  const num = (value) => td(value === null || value === undefined ? null : Number(value).toLocaleString('en-US'), 'num');

  function emptyRow(tbody, columns, text) {
    const cell = el('td', { className: 'empty' }, text);
    cell.colSpan = columns;
    tbody.replaceChildren(el('tr', null, cell));
  }

  function time(ms) {
    if (ms === null || ms === undefined || !Number.isFinite(Number(ms))) return '—';
    const d = new Date(Number(ms));
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
  }

  const isoTime = (iso) => (iso ? time(Date.parse(iso)) : '—');
  const clip = (s, n) => (s.length > n ? `${s.slice(0, n)}…` : s);

  function statusBadge(status) {
    const s = status === null || status === undefined ? null : String(status);
    const cls = s === null ? 'none' : s.toLowerCase();
    const badge = el('span', { className: `status status-${['ok', 'warn', 'stall', 'stop', 'rewind'].includes(cls) ? cls : 'none'}`, title: s === null ? 'no evaluation by the lag monitor yet' : null }, s ?? '—');
    return badge;
  }

  function sectionError(sectionId, message) {
    const p = $(sectionId).querySelector('.section-error');
    p.textContent = message ?? '';
    p.hidden = !message;
  }

  // ---------------------------------------------------------------- the API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  let apiKey = sessionStorage.getItem(KEY_STORAGE) || '';

  async function api(path, init = {}) {
    const headers = { accept: 'application/json', ...(init.headers || {}) };
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    let res;
    try {
      res = await window.fetch(path, { ...init, headers, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'NETWORK', `the API did not answer (${e && e.message ? e.message : e})`);
    }
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      const err = body && body.error ? body.error : {};
      throw new ApiError(res.status, String(err.code || res.statusText || 'ERROR'), String(err.message || `${path} answered ${res.status}`));
    }
    return body;
  }

  const isRefusal = (e) => e instanceof ApiError && (e.status === 401 || e.status === 403);

  function showRefused(e) {
    const box = $('auth-message');
    box.textContent = apiKey
      ? `That key was refused (${e.status} ${e.code}): ${e.message}. Enter an admin key above.`
      : `This API needs an admin key (${e.status} ${e.code}): ${e.message}. Enter one above.`;
    box.hidden = false;
    $('data').hidden = true;
  }

  function clearRefused() {
    $('auth-message').hidden = true;
    $('auth-message').textContent = '';
    if ($('data').hidden) {
      $('data').hidden = false;
      resizeCharts();
    }
  }

  function showKeyState() {
    $('key-state').textContent = apiKey ? 'a key is set for this tab' : 'no key set (fine when the server runs without keys)';
  }

  // ---------------------------------------------------------------- charts (uPlot)

  const charts = {};

  function chartWidth(container) {
    return Math.max(320, (container.clientWidth || 800) - 8);
  }

  /** The time axis: the last hour, ending now, whatever the samples (uPlot asks again on every update). */
  const timeRange = () => lastHour(Date.now());

  /** Puts the x scale on the chart's element (data-x-min-ms, data-x-max-ms), for people and tests. */
  const showTimeRange = (container) => (u, scaleKey) => {
    if (scaleKey !== 'x' || u.scales.x.min === null || u.scales.x.max === null) return;
    container.dataset.xMinMs = String(Math.round(u.scales.x.min * 1000));
    container.dataset.xMaxMs = String(Math.round(u.scales.x.max * 1000));
  };

  /** Draws (or updates) one uPlot chart; rebuilt when its series change. */
  function drawChart(id, seriesLabels, data, yLabel, note, opts = {}) {
    const container = $(id);
    const key = JSON.stringify(seriesLabels);
    const existing = charts[id];
    if (typeof uPlot !== 'function') {
      note('The chart library did not load.');
      return;
    }
    if (existing && existing.key === key) {
      existing.plot.setData(data);
      return;
    }
    if (existing) existing.plot.destroy();
    const config = {
      width: chartWidth(container),
      height: 220,
      scales: { x: { time: true, range: timeRange } },
      hooks: { setScale: [showTimeRange(container)] },
      axes: [{}, { label: yLabel, size: 60 }],
      series: [{}, ...seriesLabels.map((label, i) => ({
        label,
        stroke: PALETTE[i % PALETTE.length],
        width: 2,
        spanGaps: false,
        // sparse series (freshness: null in intervals without observations) show every point, or a lone one would not show
        ...(opts.points ? { points: { show: true, size: 6 } } : {}),
        value: (_u, v) => (v === null || v === undefined ? '—' : String(Math.round(v * 1000) / 1000)),
      }))],
    };
    charts[id] = { key, plot: new uPlot(config, data, container) };
  }

  function resizeCharts() {
    for (const [id, c] of Object.entries(charts)) c.plot.setSize({ width: chartWidth($(id)), height: 220 });
  }
  window.addEventListener('resize', resizeCharts);

  // ---------------------------------------------------------------- lag

  function renderLag(groups) {
    const tbody = $('lag-table').tBodies[0];
    if (groups.length === 0) {
      emptyRow(tbody, 8, 'No consumer group yet.');
      return;
    }
    tbody.replaceChildren(...groups.map((r) => {
      const status = el('td', null, statusBadge(r.status));
      return el('tr', { data: { group: r.group, topic: r.topic, partition: r.partition, status: r.status ?? 'none' } },
        td(r.group), td(r.topic), num(r.partition), num(r.committed), num(r.end), num(r.lag),
        num(r.lagSeconds === null ? null : Math.round(r.lagSeconds * 10) / 10), status);
    }));
  }

  let samples = [];
  let historyInterval = null;

  function mergeHistory(body) {
    historyInterval = body.intervalMs;
    const last = samples.length ? samples[samples.length - 1].atMs : -1;
    for (const s of body.samples) if (s.atMs > last) samples.push(s);
    const cutoff = Date.now() - HISTORY_KEEP_MS;
    while (samples.length && samples[0].atMs < cutoff) samples.shift();
  }

  const dur = (ms) => (ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`);

  function renderHistory() {
    const x = samples.map((s) => s.atMs / 1000);
    const groups = [...new Set(samples.flatMap((s) => s.groups.map((g) => g.group)))].sort();
    const lagNote = (t) => { $('lag-chart-note').textContent = t; };
    if (samples.length === 0) {
      lagNote(`Lag over time: the first sample comes within ${historyInterval ? dur(historyInterval) : 'a few seconds'} of the server starting.`);
    } else {
      lagNote(`Records waiting per group, one sample every ${dur(historyInterval)} (kept for an hour by the API process).`);
    }
    const lagData = [x, ...groups.map((g) => samples.map((s) => {
      const found = s.groups.find((sg) => sg.group === g);
      return found ? found.lag : null;
    }))];
    drawChart('lag-chart', groups, lagData, 'records waiting', lagNote);

    const fNote = (t) => { $('freshness-now').textContent = t; };
    const q = (kind, p) => samples.map((s) => s.freshness[kind][p]);
    drawChart('freshness-chart', ['pipeline p50', 'pipeline p99', 'probe p50', 'probe p99'],
      [x, q('pipeline', 'p50'), q('pipeline', 'p99'), q('probe', 'p50'), q('probe', 'p99')], 'seconds', fNote, { points: true });
    if (samples.length === 0) {
      fNote('Freshness over time: the first sample is on its way.');
      return;
    }
    // the last interval that measured something (an idle pipeline measures nothing)
    const describe = (name, kind) => {
      const s = samples.findLast((x) => x.freshness[kind].count > 0);
      if (!s) return `${name}: nothing measured by this process in the last hour`;
      const f = s.freshness[kind];
      return `${name}: p50 ${f.p50} s, p99 ${f.p99} s over ${f.count} observation${f.count === 1 ? '' : 's'} (interval ending ${time(s.atMs)})`;
    };
    fNote(`${describe('Pipeline (source write → searchable)', 'pipeline')} · ${describe('Probe', 'probe')}. `
      + 'Quantiles per interval, estimated from the histograms\' buckets in this process.');
  }

  // ---------------------------------------------------------------- DLQ

  const knownStages = new Set();
  let dlqEntries = [];
  let replaying = false;

  function syncStageOptions() {
    const select = $('dlq-stage');
    const have = new Set([...select.options].map((o) => o.value));
    for (const s of [...knownStages].sort()) {
      if (have.has(s)) continue;
      const o = document.createElement('option');
      o.value = s;
      o.textContent = s;
      select.append(o);
    }
  }

  function dlqMatches(e) {
    if ($('dlq-pending-only').checked && !e.pending) return false;
    const text = $('dlq-text').value.trim().toLowerCase();
    if (!text) return true;
    return [e.code, e.message, e.key, e.sourceTopic, e.stage, e.valuePreview].some((v) => v !== null && v !== undefined && String(v).toLowerCase().includes(text));
  }

  function renderDlq() {
    const tbody = $('dlq-table').tBodies[0];
    const stage = $('dlq-stage').value;
    const shown = dlqEntries.filter(dlqMatches);
    const pending = dlqEntries.filter((e) => e.pending).length;
    $('dlq-summary').textContent = `${dlqEntries.length} entr${dlqEntries.length === 1 ? 'y' : 'ies'}${stage ? ` of stage ${stage}` : ''} (the last ${DLQ_LIMIT} at most), ${pending} pending; ${shown.length} shown.`;
    const button = $('dlq-replay');
    button.disabled = pending === 0 || replaying;
    button.textContent = stage ? `Replay pending entries of stage ${stage}` : 'Replay pending entries (all stages)';
    if (shown.length === 0) {
      emptyRow(tbody, 10, dlqEntries.length ? 'No entry matches the filters.' : 'The dead-letter queue is empty.');
      return;
    }
    tbody.replaceChildren(...shown.slice().reverse().map((e) => {
      const value = el('td', { className: 'wrap' },
        el('code', null, e.valuePreview === null ? '(null)' : clip(e.valuePreview, 300)),
        el('span', { className: 'snippet' }, `${e.valueBytes} bytes`));
      const state = el('td', null, el('span', { className: `state ${e.pending ? 'status-warn' : 'status-none'}` }, e.pending ? 'pending' : 'replayed'));
      return el('tr', { data: { offset: e.offset, stage: e.stage, pending: e.pending } },
        num(e.offset), td(time(e.firstSeenMs)), td(e.stage), td(el('code', null, e.code)), td(e.message, 'wrap'),
        td(`${e.sourceTopic} / ${e.sourcePartition} / ${e.sourceOffset}`), num(e.attempts), td(e.key, 'wrap'), value, state);
    }));
  }

  async function replay() {
    const stage = $('dlq-stage').value;
    const pending = dlqEntries.filter((e) => e.pending).length;
    const what = stage ? `every pending entry of stage "${stage}"` : 'every pending entry of every stage';
    if (!window.confirm(`Replay ${what} (${pending} listed) to its source topic?`)) return;
    replaying = true;
    renderDlq();
    const result = $('dlq-result');
    result.className = 'muted';
    result.textContent = 'Replaying…';
    try {
      const r = await api('/v1/ops/dlq/replay', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(stage ? { stage } : {}),
      });
      result.textContent = `Replayed ${r.replayed}, skipped ${r.skipped} (source topic unknown).`;
    } catch (e) {
      if (isRefusal(e)) showRefused(e);
      result.className = 'error';
      result.textContent = `Replay failed (${e.status} ${e.code}): ${e.message}`;
    } finally {
      replaying = false;
    }
    await refresh();
  }

  // ---------------------------------------------------------------- fine-tuning

  function renderDatasets(datasets) {
    const tbody = $('datasets-table').tBodies[0];
    if (datasets.length === 0) {
      emptyRow(tbody, 9, 'No fine-tuning dataset is configured.');
      return;
    }
    tbody.replaceChildren(...datasets.map((d) => {
      const progress = el('progress');
      progress.max = Math.max(1, d.threshold);
      progress.value = Math.min(d.pending, progress.max);
      const w = d.lastWindow;
      return el('tr', { data: { dataset: d.name } },
        td(d.name), td(d.source), td(d.format),
        td(el('span', null, progress, ` ${d.pending} / ${d.threshold}`)), num(d.total),
        td(d.lastVersion ? el('code', null, d.lastVersion) : null), td(isoTime(d.lastLaunchAt)),
        td(w ? `${w.outcome} (${w.trigger}, ${isoTime(w.openedAt)})${w.message ? `: ${w.message}` : ''}` : null, 'wrap'),
        td(d.launcher));
    }));
  }

  const JOB_STATE_CLASS = { succeeded: 'status-ok', failed: 'status-stop', cancelled: 'status-none' };

  function renderJobs(jobs) {
    const tbody = $('jobs-table').tBodies[0];
    if (jobs.length === 0) {
      emptyRow(tbody, 9, 'No fine-tune job yet.');
      return;
    }
    tbody.replaceChildren(...jobs.map((j) => el('tr', { data: { job: j.id } },
      td(isoTime(j.createdAt)), td(j.dataset), td(el('code', null, j.datasetVersion)), num(j.items),
      td(el('span', { className: `state ${JOB_STATE_CLASS[j.state] ?? 'status-warn'}` }, j.state)),
      td(j.model), td(j.error, 'wrap'), num(j.attempts), td(j.trigger))));
  }

  // ---------------------------------------------------------------- traces

  const titles = new Map(); // docId → { title, at }

  async function loadTitles(traces) {
    const wanted = [...new Set(traces.flatMap((t) => t.sources.map((s) => s.docId)))]
      .filter((id) => { const t = titles.get(id); return !t || Date.now() - t.at > TITLE_TTL_MS; })
      .slice(0, 40);
    await Promise.all(wanted.map(async (id) => {
      try {
        const doc = await api(`/v1/content/${encodeURIComponent(id)}`);
        titles.set(id, { title: typeof doc.title === 'string' && doc.title ? doc.title : null, at: Date.now() });
      } catch (e) {
        titles.set(id, { title: null, missing: e.status === 404, at: Date.now() });
      }
    }));
  }

  function judgeCell(j) {
    if (!j) return td('not judged', 'empty');
    if (j.status !== 'judged' || !j.scores) return td(`judge failed: ${j.error ?? 'no reason given'}`, 'wrap');
    const names = [['groundedness', 'grounded'], ['answerRelevance', 'answer'], ['contextRelevance', 'context'], ['correctness', 'correct']];
    const scores = names.filter(([k]) => j.scores[k]).map(([k, label]) => el('span', { title: j.scores[k].reason }, `${label} ${j.scores[k].score}`));
    return el('td', { className: 'scores' }, ...scores, el('span', { className: 'snippet' }, `${j.origin}, ${j.model}`));
  }

  function renderTraces(traces) {
    const tbody = $('traces-table').tBodies[0];
    if (traces.length === 0) {
      emptyRow(tbody, 6, 'No RAG trace yet.');
      return;
    }
    tbody.replaceChildren(...traces.map((t) => {
      const sources = el('ul', { className: 'sources' }, ...t.sources.map((s) => {
        const known = titles.get(s.docId);
        const name = known && known.title ? known.title : (known && known.missing ? `${s.docId} (deleted)` : s.docId);
        return el('li', { data: { doc: s.docId } },
          el('span', { className: 'source-title', title: s.docId }, name),
          ` #${s.chunkIndex} · ${Math.round(s.score * 1000) / 1000}`,
          s.text ? el('span', { className: 'snippet' }, clip(s.text, 160)) : null);
      }));
      const answer = el('td', { className: 'wrap' }, el('span', { className: 'muted' }, `${t.answerMode}${t.cache && t.cache.hit ? ', cached' : ''}: `), clip(t.answer, 400));
      return el('tr', { data: { trace: t.traceId } },
        td(isoTime(t.at)), td(t.query, 'wrap'), answer, el('td', null, t.sources.length ? sources : '—'),
        judgeCell(t.judgement), num(Math.round(t.latencyMs.total)));
    }));
  }

  // ---------------------------------------------------------------- refresh

  let inFlight = null;
  let again = false;
  let timer = null;

  function refreshSeconds() {
    return Number($('refresh-every').value);
  }

  function schedule() {
    if (timer) window.clearTimeout(timer);
    timer = null;
    const s = refreshSeconds();
    if (s > 0) timer = window.setTimeout(() => { void refresh(); }, s * 1000);
  }

  /** Refreshes everything; called while a refresh runs, it runs once more right after (with the key and filters of now). */
  function refresh() {
    if (inFlight) {
      again = true;
      return inFlight;
    }
    inFlight = (async () => {
      do {
        again = false;
        try {
          await refreshOnce();
        } catch (e) {
          $('refresh-state').className = 'error';
          $('refresh-state').textContent = `The page failed to show what it read: ${e && e.message ? e.message : e}`;
        }
      } while (again);
    })().finally(() => {
      inFlight = null;
      schedule();
    });
    return inFlight;
  }

  async function refreshOnce() {
    const state = $('refresh-state');
    state.className = 'muted';
    state.textContent = 'Refreshing…';
    const stage = $('dlq-stage').value;
    const since = samples.length ? samples[samples.length - 1].atMs : null;
    const calls = {
      lag: api('/v1/ops/lag'),
      history: api(`/v1/ops/history${since === null ? '' : `?since=${since}`}`),
      dlq: api(`/v1/ops/dlq?limit=${DLQ_LIMIT}${stage ? `&stage=${encodeURIComponent(stage)}` : ''}`),
      datasets: api('/v1/finetune/datasets'),
      jobs: api('/v1/finetune/jobs?limit=50'),
      traces: api(`/v1/traces?limit=${TRACE_LIMIT}`),
    };
    const names = Object.keys(calls);
    const settled = await Promise.allSettled(Object.values(calls));
    const got = {};
    const failed = {};
    settled.forEach((r, i) => { if (r.status === 'fulfilled') got[names[i]] = r.value; else failed[names[i]] = r.reason; });

    const refusal = Object.values(failed).find(isRefusal);
    if (refusal) {
      showRefused(refusal);
      state.className = 'error';
      state.textContent = `Refused at ${time(Date.now())}`;
      return;
    }
    clearRefused();

    const report = (sectionId, ...keys) => {
      const e = keys.map((k) => failed[k]).find(Boolean);
      sectionError(sectionId, e ? `Could not load (${e.status ? `${e.status} ` : ''}${e.code}): ${e.message}` : null);
    };
    report('lag', 'lag', 'history');
    report('freshness', 'history');
    report('dlq', 'dlq');
    report('finetune', 'datasets', 'jobs');
    report('traces', 'traces');

    if (got.lag) renderLag(got.lag.groups);
    if (got.history) {
      mergeHistory(got.history);
      renderHistory();
    }
    if (got.dlq) {
      dlqEntries = got.dlq.entries;
      for (const e of dlqEntries) knownStages.add(e.stage);
      syncStageOptions();
      renderDlq();
    }
    if (got.datasets) renderDatasets(got.datasets.datasets);
    if (got.jobs) renderJobs(got.jobs.jobs);
    if (got.traces) {
      await loadTitles(got.traces.traces);
      renderTraces(got.traces.traces);
    }

    const problems = Object.keys(failed).length;
    state.className = problems ? 'error' : 'muted';
    const every = refreshSeconds();
    state.textContent = `Updated ${time(Date.now())}${problems ? ` (${problems} request${problems === 1 ? '' : 's'} failed)` : ''}`
      + (every > 0 ? ` · every ${every} s` : ' · paused');
  }

  // ---------------------------------------------------------------- controls

  $('key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('key-input');
    apiKey = input.value.trim();
    input.value = '';
    if (apiKey) sessionStorage.setItem(KEY_STORAGE, apiKey);
    else sessionStorage.removeItem(KEY_STORAGE);
    titles.clear();
    showKeyState();
    void refresh();
  });

  $('key-forget').addEventListener('click', () => {
    apiKey = '';
    sessionStorage.removeItem(KEY_STORAGE);
    showKeyState();
    void refresh();
  });

  const savedEvery = sessionStorage.getItem(REFRESH_STORAGE);
  if (savedEvery !== null && [...$('refresh-every').options].some((o) => o.value === savedEvery)) $('refresh-every').value = savedEvery;
  $('refresh-every').addEventListener('change', () => {
    sessionStorage.setItem(REFRESH_STORAGE, $('refresh-every').value);
    schedule();
  });
  $('refresh-now').addEventListener('click', () => { void refresh(); });

  $('dlq-stage').addEventListener('change', () => {
    $('dlq-result').textContent = '';
    void refresh();
  });
  $('dlq-pending-only').addEventListener('change', renderDlq);
  $('dlq-text').addEventListener('input', renderDlq);
  $('dlq-replay').addEventListener('click', () => { void replay(); });

  showKeyState();
  void refresh();
})();
