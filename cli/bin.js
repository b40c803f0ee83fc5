#!/usr/bin/env node
// The `tributary` command: re-runs cli/main.ts with this same node (Node 24 runs TypeScript
// directly), forwarding arguments, stdio, signals and the exit status.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(`tributary needs Node.js 24 or newer (this is ${process.version}): it runs its TypeScript sources directly.`);
  process.exit(1);
}

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const child = spawn(process.execPath, [...process.execArgv, main, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, TRIBUTARY_INVOKED_AS: process.env.TRIBUTARY_INVOKED_AS ?? 'tributary' },
});

// Forward signals sent to this process only (a terminal's Ctrl-C reaches both; the child treats
// a repeat within half a second as the same signal).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
}

child.on('error', (err) => {
  console.error(`tributary: could not start ${process.execPath}: ${err.message}`);
  process.exit(1);
});

child.on('exit', (code, signal) => {
  if (signal) {
    const numbers = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
    process.exit(128 + (numbers[signal] ?? 1));
  }
  process.exit(code ?? 1);
});
