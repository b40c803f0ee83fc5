/**
 * How the CLI ends. One closed list of exit codes, printed by `tributary --help`.
 * CliError carries the exit code; it is recognised by shape (walk `cause`), not by instanceof.
 */
export const ExitCodes = {
  ok: 0,
  /** The command ran and something failed (server error, documents rejected). */
  failure: 1,
  /** Bad arguments: unknown command or option, missing value. */
  usage: 2,
  /** The Tributary API could not be reached. */
  unavailable: 3,
  /** Configuration invalid (sysexits EX_CONFIG). */
  config: 78,
  /** Stopped by Ctrl-C. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof ExitCodes)[keyof typeof ExitCodes];

export class CliError extends Error {
  readonly exitCode: ExitCode;
  readonly isCliError = true;
  /** Extra lines printed under the message (hints, server details). */
  readonly hints: string[];

  constructor(message: string, exitCode: ExitCode = ExitCodes.failure, options: { cause?: unknown; hints?: string[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.hints = options.hints ?? [];
  }
}

export class UsageError extends CliError {
  constructor(message: string, hints: string[] = []) {
    super(message, ExitCodes.usage, { hints });
    this.name = 'UsageError';
  }
}

export function findCliError(e: unknown): CliError | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 10 && cur !== null && typeof cur === 'object'; depth++) {
    if ((cur as { isCliError?: unknown }).isCliError === true) return cur as CliError;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}
