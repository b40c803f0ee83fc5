import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { TributaryError } from '../../ports/errors.ts';
import { DATASET_NAME_PATTERN, finetuneDatasetStatusSchema, finetuneJobSchema, JOB_STATES } from '../../schemas/finetune.ts';
import type { ApiContext } from '../context.ts';
import { errorBodySchema } from '../errors.ts';
import { getJob, listDatasets, listJobs, reportJobStatus, requestTrigger, requireDataset } from '../services/finetune.ts';

/**
 * Continuous training: the datasets the finetune-trigger keeps and the jobs it launched (as it
 * published them), a manual trigger, a job's status from its receiver, and the pinned versions in
 * the dataset registry, byte for byte.
 */

const datasetName = z.string().regex(DATASET_NAME_PATTERN, 'dataset names are 1–64 lower-case letters, digits, "_" or "-"');
const version = z.string().regex(/^[0-9a-f]{20}$/, 'a dataset version is 20 hexadecimal characters');
const fileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a file name is letters, digits, ".", "_" or "-"');

const datasetViewSchema = z.object({
  name: z.string(), source: z.enum(['content', 'feedback']), format: z.enum(['chat-sft', 'dpo']),
  pending: z.number().int().describe('Net-new items counted since the last window'),
  threshold: z.number().int(), cooldownMs: z.number().int(),
  total: z.number().int().describe('Items the dataset holds now'),
  lastVersion: z.string().nullable(), lastLaunchAt: z.string().nullable(),
  lastWindow: finetuneDatasetStatusSchema.shape.lastWindow,
  launcher: z.enum(['webhook', 'openai', 'command']),
  updatedAt: z.string().nullable().describe('When the trigger last reported on this dataset; null: it has not yet'),
});

const manifestSchema = z.object({
  dataset: z.string(), version: z.string(), format: z.string(), createdAtMs: z.number().int(),
  counts: z.record(z.string(), z.number()), sources: z.record(z.string(), z.unknown()),
  files: z.array(z.object({ name: z.string(), bytes: z.number().int(), sha256: z.string(), records: z.number().int() })),
});

const triggerOutcomeSchema = z.object({
  requestId: z.string(), dataset: z.string(),
  outcome: z.enum(['pending', 'job', 'empty', 'failed']),
  job: finetuneJobSchema.nullable(),
  message: z.string().nullable(),
});

const notFound = { 404: errorBodySchema };

export const finetuneRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (app, { ctx }) => {
  app.get('/v1/finetune/datasets', {
    schema: {
      tags: ['finetune'],
      summary: 'The fine-tuning datasets: net-new items pending against each threshold, the last pinned version and launch',
      response: { 200: z.object({ datasets: z.array(datasetViewSchema) }) },
    },
  }, async () => ({ datasets: await listDatasets(ctx) }));

  app.get('/v1/finetune/jobs', {
    schema: {
      tags: ['finetune'],
      summary: 'Fine-tune jobs, newest first: the dataset version each trained on, its state, and the resulting model',
      querystring: z.strictObject({
        dataset: datasetName.optional(),
        state: z.enum(JOB_STATES).optional(),
        limit: z.coerce.number().int().min(1).max(10_000).default(1000),
      }),
      response: { 200: z.object({ jobs: z.array(finetuneJobSchema) }) },
    },
  }, async (request) => {
    const { dataset, state, limit } = request.query;
    return { jobs: await listJobs(ctx, { ...(dataset ? { dataset } : {}), ...(state ? { state } : {}), limit }) };
  });

  app.get('/v1/finetune/jobs/:id', {
    schema: {
      tags: ['finetune'],
      summary: 'One fine-tune job',
      params: z.strictObject({ id: z.string().min(1).max(200) }),
      response: { 200: finetuneJobSchema, ...notFound },
    },
  }, async (request) => getJob(ctx, request.params.id));

  app.post('/v1/finetune/jobs/:id/status', {
    schema: {
      tags: ['finetune'],
      summary: 'Report a job\'s later state (for launchers whose jobs run elsewhere, such as a webhook receiver)',
      description: 'Recorded by the finetune trigger, which publishes the job\'s new state; a final state (succeeded, failed, cancelled) is never changed. '
        + 'A succeeded job\'s `model` is recorded against the job and its dataset version.',
      params: z.strictObject({ id: z.string().min(1).max(200) }),
      body: z.strictObject({
        state: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
        model: z.string().trim().min(1).max(500).optional().describe('The fine-tuned model\'s id (with state succeeded)'),
        error: z.string().trim().min(1).max(4000).optional(),
        externalId: z.string().trim().min(1).max(500).optional(),
      }),
      response: { 202: z.object({ id: z.string().describe('The report\'s id') }), ...notFound, 409: errorBodySchema },
    },
  }, async (request, reply) => reply.status(202).send(await reportJobStatus(ctx, request.params.id, request.body)));

  app.post('/v1/finetune/trigger', {
    schema: {
      tags: ['finetune'],
      summary: 'Open a window now: pin the dataset as it is and launch one job (exactly once per version)',
      description: 'Whatever the threshold and the cooldown. A dataset with nothing new since its last version gets that version\'s job back, '
        + 'never a second one. Waits up to `waitMs` for the trigger\'s answer: 200 with the outcome, or 202 while it is still pending.',
      body: z.strictObject({
        dataset: datasetName,
        waitMs: z.number().int().min(0).max(60_000).default(15_000),
      }),
      response: { 200: triggerOutcomeSchema, 202: triggerOutcomeSchema, ...notFound },
    },
  }, async (request, reply) => {
    const ac = new AbortController();
    // the client went away: stop waiting (the trigger still gets the request)
    reply.raw.once('close', () => { if (!reply.raw.writableEnded) ac.abort(); });
    const outcome = await requestTrigger(ctx, request.body.dataset, request.body.waitMs, ac.signal);
    return reply.status(outcome.outcome === 'pending' ? 202 : 200).send(outcome);
  });

  app.get('/v1/finetune/datasets/:name/versions', {
    schema: {
      tags: ['finetune'],
      summary: 'Every pinned version of a dataset, oldest first (manifests)',
      params: z.strictObject({ name: datasetName }),
      response: { 200: z.object({ versions: z.array(manifestSchema) }), ...notFound },
    },
  }, async (request) => {
    requireDataset(ctx, request.params.name);
    return { versions: await ctx.finetune.registry.versions(request.params.name) };
  });

  app.get('/v1/finetune/datasets/:name/versions/:version', {
    schema: {
      tags: ['finetune'],
      summary: 'A pinned version\'s manifest: its files and hashes, counts, and the source offsets and document versions it came from',
      params: z.strictObject({ name: datasetName, version }),
      response: { 200: manifestSchema, ...notFound },
    },
  }, async (request) => {
    const { name, version: v } = request.params;
    const m = await ctx.finetune.registry.manifest(name, v);
    if (!m) throw new TributaryError('NOT_FOUND', `no version ${v} of dataset ${name} in this process's dataset registry (${ctx.finetune.registry.kind})`);
    return m;
  });

  app.get('/v1/finetune/datasets/:name/versions/:version/lineage', {
    schema: {
      tags: ['finetune'],
      summary: 'Where a version came from and what was trained on it: its sources (input offsets, document versions or feedback ids) and its jobs with their models',
      params: z.strictObject({ name: datasetName, version }),
      response: {
        200: z.object({
          dataset: z.string(), version: z.string(), format: z.string(), createdAtMs: z.number().int(),
          counts: z.record(z.string(), z.number()), sources: z.record(z.string(), z.unknown()),
          jobs: z.array(finetuneJobSchema.pick({ id: true, state: true, launcher: true, externalId: true, model: true, trigger: true, createdAt: true, updatedAt: true })),
        }),
        ...notFound,
      },
    },
  }, async (request) => {
    const { name, version: v } = request.params;
    const m = await ctx.finetune.registry.manifest(name, v);
    if (!m) throw new TributaryError('NOT_FOUND', `no version ${v} of dataset ${name} in this process's dataset registry (${ctx.finetune.registry.kind})`);
    const jobs = (await listJobs(ctx, { dataset: name })).filter((j) => j.datasetVersion === v)
      .map((j) => ({ id: j.id, state: j.state, launcher: j.launcher, externalId: j.externalId, model: j.model, trigger: j.trigger, createdAt: j.createdAt, updatedAt: j.updatedAt }));
    return { dataset: m.dataset, version: m.version, format: m.format, createdAtMs: m.createdAtMs, counts: m.counts, sources: m.sources, jobs };
  });

  app.get('/v1/finetune/datasets/:name/versions/:version/files/:file', {
    schema: {
      tags: ['finetune'],
      summary: 'A file of a pinned version, byte for byte (checked against its pinned sha256 first)',
      params: z.strictObject({ name: datasetName, version, file: fileName }),
      response: {
        200: {
          description: 'The file\'s bytes (JSON Lines), as pinned',
          headers: { 'x-tributary-sha256': { type: 'string', description: 'The file\'s pinned SHA-256 (hex)' } },
          content: { 'application/x-ndjson': { schema: z.string() } },
        },
        ...notFound,
      },
    },
  }, async (request, reply) => {
    const { name, version: v, file } = request.params;
    const bytes = await ctx.finetune.registry.readFile(name, v, file);
    const info = (await ctx.finetune.registry.manifest(name, v))!.files.find((f) => f.name === file)!;
    return reply.header('content-type', 'application/x-ndjson').header('x-tributary-sha256', info.sha256).send(Buffer.from(bytes) as never);
  });
};
