import { resolve } from 'node:path';
import { findTributaryError } from '../../ports/errors.ts';
import { ENV_NAMES, loadConfig } from '../../wiring/config.ts';
import { ApiPaths } from '../api-paths.ts';
import type { ParsedArgs } from '../args.ts';
import type { Command, CommandContext } from '../command.ts';
import { CliError, ExitCodes } from '../errors.ts';
import { styleFor, type Style } from '../format.ts';
import { onShutdownSignals, signalExitCode } from '../shutdown.ts';

/** How long a graceful stop may take before the process exits anyway. */
export const SHUTDOWN_TIMEOUT_MS = 30_000;

export const dev: Command = {
  handlesSignals: true,
  spec: {
    name: 'dev',
    summary: 'run everything in one process: API, consumers, embedded storage (npm start)',
    usage: '',
    description: [
      'Starts Tributary on this machine: the document store, event log and vector index in SQLite under',
      'the data directory, the clean and embed consumers, and the HTTP API. Configuration comes from the',
      'environment (see wiring/config.ts); the options below override it.',
      '',
      'Ctrl-C (or SIGTERM) stops gracefully: the API stops accepting requests, consumers finish and',
      'commit their in-flight batches, storage is closed. A second Ctrl-C exits at once.',
    ].join('\n'),
    options: {
      port: { type: 'string', short: 'p', value: 'port', description: 'HTTP port (PORT)', defaultText: '8080' },
      host: { type: 'string', value: 'host', description: 'interface to listen on (HOST)', defaultText: '127.0.0.1' },
      'data-dir': { type: 'string', short: 'd', value: 'dir', description: 'where the SQLite files live (TRIBUTARY_DATA_DIR)', defaultText: './data' },
    },
    positionals: { min: 0, max: 0 },
    examples: ['npm start', 'tributary dev --port 9000 --data-dir /tmp/tributary', 'TRIBUTARY_LLM_BASE_URL=http://localhost:8000/v1 TRIBUTARY_LLM_MODEL=qwen tributary dev'],
    env: [
      ['PORT, HOST', 'where the API listens'],
      ['TRIBUTARY_DATA_DIR', 'data directory'],
      ['TRIBUTARY_EMBEDDER', 'auto | hashing | openai | onnx'],
      ['TRIBUTARY_LLM_BASE_URL', 'OpenAI-compatible LLM endpoint (none: extractive answers)'],
      ['TRIBUTARY_CONFIG_FILE', 'JSON file with the same settings'],
    ],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const overrides: Record<string, string> = {};
    const port = args.string('port');
    const host = args.string('host');
    const dataDir = args.string('data-dir');
    if (port !== undefined) overrides['port'] = port;
    if (host !== undefined) overrides['host'] = host;
    if (dataDir !== undefined) overrides['dataDir'] = dataDir;

    let config: ReturnType<typeof loadConfig>;
    try {
      config = loadConfig(ctx.env, overrides);
    } catch (e) {
      throw configError(e);
    }

    const { createSystem } = await import('../../wiring/system.ts');
    const { startServer } = await import('../../api/server.ts');
    let system: Awaited<ReturnType<typeof createSystem>>;
    try {
      system = await createSystem(config);
    } catch (e) {
      throw startupError(e, config);
    }
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      await system.start();
      server = await startServer(system);
    } catch (e) {
      await system.close().catch(() => undefined);
      throw startupError(e, config);
    }

    ctx.stdout.write(renderBanner({
      url: server.url,
      dataDir: resolve(config.dataDir),
      embedder: `${system.embedder.id} (${system.embedder.capabilities.dimension} dimensions) — ${system.models.embedder.source}`,
      llm: system.models.llm.id === null ? null : `${system.models.llm.id} — ${system.models.llm.source}${system.models.llm.local
        ? ` (${system.models.llm.local.gpu}, ${system.models.llm.local.threads} threads, ${system.models.llm.local.contextTokens}-token context, loaded in ${system.models.llm.local.loadMs} ms)` : ''}`,
      mode: config.mode,
      index: config.qdrantUrl ? `qdrant ${config.qdrantUrl} (collection ${config.qdrantCollection}; embedding cache read back from it)` : 'embedded (SQLite in the data directory)',
      log: config.mode === 'kafka' ? `kafka ${config.kafkaBrokers}` : 'embedded (SQLite in the data directory)',
      finetune: system.consumers.some((c) => c.name === 'finetune-trigger')
        ? config.finetuneDatasets.map((d) => `${d.name} (${d.source} → ${d.format}, every ${d.threshold} new, ${d.launcher.type})`).join('; ')
        : null,
      invokedAs: ctx.invokedAs,
    }, styleFor(ctx.stdout, ctx.env)));

    const err = styleFor(ctx.stderr, ctx.env);
    return new Promise<number>((done) => {
      const dispose = onShutdownSignals(process, {
        stop: (signal) => {
          ctx.stderr.write(`\n${err.yellow(signal)}: stopping — the API stops accepting requests, consumers finish their batches (Ctrl-C again to force)\n`);
          const deadline = setTimeout(() => {
            ctx.stderr.write(err.red(`still stopping after ${SHUTDOWN_TIMEOUT_MS / 1000} s; exiting without waiting`) + '\n');
            done(ExitCodes.failure);
          }, SHUTDOWN_TIMEOUT_MS);
          void (async () => {
            try {
              await server.close();
              ctx.stderr.write(err.dim('  API closed') + '\n');
              await system.close();
              ctx.stderr.write(err.dim('  consumers drained, offsets committed, storage closed') + '\n');
              ctx.stderr.write('Stopped.\n');
              done(ExitCodes.ok);
            } catch (e) {
              ctx.stderr.write(err.red(`error while stopping: ${(e as Error).message}`) + '\n');
              done(ExitCodes.failure);
            } finally {
              clearTimeout(deadline);
              dispose();
            }
          })();
        },
        force: (signal) => {
          ctx.stderr.write(err.red(`${signal} again: exiting now (in-flight batches will be re-read on the next start)`) + '\n');
          done(signalExitCode(signal));
        },
      });
    });
  },
};

export interface BannerInfo {
  url: string;
  dataDir: string;
  embedder: string;
  llm: string | null;
  mode: string;
  /** Which vector index and event log this process uses, for people to read. */
  index?: string;
  log?: string;
  /** The fine-tuning datasets the finetune trigger keeps in this process, or null. */
  finetune?: string | null;
  invokedAs: string;
}

export function renderBanner(b: BannerInfo, s: Style): string {
  const rows: Array<[string, string]> = [
    ['API', s.cyan(b.url)],
    ['Docs', s.cyan(`${b.url}${ApiPaths.docs}`)],
    ['Data', `${b.dataDir}${b.mode === 'embedded' && !b.index?.startsWith('qdrant') ? s.dim('  (embedded: SQLite, no servers needed)') : ''}`],
    ...(b.log ? [['Log', b.log] as [string, string]] : []),
    ...(b.index ? [['Index', b.index] as [string, string]] : []),
    ['Embedder', b.embedder],
    ['LLM', b.llm ?? `none — answers are extractive ${s.dim(`(${b.invokedAs} models pull: a local model; or set TRIBUTARY_LLM_BASE_URL + TRIBUTARY_LLM_MODEL)`)}`],
    ...(b.finetune ? [['Training', b.finetune] as [string, string]] : []),
  ];
  const lines = ['', `  ${s.bold('Tributary')} is running`, ''];
  for (const [k, v] of rows) lines.push(`  ${s.dim(k.padEnd(9))} ${v}`);
  lines.push('', `  Load the demo corpus: ${s.bold(`${b.invokedAs} demo`)}   ·   Ctrl-C to stop`, '');
  return lines.join('\n') + '\n';
}

/** The configuration, or a CliError naming each variable to fix (exit 78). */
export function loadConfigOrFail(env: NodeJS.ProcessEnv, overrides: Record<string, string> = {}): ReturnType<typeof loadConfig> {
  try {
    return loadConfig(env, overrides);
  } catch (e) {
    throw configError(e);
  }
}

/**
 * Why a command could not start its part: a configuration error as such (exit 78), a Tributary error
 * as one line — exit 3 when it is retryable (a server is down), else 1.
 */
export function commandFailure(e: unknown): unknown {
  const cfg = configError(e);
  if (cfg !== e) return cfg;
  const te = findTributaryError(e);
  if (te) return new CliError(`${te.code}: ${te.message}`, te.retryable ? ExitCodes.unavailable : ExitCodes.failure, { cause: e });
  return e;
}

/** INVALID_CONFIG as one line: each variable to fix and why. */
export function configError(e: unknown): unknown {
  const te = findTributaryError(e);
  if (!te || te.code !== 'INVALID_CONFIG') return e;
  return new CliError(oneLineConfigMessage(te.message, te.details), ExitCodes.config, { cause: e });
}

export function oneLineConfigMessage(message: string, details: unknown): string {
  // zod issues: name the environment variable of each bad key, as loadConfig's message does
  if (Array.isArray(details) && details.length > 0) {
    const parts = details.map((d) => {
      const issue = (d ?? {}) as { path?: unknown; message?: unknown };
      const key = Array.isArray(issue.path) && issue.path.length > 0 ? String(issue.path[0]) : '';
      const env = (ENV_NAMES as Record<string, string>)[key];
      return `${env ? `${env} (${key})` : key || 'config'}: ${String(issue.message ?? 'invalid')}`;
    });
    return `invalid configuration: ${parts.join('; ')} (set in the environment or in TRIBUTARY_CONFIG_FILE)`;
  }
  return message.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
}

function startupError(e: unknown, config: { port: number; host: string; dataDir: string }): unknown {
  const cfg = configError(e);
  if (cfg !== e) return cfg;
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? (e as { cause?: NodeJS.ErrnoException } | undefined)?.cause?.code;
  if (code === 'EADDRINUSE') {
    return new CliError(`port ${config.port} on ${config.host} is already in use (is Tributary already running?)`, ExitCodes.failure, { cause: e, hints: ['Stop the other process, or pick another port: PORT=8081 npm start'] });
  }
  if (code === 'EACCES' || code === 'EROFS') {
    return new CliError(`cannot write to the data directory ${resolve(config.dataDir)} (${code})`, ExitCodes.failure, { cause: e, hints: ['Set TRIBUTARY_DATA_DIR to a writable directory.'] });
  }
  return commandFailure(e);
}
