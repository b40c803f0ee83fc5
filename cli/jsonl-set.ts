import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { helpHint, type ParsedArgs } from './args.ts';
import type { CommandContext } from './command.ts';
import { CliError, ExitCodes, UsageError } from './errors.ts';

/**
 * The labelled and golden sets the eval commands read: a JSONL file given with --dataset, one JSON
 * object a line (blank lines and `//` comments skipped). An unusable line is an error naming its
 * number, the field and the shape a line must have.
 */

/** The text of the --dataset file; `usage` is the command's synopsis for the error. */
export async function readDatasetOption(args: ParsedArgs, ctx: CommandContext, usage: string): Promise<string> {
  const file = args.string('dataset');
  if (file === undefined) throw new UsageError(`missing --dataset <file> (usage: ${usage})`, [helpHint(args.command)]);
  try {
    return await readFile(resolve(ctx.cwd, file), 'utf8');
  } catch (e) {
    throw new CliError(`cannot read --dataset ${file}: ${(e as Error).message}`, ExitCodes.usage);
  }
}

/** Each line parsed by `schema`; `shape` shows a valid line in the error; `what` names the lines ("queries"). */
export function parseJsonlSet<S extends z.ZodType>(text: string, schema: S, shape: string, what: string): Array<z.output<S>> {
  const out: Array<z.output<S>> = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('//')) return;
    let value: unknown;
    try { value = JSON.parse(line); } catch (e) {
      throw new CliError(`line ${i + 1}: not JSON (${(e as Error).message})`, ExitCodes.usage);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new CliError(`line ${i + 1}: ${issue.path.join('.') || 'the line'}: ${issue.message} (each line: ${shape})`, ExitCodes.usage);
    }
    out.push(parsed.data);
  });
  if (out.length === 0) throw new CliError(`the dataset has no ${what} (one JSON object a line)`, ExitCodes.usage);
  return out;
}
