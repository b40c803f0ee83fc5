import { UsageError } from './errors.ts';
import { truncate } from './format.ts';
import { renderTable } from './table.ts';

/** DLQ entries as the CLI shows them (the server sends consumers/runtime/dlq.ts DlqEntry objects). */

export interface DlqRow {
  offset: number | null;
  firstSeenMs: number | null;
  stage: string;
  code: string;
  attempts: number | null;
  source: string;
  key: string | null;
  message: string;
  /** Not replayed yet (null when the server does not say). */
  pending: boolean | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function readDlqEntries(body: unknown): DlqRow[] {
  const list = Array.isArray(body) ? body
    : body && typeof body === 'object'
      ? ([(body as Record<string, unknown>)['entries'], (body as Record<string, unknown>)['records'], (body as Record<string, unknown>)['items']].find(Array.isArray) as unknown[] | undefined) ?? []
      : [];
  return list.map((raw) => {
    const o = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
    const topic = str(o['sourceTopic']);
    const source = topic ? `${topic}[${num(o['sourcePartition']) ?? '?'}]@${num(o['sourceOffset']) ?? '?'}` : '-';
    return {
      offset: num(o['offset']),
      firstSeenMs: num(o['firstSeenMs']) ?? num(o['timestamp']),
      stage: str(o['stage']) ?? '-',
      code: str(o['code']) ?? '-',
      attempts: num(o['attempts']),
      source,
      key: str(o['key']) ?? null,
      message: str(o['message']) ?? '',
      pending: typeof o['pending'] === 'boolean' ? o['pending'] : null,
    };
  });
}

export function renderDlq(rows: DlqRow[], maxWidth?: number): string {
  return renderTable(
    [
      { header: 'OFFSET', align: 'right' }, { header: 'FIRST SEEN' }, { header: 'STAGE' }, { header: 'CODE' }, { header: 'TRIES', align: 'right' },
      { header: 'SOURCE' }, { header: 'KEY' }, { header: 'PENDING' }, { header: 'MESSAGE', flex: true },
    ],
    rows.map((r) => [
      r.offset === null ? '-' : String(r.offset),
      r.firstSeenMs === null ? '-' : new Date(r.firstSeenMs).toISOString().replace('T', ' ').slice(0, 19),
      r.stage, r.code, r.attempts === null ? '-' : String(r.attempts), r.source, r.key ? truncate(r.key, 38) : '-',
      r.pending === null ? '-' : r.pending ? 'yes' : 'replayed', truncate(r.message, 200),
    ]),
    maxWidth !== undefined ? { maxWidth } : {},
  );
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * `--since` as epoch milliseconds: an ISO date/time, epoch milliseconds, or a duration back from
 * now ("30m", "2h", "7d").
 */
export function parseSince(value: string, now = Date.now()): number {
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const rel = /^(\d+)\s*([smhdw])$/i.exec(v);
  if (rel) return now - Number(rel[1]) * UNITS[rel[2]!.toLowerCase()]!;
  const at = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(at)) {
    throw new UsageError(`--since must be an ISO date/time (2025-01-31T12:00:00Z), epoch milliseconds, or a duration like 30m, 2h, 7d (got "${value}")`);
  }
  return at;
}
