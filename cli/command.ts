import type { CommandSpec, OptionSpec, ParsedArgs } from './args.ts';
import { API_KEY_ENV, ApiClient, DEFAULT_URL, resolveBaseUrl, URL_ENV } from './client.ts';

/** What a command gets from `main`: its streams, environment and an abort signal (Ctrl-C). */
export interface CommandContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout: Output;
  stderr: Output;
  /** Aborted on the first Ctrl-C (commands that handle signals themselves ignore it). */
  signal: AbortSignal;
  /** How to invoke the CLI in printed hints: "tributary" or "node cli/main.ts". */
  invokedAs: string;
}

export interface Output {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface Command {
  spec: CommandSpec;
  /** The command installs its own SIGINT/SIGTERM handling (dev). */
  handlesSignals?: boolean;
  run(args: ParsedArgs, ctx: CommandContext): Promise<number>;
}

export const serverOption: OptionSpec = {
  type: 'string',
  value: 'url',
  description: `Tributary API base URL (overrides ${URL_ENV})`,
  defaultText: DEFAULT_URL,
};

export const jsonOption: OptionSpec = { type: 'boolean', description: 'print the server\'s JSON response instead of a table' };

export const urlEnv: [string, string] = [URL_ENV, `API base URL (default ${DEFAULT_URL})`];

export function clientFor(args: ParsedArgs, ctx: CommandContext): ApiClient {
  const apiKey = ctx.env[API_KEY_ENV];
  return new ApiClient(resolveBaseUrl(args.string('server'), ctx.env), apiKey ? { apiKey } : {});
}

export function printJson(ctx: CommandContext, value: unknown): void {
  ctx.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
