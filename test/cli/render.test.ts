import { describe, expect, it } from 'vitest';
import { parseSince, readDlqEntries, renderDlq } from '../../cli/dlq-table.ts';
import { formatBytes, formatDuration, formatRate, styleFor, truncate, visibleWidth } from '../../cli/format.ts';
import { readHits, snippet, summarizeSteps } from '../../cli/hits.ts';
import { normalizeLag, renderLag, worstStatus } from '../../cli/lag-table.ts';
import { ProgressBar, renderProgressLine } from '../../cli/progress.ts';
import { renderTable } from '../../cli/table.ts';
import { Capture } from './helpers.ts';

const plain = styleFor({ isTTY: false });

describe('renderTable', () => {
  it('pads columns, right-aligns numbers and trims trailing spaces', () => {
    const out = renderTable([{ header: 'NAME' }, { header: 'N', align: 'right' }], [['clean', '5'], ['embed', '120']]);
    expect(out).toBe(['NAME     N', 'clean    5', 'embed  120', ''].join('\n'));
  });

  it('shrinks the flexible column to fit, with an ellipsis', () => {
    const out = renderTable([{ header: 'ID' }, { header: 'MESSAGE', flex: true }], [['1', 'a long message that does not fit in the width']], { maxWidth: 20 });
    for (const line of out.trimEnd().split('\n')) expect(visibleWidth(line)).toBeLessThanOrEqual(20);
    expect(out).toContain('…');
  });

  it('measures styled cells by their visible width', () => {
    const red = styleFor({ isTTY: true }, {}).red('OK');
    const out = renderTable([{ header: 'STATUS' }, { header: 'X' }], [[red, 'y']]);
    expect(visibleWidth(out.split('\n')[1]!)).toBe('STATUS  y'.length);
  });
});

describe('lag', () => {
  const api = { groups: [
    { group: 'embed', topic: 'tributary.content.cleaned', partition: 0, committed: 5, end: 9, lag: 4 },
    { group: 'clean', topic: 'tributary.cdc.tributary.documents', partition: 1, committed: 7, end: 7, lag: 0 },
    { group: 'clean', topic: 'tributary.cdc.tributary.documents', partition: 0, committed: 10, end: 12, lag: 2 },
  ] };

  it('reads the API shape, sorted by group, topic, partition', () => {
    const rows = normalizeLag(api);
    expect(rows.map((r) => `${r.group}/${r.partition}:${r.lag}`)).toEqual(['clean/0:2', 'clean/1:0', 'embed/0:4']);
    expect(rows[0]).toMatchObject({ committed: 10, end: 12, lagSeconds: null, status: null });
  });

  it('reads nested shapes keyed by name, inheriting group/topic and status, computing lag', () => {
    const rows = normalizeLag({ groups: { clean: { status: 'WARN', topics: { t1: { partitions: { 0: { committed: 1, end: 4, lagMs: 1500 }, 1: { committed: 2, end: 2, status: 'OK' } } } } } } });
    expect(rows).toEqual([
      { group: 'clean', topic: 't1', partition: 0, committed: 1, end: 4, lag: 3, lagSeconds: 1.5, status: 'WARN' },
      { group: 'clean', topic: 't1', partition: 1, committed: 2, end: 2, lag: 0, lagSeconds: null, status: 'OK' },
    ]);
    expect(worstStatus(rows)).toBe('WARN');
    expect(worstStatus([...rows, { ...rows[0]!, status: 'STALL' }])).toBe('STALL');
  });

  it('renders a table with a total, leaving out columns the server does not report', () => {
    const out = renderLag(normalizeLag(api), plain);
    const [header, first] = out.split('\n');
    expect(header).toMatch(/^GROUP\s+TOPIC\s+PART\s+COMMITTED\s+END\s+LAG$/);
    expect(first).toMatch(/^clean\s+tributary\.cdc\.tributary\.documents\s+0\s+10\s+12\s+2$/);
    expect(out).toContain('total lag 6 records across 3 partitions');
    expect(out).not.toContain('STATUS');
    expect(renderLag([], plain)).toMatch(/No consumer groups yet/);
  });
});

describe('dlq', () => {
  const body = { entries: [{ offset: 3, partition: 0, stage: 'embed', code: 'EMBEDDER_REJECTED', message: 'input too long', sourceTopic: 'tributary.content.cleaned', sourcePartition: 2, sourceOffset: 41, attempts: 5, firstSeenMs: Date.UTC(2025, 0, 31, 12, 0, 0), key: 'doc-1', valuePreview: '{}', valueBytes: 2, pending: true }] };

  it('reads entries and renders where they came from and why they failed', () => {
    const rows = readDlqEntries(body);
    expect(rows[0]).toMatchObject({ stage: 'embed', source: 'tributary.content.cleaned[2]@41', attempts: 5, pending: true });
    const out = renderDlq(rows);
    expect(out).toMatch(/OFFSET\s+FIRST SEEN\s+STAGE\s+CODE\s+TRIES\s+SOURCE\s+KEY\s+PENDING\s+MESSAGE/);
    expect(out).toMatch(/3\s+2025-01-31 12:00:00\s+embed\s+EMBEDDER_REJECTED\s+5\s+tributary\.content\.cleaned\[2\]@41\s+doc-1\s+yes\s+input too long/);
  });

  it('parses --since as ISO, epoch ms or a duration back from now', () => {
    const now = Date.UTC(2025, 5, 1);
    expect(parseSince('2025-01-31T12:00:00Z', now)).toBe(Date.UTC(2025, 0, 31, 12));
    expect(parseSince('1750000000000', now)).toBe(1_750_000_000_000);
    expect(parseSince('30m', now)).toBe(now - 30 * 60_000);
    expect(parseSince('2h', now)).toBe(now - 2 * 3_600_000);
    expect(parseSince('7d', now)).toBe(now - 7 * 86_400_000);
    expect(() => parseSince('yesterday', now)).toThrow(/--since must be an ISO date/);
  });
});

describe('hits and steps', () => {
  it('reads hits from the search API and sources from the RAG API', () => {
    const [hit] = readHits({ hits: [{ docId: 'd1', chunkIndex: 2, score: 0.5, text: 't', category: 'post', author: 'A', title: null, url: null }] });
    expect(hit).toEqual({ score: 0.5, docId: 'd1', chunkIndex: 2, title: undefined, text: 't', author: 'A', category: 'post', url: undefined });
    expect(readHits([{ payload: { doc_id: 'd2', title: 'T' }, score: 1 }])[0]).toMatchObject({ docId: 'd2', title: 'T', score: 1 });
    expect(readHits({ other: 1 })).toEqual([]);
  });

  it('shows the part of a hit around the first query word', () => {
    const text = `${'intro words '.repeat(30)}OPENAI_API_KEY=[SECRET] JUDGE_MODEL=gpt`;
    const s = snippet(text, 'openai api key', 60);
    expect(s.startsWith('…')).toBe(true);
    expect(s).toContain('OPENAI_API_KEY=[SECRET]');
    expect(snippet('short text about lag', 'lag', 60)).toBe('short text about lag');
    expect(snippet(text, 'absent', 20)).toBe('intro words intro w…');
  });

  it('summarises the RAG steps', () => {
    const steps = { selfQuery: { status: 'applied' }, expansion: { status: 'skipped', reason: 'no LLM' }, search: { variants: 1, candidates: 20 }, llm: { model: 'qwen' } };
    expect(summarizeSteps(steps)).toBe('selfQuery ✓ · expansion – (no LLM) · search ✓ (1 variant, 20 candidates) · llm ✓ (qwen)');
    expect(summarizeSteps(undefined)).toBeNull();
  });
});

describe('format and progress', () => {
  it('formats sizes, durations and rates', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(50 * 1024 * 1024)).toBe('50 MB');
    expect(formatDuration(250)).toBe('250 ms');
    expect(formatDuration(2500)).toBe('2.5 s');
    expect(formatDuration(125_000)).toBe('2m05s');
    expect(formatRate(300, 1000, 'docs')).toBe('300 docs/s');
    expect(truncate('a  b\nc', 10)).toBe('a b c');
    expect(truncate('abcdefghij', 5)).toBe('abcd…');
  });

  it('renders the progress line with percentage, counts, rate and eta', () => {
    const line = renderProgressLine({ done: 50, total: 200, bytes: 2048, failed: 1, elapsedMs: 1000 }, 100);
    expect(line).toMatch(/^\[█+░+\] {2}25% {2}50\/200 docs {2}2\.0 KB {2}50\.0 docs\/s {2}1 failed {2}eta 3\.0 s$/);
    expect(renderProgressLine({ done: 0, total: 0, bytes: 0, failed: 0, elapsedMs: 0 }, 80)).toMatch(/100%/);
  });

  it('draws in place with \\r on a TTY and stays silent otherwise', () => {
    const tty = new Capture({ tty: true, columns: 100 });
    let t = 0;
    const bar = new ProgressBar({ total: 10, stream: tty, now: () => t, minIntervalMs: 0 });
    t = 500; bar.update({ done: 5, bytes: 10 });
    t = 1000; bar.update({ done: 10, bytes: 20 });
    bar.finish();
    expect(tty.text.startsWith('\r[')).toBe(true);
    expect(tty.text).toContain('100%');
    expect(tty.text.endsWith('\r')).toBe(true);

    const pipe = new Capture();
    const quiet = new ProgressBar({ total: 10, stream: pipe });
    quiet.update({ done: 10, bytes: 1 });
    quiet.finish();
    expect(pipe.text).toBe('');
  });
});
