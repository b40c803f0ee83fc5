import type { ParsedArgs } from '../args.ts';
import type { Command, CommandContext } from '../command.ts';
import { ExitCodes } from '../errors.ts';
import { styleFor } from '../format.ts';
import { commandFailure, loadConfigOrFail } from './dev.ts';

/** `tributary setup mongodb`: prepares the warehouse collection for change data capture. */
export const setupMongodb: Command = {
  spec: {
    name: 'setup mongodb',
    summary: 'create the warehouse collection with change-stream pre/post images, and the store\'s indexes',
    usage: '',
    description: [
      'Idempotent. On the MongoDB replica set in MONGODB_URL: creates tributary.documents if missing, turns on',
      'changeStreamPreAndPostImages (Debezium\'s change_streams_update_full_with_pre_image capture mode and the',
      'relay\'s "before" images read them), and creates the store\'s indexes (one document per source + externalId).',
    ].join('\n'),
    options: {},
    positionals: { min: 0, max: 0 },
    examples: ['MONGODB_URL=\'mongodb://127.0.0.1:27017/?replicaSet=rs0\' tributary setup mongodb'],
    env: [['MONGODB_URL', 'the MongoDB replica set']],
  },

  async run(_args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const config = loadConfigOrFail(ctx.env);
    const { setupMongoDb } = await import('../../wiring/backbone.ts');
    let r: Awaited<ReturnType<typeof setupMongoDb>>;
    try {
      r = await setupMongoDb(config);
    } catch (e) {
      throw commandFailure(e);
    }
    const s = styleFor(ctx.stdout, ctx.env);
    ctx.stdout.write([
      `${s.bold('tributary.documents')}: ${r.created ? 'created' : 'exists'}`,
      `  change-stream pre/post images: ${r.imagesOn ? s.green('on') : s.red('off')}${r.imagesTurnedOn ? ' (turned on now)' : ''}`,
      `  indexes: ${r.indexes.join(', ')}`,
    ].join('\n') + '\n');
    return r.imagesOn ? ExitCodes.ok : ExitCodes.failure;
  },
};
