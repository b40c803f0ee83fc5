import { sleep } from '../../common/sleep.ts';
import { ApiPaths } from '../api-paths.ts';
import type { ParsedArgs } from '../args.ts';
import { clientFor, jsonOption, printJson, serverOption, urlEnv, type Command, type CommandContext } from '../command.ts';
import { ExitCodes, findCliError } from '../errors.ts';
import { styleFor } from '../format.ts';
import { normalizeLag, renderLag, type LagRow } from '../lag-table.ts';

export const lag: Command = {
  spec: {
    name: 'lag',
    summary: 'consumer lag per group, topic and partition (GET /v1/ops/lag)',
    usage: '',
    description: [
      'Shows how far each consumer group is behind on each partition: committed offset, end of the log and',
      'lag in records; also seconds behind and the status by Burrow\'s rules (OK, WARN, STALL, STOP, REWIND)',
      'when the server reports them.',
    ].join('\n'),
    options: {
      watch: { type: 'boolean', short: 'w', description: 'refresh until Ctrl-C' },
      interval: { type: 'string', short: 'i', value: 'ms', description: 'refresh interval with --watch (100-60000)', defaultText: '2000' },
      json: jsonOption,
      server: serverOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['tributary lag', 'tributary lag --watch --interval 500'],
    env: [urlEnv],
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const interval = args.int('interval', { min: 100, max: 60_000 }, 2000);
    const client = clientFor(args, ctx);
    const fetchLag = () => client.json('GET', ApiPaths.lag, { signal: ctx.signal, timeoutMs: 15_000 });
    const width = ctx.stdout.columns;
    if (!args.flag('watch')) {
      const body = await fetchLag();
      if (args.flag('json')) printJson(ctx, body);
      else ctx.stdout.write(renderLag(normalizeLag(body), styleFor(ctx.stdout, ctx.env), width));
      return ExitCodes.ok;
    }
    const s = styleFor(ctx.stdout, ctx.env);
    const json = args.flag('json');
    // on a terminal, redraw in place: cursor home, each line cleared to its end, the rest of the
    // screen cleared below; no full-screen clear per frame, so no flicker. Cursor hidden meanwhile.
    const redraw = ctx.stdout.isTTY === true && !json;
    if (redraw) ctx.stdout.write('\x1b[?25l\x1b[2J');
    let previous: LagRow[] | undefined;
    try {
      while (!ctx.signal.aborted) {
        let text: string;
        try {
          const body = await fetchLag();
          if (json) text = JSON.stringify(body) + '\n';
          else {
            const rows = normalizeLag(body);
            text = renderLag(rows, s, width, previous ? { previous } : {});
            previous = rows;
          }
        } catch (e) {
          if (ctx.signal.aborted) break;
          const cli = findCliError(e);
          if (!cli) throw e;
          // keep watching through restarts: show the error in place of the table
          text = s.red(cli.message) + '\n';
        }
        const header = s.dim(`${client.baseUrl}  ${new Date().toLocaleTimeString()}  every ${interval} ms — Ctrl-C to stop`);
        if (json) ctx.stdout.write(text);
        else if (redraw) ctx.stdout.write('\x1b[H' + (header + '\n\n' + text).replace(/\n/g, '\x1b[K\n') + '\x1b[J');
        else ctx.stdout.write('\n' + header + '\n\n' + text);
        await sleep(interval, ctx.signal);
        if (ctx.signal.aborted) break;
      }
    } finally {
      if (redraw) ctx.stdout.write('\x1b[?25h');
    }
    return ExitCodes.ok;
  },
};
