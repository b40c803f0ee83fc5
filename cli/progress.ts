import { formatBytes, formatDuration, formatRate } from './format.ts';

export interface ProgressState {
  done: number;
  total: number;
  bytes: number;
  failed: number;
  elapsedMs: number;
}

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): boolean;
}

/**
 * A one-line progress bar redrawn in place with "\r" on a terminal (stderr). Off when the stream
 * is not a TTY, so logs and pipes stay clean; the caller prints a summary either way.
 */
export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly enabled: boolean;
  private readonly now: () => number;
  private readonly minIntervalMs: number;
  private readonly unit: string;
  private readonly showBytes: boolean;
  private readonly started: number;
  private lastRender = -Infinity;
  private lastWidth = 0;
  private state: ProgressState;

  constructor(options: { total: number; stream: ProgressStream; unit?: string; showBytes?: boolean; enabled?: boolean; now?: () => number; minIntervalMs?: number }) {
    this.stream = options.stream;
    this.enabled = options.enabled ?? options.stream.isTTY === true;
    this.now = options.now ?? (() => performance.now());
    this.minIntervalMs = options.minIntervalMs ?? 80;
    this.unit = options.unit ?? 'docs';
    this.showBytes = options.showBytes ?? true;
    this.started = this.now();
    this.state = { done: 0, total: options.total, bytes: 0, failed: 0, elapsedMs: 0 };
  }

  update(progress: { done: number; bytes: number; failed?: number }): void {
    this.state = { ...this.state, done: progress.done, bytes: progress.bytes, failed: progress.failed ?? this.state.failed, elapsedMs: this.now() - this.started };
    this.render(false);
  }

  /** Prints a message above the bar (the bar is redrawn under it). */
  log(message: string): void {
    if (!this.enabled) { this.stream.write(message + '\n'); return; }
    this.clear();
    this.stream.write(message + '\n');
    this.render(true);
  }

  /** Removes the bar from the terminal. */
  finish(): void {
    if (this.enabled) this.clear();
  }

  private clear(): void {
    if (this.lastWidth > 0) this.stream.write('\r' + ' '.repeat(this.lastWidth) + '\r');
    this.lastWidth = 0;
  }

  private render(force: boolean): void {
    if (!this.enabled) return;
    const t = this.now();
    if (!force && t - this.lastRender < this.minIntervalMs && this.state.done < this.state.total) return;
    this.lastRender = t;
    const line = renderProgressLine(this.state, Math.max(40, (this.stream.columns ?? 80) - 1), this.unit, this.showBytes);
    const pad = Math.max(0, this.lastWidth - line.length);
    this.stream.write('\r' + line + ' '.repeat(pad));
    this.lastWidth = line.length;
  }
}

/** The bar's text for a given state and width (pure, for tests). */
export function renderProgressLine(s: ProgressState, width: number, unit = 'docs', showBytes = true): string {
  const ratio = s.total > 0 ? Math.min(1, s.done / s.total) : 1;
  const pct = `${String(Math.floor(ratio * 100)).padStart(3)}%`;
  const parts = [`${s.done}/${s.total} ${unit}`, ...(showBytes ? [formatBytes(s.bytes)] : []), formatRate(s.done, s.elapsedMs, unit)];
  if (s.failed > 0) parts.push(`${s.failed} failed`);
  if (s.done > 0 && s.done < s.total && s.elapsedMs > 0) parts.push(`eta ${formatDuration(((s.total - s.done) * s.elapsedMs) / s.done)}`);
  const info = parts.join('  ');
  const barWidth = Math.max(10, Math.min(30, width - info.length - pct.length - 5));
  const filled = Math.round(ratio * barWidth);
  return `[${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}] ${pct}  ${info}`.slice(0, width);
}
