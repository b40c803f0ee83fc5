import { renderTable, type Column } from './table.ts';
import type { Style } from './format.ts';

/**
 * GET /v1/ops/lag as rows: one per group, topic and partition. The reader walks the response
 * (arrays of groups/topics/partitions, or maps keyed by their names) and takes the group and topic
 * from the enclosing objects, so nested and flat shapes both work.
 */

export interface LagRow {
  group: string;
  topic: string;
  partition: number;
  committed: number | null;
  end: number | null;
  lag: number | null;
  lagSeconds: number | null;
  status: string | null;
}

type Ctx = { group?: string; topic?: string; status?: string };

const num = (...vs: unknown[]): number | null => {
  for (const v of vs) if (typeof v === 'number' && Number.isFinite(v)) return v;
  return null;
};
const str = (...vs: unknown[]): string | undefined => {
  for (const v of vs) if (typeof v === 'string' && v !== '') return v;
  return undefined;
};

export function normalizeLag(body: unknown): LagRow[] {
  const rows: LagRow[] = [];
  /** `named`: the object is a group or topic (its status applies to partitions that carry none). */
  const walk = (node: unknown, ctx: Ctx, named: boolean): void => {
    if (Array.isArray(node)) { for (const n of node) walk(n, ctx, false); return; }
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    const group = str(o['group'], o['groupId'], o['consumerGroup']);
    const topic = str(o['topic']);
    const here: Ctx = { group: group ?? ctx.group, topic: topic ?? ctx.topic, status: ctx.status };
    const partition = num(o['partition']);
    if (partition !== null) {
      const committed = num(o['committed'], o['committedOffset'], o['offset'], o['consumerOffset']);
      const end = num(o['end'], o['highWatermark'], o['logEndOffset'], o['endOffset']);
      const lagMs = num(o['lagMs'], o['lagMillis']);
      rows.push({
        group: here.group ?? '-',
        topic: here.topic ?? '-',
        partition,
        committed,
        end,
        lag: num(o['lag'], o['lagRecords'], o['lagOffsets']) ?? (committed !== null && end !== null ? Math.max(0, end - committed) : null),
        lagSeconds: num(o['lagSeconds'], o['secondsBehind']) ?? (lagMs !== null ? lagMs / 1000 : null),
        status: str(o['status'], o['state']) ?? here.status ?? null,
      });
      return;
    }
    if (named || group !== undefined || topic !== undefined) here.status = str(o['status'], o['state']) ?? ctx.status;
    for (const [k, v] of Object.entries(o)) {
      if (!v || typeof v !== 'object') continue;
      const role = k === 'groups' ? 'group' : k === 'topics' ? 'topic' : k === 'partitions' ? 'partition' : null;
      if (role === null || Array.isArray(v)) { walk(v, here, false); continue; }
      // a map keyed by name: { groups: { clean: { topics: { t: { partitions: { "0": {...} } } } } } }
      for (const [name, child] of Object.entries(v)) {
        if (!child || typeof child !== 'object') continue;
        if (role === 'partition') {
          const p = Number(name);
          walk(Number.isInteger(p) && num((child as Record<string, unknown>)['partition']) === null ? { ...child, partition: p } : child, here, false);
        } else {
          walk(child, { ...here, [role]: name }, true);
        }
      }
    }
  };
  walk(body, {}, false);
  return rows.sort((a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic) || a.partition - b.partition);
}

const STATUS_RANK: Record<string, number> = { OK: 0, WARN: 1, REWIND: 2, STALL: 3, STOP: 4, ERR: 5 };

/** The worst status among rows (Burrow's order: OK < WARN < REWIND < STALL < STOP). */
export function worstStatus(rows: LagRow[]): string | null {
  let worst: string | null = null;
  for (const r of rows) {
    if (!r.status) continue;
    if (worst === null || (STATUS_RANK[r.status.toUpperCase()] ?? 1) > (STATUS_RANK[worst.toUpperCase()] ?? 1)) worst = r.status;
  }
  return worst;
}

export function colorStatus(status: string | null, style: Style): string {
  if (!status) return '-';
  const s = status.toUpperCase();
  return s === 'OK' ? style.green(status) : s === 'WARN' ? style.yellow(status) : style.red(status);
}

const rowKey = (r: LagRow) => `${r.group}\u0000${r.topic}\u0000${r.partition}`;

/**
 * The lag table. With `previous` (the rows of the last refresh, `--watch`), each LAG cell that moved
 * shows by how much: red ↑ when the group fell further behind, green ↓ when it caught up.
 */
export function renderLag(rows: LagRow[], style: Style, maxWidth?: number, options: { previous?: LagRow[] } = {}): string {
  if (rows.length === 0) return 'No consumer groups yet (nothing has been consumed).\n';
  const fmt = (n: number | null) => (n === null ? '-' : String(n));
  const before = new Map((options.previous ?? []).map((r) => [rowKey(r), r.lag]));
  const lagCell = (r: LagRow): string => {
    const was = before.get(rowKey(r));
    if (r.lag === null || was === undefined || was === null || was === r.lag) return fmt(r.lag);
    const d = r.lag - was;
    return `${r.lag} ${d > 0 ? style.red(`↑${d}`) : style.green(`↓${-d}`)}`;
  };
  const secs = (n: number | null) => (n === null ? '-' : n < 10 ? n.toFixed(2) : n.toFixed(0));
  // seconds and status columns only when the server reports them
  const withSeconds = rows.some((r) => r.lagSeconds !== null);
  const withStatus = rows.some((r) => r.status !== null);
  const columns: Column[] = [
    { header: 'GROUP' }, { header: 'TOPIC', flex: true }, { header: 'PART', align: 'right' }, { header: 'COMMITTED', align: 'right' },
    { header: 'END', align: 'right' }, { header: 'LAG', align: 'right' },
    ...(withSeconds ? [{ header: 'BEHIND (s)', align: 'right' } as const] : []),
    ...(withStatus ? [{ header: 'STATUS' }] : []),
  ];
  const table = renderTable(
    columns,
    rows.map((r) => [
      r.group, r.topic, String(r.partition), fmt(r.committed), fmt(r.end), lagCell(r),
      ...(withSeconds ? [secs(r.lagSeconds)] : []),
      ...(withStatus ? [colorStatus(r.status, style)] : []),
    ]),
    maxWidth !== undefined ? { maxWidth } : {},
  );
  const total = rows.reduce((a, r) => a + (r.lag ?? 0), 0);
  const worst = worstStatus(rows);
  const parts = [`total lag ${total} record${total === 1 ? '' : 's'} across ${rows.length} partition${rows.length === 1 ? '' : 's'}`];
  if (withSeconds) parts.push(`at most ${secs(Math.max(0, ...rows.map((r) => r.lagSeconds ?? 0)))} s behind`);
  if (worst) parts.push(`worst status ${colorStatus(worst, style)}`);
  const footer = parts.join('; ');
  return table + '\n' + footer + '\n';
}
