import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.ts';
import { listDlq, replayDlq } from '../services/dlq.ts';
import { consumerLag } from '../services/lag.ts';
import type { OpsHistory } from '../services/ops-history.ts';
import { lagStatusSchema } from '../../schemas/lag-status.ts';

const stageSchema = z.string().min(1).max(100).regex(/^[A-Za-z0-9._-]+$/, 'stage names are letters, digits, ".", "_" or "-"');

const dlqEntrySchema = z.object({
  offset: z.number().int(),
  partition: z.number().int(),
  stage: z.string(),
  code: z.string(),
  message: z.string(),
  sourceTopic: z.string(),
  sourcePartition: z.number().int(),
  sourceOffset: z.number().int(),
  attempts: z.number().int(),
  firstSeenMs: z.number(),
  key: z.string().nullable(),
  valuePreview: z.string().nullable().describe('First 300 bytes of the original value, as UTF-8'),
  valueBytes: z.number().int(),
  pending: z.boolean().describe('Not replayed yet'),
});

const quantilesSchema = z.object({
  count: z.number().int().nonnegative().describe('Observations in the interval'),
  p50: z.number().nonnegative().nullable().describe('Seconds; null without observations'),
  p99: z.number().nonnegative().nullable().describe('Seconds; null without observations'),
});

const historySampleSchema = z.object({
  atMs: z.number().int(),
  groups: z.array(z.object({
    group: z.string(),
    lag: z.number().int().nonnegative().describe('Records waiting, over all its topics and partitions'),
    maxLagSeconds: z.number().nonnegative().nullable().describe('Age of its oldest waiting record; null when the lag monitor has not evaluated it'),
    status: lagStatusSchema.nullable().describe('The worst Burrow status of its partitions'),
    topics: z.array(z.object({ topic: z.string(), lag: z.number().int().nonnegative() })),
  })),
  freshness: z.object({
    pipeline: quantilesSchema.describe('Source write to searchable (tributary_freshness_seconds), in this process'),
    probe: quantilesSchema.describe('The freshness probe (tributary_freshness_probe_seconds), in this process'),
  }),
});

export const opsRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext; history: OpsHistory }> = async (app, { ctx, history }) => {
  app.get('/v1/ops/history', {
    schema: {
      tags: ['ops'],
      summary: 'Lag per consumer group and freshness p50/p99 over the last hour, one sample per interval (what the /ops page charts)',
      description: 'Sampled by the API process into memory (a restart starts afresh). Freshness quantiles are those of the '
        + 'observations made during each interval, estimated from the histograms\' buckets; null in an interval without any.',
      querystring: z.strictObject({
        since: z.coerce.number().int().min(0).optional().describe('Only samples taken after this time (ms since epoch)'),
      }),
      response: {
        200: z.object({
          intervalMs: z.number().int().positive(),
          retentionMs: z.number().int().positive(),
          samples: z.array(historySampleSchema).describe('Oldest first'),
        }),
      },
    },
  }, async (request) => ({ intervalMs: history.intervalMs, retentionMs: history.retentionMs, samples: history.since(request.query.since) }));

  app.get('/v1/ops/lag', {
    schema: {
      tags: ['ops'],
      summary: 'Consumer lag per group, topic and partition (high watermark − committed offset), in records and seconds, with Burrow status',
      description: 'Offsets are read fresh. `lagSeconds` (age of the next unconsumed record; 0 when caught up) and `status` '
        + '(OK, WARN, REWIND, STALL, STOP by Burrow\'s rules over a sliding window) come from the lag monitor\'s last evaluation, '
        + 'at most one monitor interval old; both are null while no evaluation is at hand.',
      response: {
        200: z.object({
          groups: z.array(z.object({
            group: z.string(), topic: z.string(), partition: z.number().int(), committed: z.number().int(), end: z.number().int(), lag: z.number().int(),
            lagSeconds: z.number().nonnegative().nullable(),
            status: lagStatusSchema.nullable(),
          })),
        }),
      },
    },
  }, async () => ({ groups: await consumerLag(ctx) }));

  app.get('/v1/ops/dlq', {
    schema: {
      tags: ['ops'],
      summary: 'The last entries of the dead-letter queue, oldest first',
      querystring: z.strictObject({
        limit: z.coerce.number().int().min(1).max(1000).default(100),
        stage: stageSchema.optional(),
      }),
      response: { 200: z.object({ entries: z.array(dlqEntrySchema) }) },
    },
  }, async (request) => {
    const { limit, stage } = request.query;
    return { entries: await listDlq(ctx.log, { limit, ...(stage !== undefined ? { stage } : {}) }) };
  });

  app.post('/v1/ops/dlq/replay', {
    schema: {
      tags: ['ops'],
      summary: 'Re-append pending DLQ entries to the topics they came from',
      description: 'Original key, bytes and headers (DLQ headers stripped). Progress is kept per stage in consumer group '
        + '"dlq-replay.<stage>" on the DLQ topic, so an entry is never replayed twice. Entries older than `sinceMs` that '
        + 'precede a replayed entry of the same stage are passed over for good. Send `{}` to replay everything pending.',
      body: z.strictObject({
        stage: stageSchema.optional(),
        sinceMs: z.number().int().min(0).optional().describe('Only entries first seen at or after this time (ms since epoch)'),
        limit: z.number().int().min(1).max(100_000).default(1000),
      }),
      response: { 200: z.object({ replayed: z.number().int(), skipped: z.number().int() }) },
    },
  }, async (request) => {
    const { stage, sinceMs, limit } = request.body;
    return replayDlq(ctx.log, { limit, ...(stage !== undefined ? { stage } : {}), ...(sinceMs !== undefined ? { sinceMs } : {}) });
  });
};
