import type { ChildProcess } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A server the test setup runs as a child process on a data directory of its own (the Kafka
 * broker, FerretDB): what every such server does the same way — stop gracefully, kill -9, start
 * again on the same data, and remove its directory when done. A subclass says how to launch it.
 */
export abstract class ServerProcess {
  abstract readonly dataDir: string;
  protected child: ChildProcess | null = null;
  protected exited: Promise<void> = Promise.resolve();
  /** How long stop() waits after SIGTERM before SIGKILL. */
  protected abstract readonly stopTimeoutMs: number;

  /** Starts the process on the existing data directory and waits until it serves. */
  protected abstract launch(): Promise<void>;

  get running(): boolean { return this.child !== null && this.child.exitCode === null && this.child.signalCode === null; }

  /** Records a freshly spawned process. */
  protected track(child: ChildProcess): void {
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', () => r()));
  }

  /** SIGTERM (a controlled shutdown), SIGKILL after `timeoutMs`. Data is kept. */
  async stop(timeoutMs = this.stopTimeoutMs): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** kill -9: no chance to flush or shut down cleanly. Data is kept. */
  async kill(): Promise<void> {
    if (!this.child || !this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Starts a stopped server again: same ports, same data. */
  async restart(): Promise<void> {
    if (this.running) return;
    await this.launch();
  }

  async destroy(): Promise<void> {
    await this.stop(10_000).catch(() => undefined);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * Publishes a fetched-and-staged cache directory: writes nothing itself, marks it complete (the
 * `marker` file must already be in `staging`), and moves it into place in one rename — unless
 * another process published `dir` first, in which case the staging copy is dropped.
 */
export function publishStagedDir(staging: string, dir: string, marker: string): void {
  if (existsSync(join(dir, marker))) {
    rmSync(staging, { recursive: true, force: true }); // another process won the race
    return;
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
}
