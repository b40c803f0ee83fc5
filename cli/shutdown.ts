/**
 * Signal handling for long-running commands: the first SIGINT/SIGTERM starts a graceful stop, a
 * second one forces the exit. A repeat within `duplicateWindowMs` counts as the same signal: with
 * `npm start`, Ctrl-C reaches the process twice at once (from the terminal, and forwarded by npm).
 */

export interface SignalSource {
  on(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface ShutdownHandlers {
  /** First signal: stop accepting work, drain, then exit. */
  stop(signal: NodeJS.Signals): void;
  /** Second signal: exit now. */
  force(signal: NodeJS.Signals): void;
}

export function onShutdownSignals(
  source: SignalSource,
  handlers: ShutdownHandlers,
  options: { signals?: NodeJS.Signals[]; duplicateWindowMs?: number; now?: () => number } = {},
): () => void {
  const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
  const window = options.duplicateWindowMs ?? 500;
  const now = options.now ?? (() => performance.now());
  let firstAt: number | null = null;
  let forced = false;
  const listener = (signal: NodeJS.Signals) => {
    const t = now();
    if (firstAt === null) {
      firstAt = t;
      handlers.stop(signal);
    } else if (!forced && t - firstAt >= window) {
      forced = true;
      handlers.force(signal);
    }
  };
  for (const s of signals) source.on(s, listener);
  return () => { for (const s of signals) source.off(s, listener); };
}

/** Conventional exit status for death by signal: 128 + signal number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : signal === 'SIGHUP' ? 129 : 1;
}
