import { visibleWidth } from './format.ts';

export interface Column {
  header: string;
  align?: 'left' | 'right';
  /** This column shrinks (with "…") when the table is wider than `maxWidth`. At most one. */
  flex?: boolean;
}

/**
 * Renders a plain-text table: a header row, then one row per entry, columns separated by two
 * spaces, numbers right-aligned where asked. Trailing spaces are trimmed.
 */
export function renderTable(columns: Column[], rows: string[][], options: { maxWidth?: number } = {}): string {
  const widths = columns.map((c, i) => Math.max(visibleWidth(c.header), ...rows.map((r) => visibleWidth(r[i] ?? ''))));
  const gap = 2;
  const flexIndex = columns.findIndex((c) => c.flex);
  if (options.maxWidth !== undefined && flexIndex !== -1) {
    const total = widths.reduce((a, b) => a + b, 0) + gap * (columns.length - 1);
    const over = total - options.maxWidth;
    if (over > 0) widths[flexIndex] = Math.max(visibleWidth(columns[flexIndex]!.header), 8, widths[flexIndex]! - over);
  }
  const cell = (text: string, i: number): string => {
    const w = widths[i]!;
    let t = text;
    if (visibleWidth(t) > w) t = [...t].slice(0, Math.max(0, w - 1)).join('') + '…';
    const pad = ' '.repeat(Math.max(0, w - visibleWidth(t)));
    return columns[i]!.align === 'right' ? pad + t : t + pad;
  };
  const line = (cells: string[]) => columns.map((_, i) => cell(cells[i] ?? '', i)).join(' '.repeat(gap)).trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)].join('\n') + '\n';
}
