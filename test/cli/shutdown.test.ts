import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { onShutdownSignals, signalExitCode } from '../../cli/shutdown.ts';

describe('onShutdownSignals', () => {
  function setup() {
    const proc = new EventEmitter();
    const calls: string[] = [];
    let t = 0;
    const dispose = onShutdownSignals(proc as never, { stop: (s) => calls.push(`stop ${s}`), force: (s) => calls.push(`force ${s}`) }, { now: () => t, duplicateWindowMs: 500 });
    return { proc, calls, dispose, at: (ms: number) => { t = ms; } };
  }

  it('stops on the first signal and forces on a second one', () => {
    const { proc, calls, at } = setup();
    proc.emit('SIGTERM', 'SIGTERM');
    at(2000);
    proc.emit('SIGINT', 'SIGINT');
    proc.emit('SIGINT', 'SIGINT');
    expect(calls).toEqual(['stop SIGTERM', 'force SIGINT']);
  });

  it('treats a repeat within the window as the same Ctrl-C (npm forwards it too)', () => {
    const { proc, calls, at } = setup();
    proc.emit('SIGINT', 'SIGINT');
    at(20);
    proc.emit('SIGINT', 'SIGINT');
    expect(calls).toEqual(['stop SIGINT']);
  });

  it('removes its listeners when disposed', () => {
    const { proc, dispose } = setup();
    expect(proc.listenerCount('SIGINT')).toBe(1);
    dispose();
    expect(proc.listenerCount('SIGINT')).toBe(0);
    expect(proc.listenerCount('SIGTERM')).toBe(0);
  });

  it('maps signals to conventional exit codes', () => {
    expect(signalExitCode('SIGINT')).toBe(130);
    expect(signalExitCode('SIGTERM')).toBe(143);
  });
});
