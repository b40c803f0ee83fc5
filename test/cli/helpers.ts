import type { Output } from '../../cli/command.ts';
import { main, type MainIo } from '../../cli/main.ts';

/** A writable that keeps what was written (not a TTY unless asked). */
export class Capture implements Output {
  text = '';
  isTTY: boolean;
  columns: number | undefined;
  constructor(opts: { tty?: boolean; columns?: number } = {}) {
    this.isTTY = opts.tty ?? false;
    this.columns = opts.columns;
  }
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

/** Runs the CLI in-process, as `tributary <argv...>` would, and returns the exit code and output. */
export async function runCli(argv: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; signal?: AbortSignal } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: MainIo = {
    stdout, stderr,
    env: { NO_COLOR: '1', ...options.env },
    cwd: options.cwd ?? process.cwd(),
    invokedAs: 'tributary',
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const code = await main(argv, io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}
