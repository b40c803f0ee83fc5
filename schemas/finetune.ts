import { z } from 'zod';

/**
 * Continuous training: which datasets the finetune-trigger consumer keeps, how each is launched, and
 * the records it writes (job states on tributary.finetune.jobs, dataset status on
 * tributary.finetune.datasets) and reads (commands on tributary.finetune.commands).
 */

export const DATASET_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export const webhookLauncherSchema = z.strictObject({
  type: z.literal('webhook'),
  url: z.url().refine((u) => /^https?:\/\//.test(u), 'must be an http:// or https:// URL'),
  /** Signs each request body: header X-Tributary-Signature: sha256=<hex HMAC-SHA256(secret, body)>. */
  secret: z.string().min(16, 'must be at least 16 characters (it signs the request body with HMAC-SHA256)').optional(),
  /** The environment variable holding the secret instead (keeps it out of the dataset list, e.g. in a Kubernetes Secret). */
  secretEnv: z.string().regex(ENV_NAME, 'must be an environment variable name').optional(),
  /** Per-request timeout. */
  timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  /** File contents are sent inline up to this many bytes in total; a bigger version is sent with names, hashes and paths only. */
  inlineMaxBytes: z.number().int().min(0).max(256 * 1024 * 1024).default(16 * 1024 * 1024),
});

export const openaiLauncherSchema = z.strictObject({
  type: z.literal('openai'),
  /** An OpenAI-compatible API base URL (default the SDK's: https://api.openai.com/v1). */
  baseUrl: z.url().optional(),
  /** The environment variable holding the API key (default OPENAI_API_KEY). */
  apiKeyEnv: z.string().regex(ENV_NAME, 'must be an environment variable name').default('OPENAI_API_KEY'),
  /** The base model to fine-tune, e.g. gpt-4.1-mini-2025-04-14. */
  model: z.string().min(1).max(200),
  /** How often a running job is polled. */
  pollMs: z.number().int().min(10).max(3_600_000).default(30_000),
  /** Passed to the fine-tuning method's hyperparameters as given (e.g. {"n_epochs": 3}). */
  hyperparameters: z.record(z.string(), z.union([z.number(), z.string()])).optional(),
});

export const commandLauncherSchema = z.strictObject({
  type: z.literal('command'),
  /**
   * The program and its arguments (no shell). `{datasetPath}`, `{datasetVersion}`, `{dataset}` and
   * `{jobId}` in an argument are replaced; the same values are in the environment as
   * TRIBUTARY_DATASET_PATH, TRIBUTARY_DATASET_VERSION, TRIBUTARY_DATASET and TRIBUTARY_JOB_ID.
   */
  command: z.array(z.string().min(1)).min(1),
  /** How often the command's exit is checked. */
  pollMs: z.number().int().min(10).max(3_600_000).default(1_000),
});

export const launcherConfigSchema = z.discriminatedUnion('type', [
  webhookLauncherSchema.refine((w) => !(w.secret && w.secretEnv), { message: 'set either secret or secretEnv, not both', path: ['secretEnv'] }),
  openaiLauncherSchema,
  commandLauncherSchema,
]);
export type LauncherConfig = z.infer<typeof launcherConfigSchema>;
export type LauncherType = LauncherConfig['type'];

const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

export const finetuneDatasetSchema = z.strictObject({
  name: z.string().regex(DATASET_NAME_PATTERN, 'must be 1–64 lower-case letters, digits, "_" or "-"'),
  source: z.enum(['content', 'feedback']),
  /** content datasets only: documents of these categories / authors (exact match; a list means any of them). */
  filter: z.strictObject({ category: oneOrMany.optional(), author: oneOrMany.optional() }).optional(),
  /** Net-new items that start a fine-tune job. */
  threshold: z.number().int().min(1).max(100_000_000),
  /** After a window opens (by the threshold or by hand), the next threshold window waits at least this long (items keep counting meanwhile). */
  cooldownMs: z.number().int().min(0).max(365 * 24 * 3600_000).default(0),
  /** The trigger fires once no new item has arrived for this long (a burst becomes one window), or 30 × this after the crossing under a steady stream. */
  settleMs: z.number().int().min(0).max(3_600_000).default(1_000),
  /** chat-sft (OpenAI chat messages) or dpo (preference pairs; feedback datasets only). Default: chat-sft for content, dpo for feedback. */
  format: z.enum(['chat-sft', 'dpo']).optional(),
  /** How chat-sft samples are made from documents: template (deterministic prompts) or llm (the configured LLM writes each passage's instruction). */
  instructions: z.enum(['template', 'llm']).default('template'),
  launcher: launcherConfigSchema,
}).superRefine((d, ctx) => {
  if (d.source === 'feedback' && d.filter) ctx.addIssue({ code: 'custom', path: ['filter'], message: 'filters documents by category/author: only for source "content"' });
  if (d.source === 'content' && d.format === 'dpo') ctx.addIssue({ code: 'custom', path: ['format'], message: 'dpo pairs come from feedback: use source "feedback", or format "chat-sft"' });
  if (d.source === 'feedback' && d.instructions === 'llm') ctx.addIssue({ code: 'custom', path: ['instructions'], message: 'instructions are generated for documents: only for source "content"' });
}).transform((d) => ({ ...d, format: d.format ?? (d.source === 'content' ? 'chat-sft' as const : 'dpo' as const) }));
export type FinetuneDataset = z.output<typeof finetuneDatasetSchema>;
export type FinetuneFormat = FinetuneDataset['format'];

export const JOB_STATES = ['pending', 'launching', 'launched', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINAL_JOB_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

const isoTime = z.iso.datetime();

/** Value of tributary.finetune.jobs (key = job id): a job's state each time it changes; the latest record per key is the job. */
export const finetuneJobSchema = z.object({
  id: z.string().min(1),
  dataset: z.string().min(1),
  /** The pinned dataset version. */
  datasetVersion: z.string().min(1),
  /** The launch's idempotency key: the version; `<version>-r<n>` for a retry a manual trigger asked for after the version's job failed. */
  idempotencyKey: z.string().min(1),
  /** Training records in the version (lines of its files). */
  items: z.number().int().nonnegative(),
  state: z.enum(JOB_STATES),
  launcher: z.enum(['webhook', 'openai', 'command']),
  /** The launcher's id for the job (OpenAI job id, the webhook receiver's id, the command's process id). */
  externalId: z.string().nullable(),
  /** The fine-tuned model, once the job succeeded and the launcher said which. */
  model: z.string().nullable(),
  error: z.string().nullable(),
  /** Launch attempts so far (a retry after a failure or a crash re-asks the launcher with the same key). */
  attempts: z.number().int().nonnegative(),
  /** What opened the window: the threshold, or a manual trigger (with its request ids). */
  trigger: z.enum(['threshold', 'manual']),
  requestIds: z.array(z.string()),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type FinetuneJob = z.infer<typeof finetuneJobSchema>;

/** Value of tributary.finetune.datasets (key = dataset name): the trigger's view of a dataset. */
export const finetuneDatasetStatusSchema = z.object({
  name: z.string().min(1),
  source: z.enum(['content', 'feedback']),
  format: z.enum(['chat-sft', 'dpo']),
  /** Net-new items counted since the last window. */
  pending: z.number().int().nonnegative(),
  threshold: z.number().int().min(1),
  cooldownMs: z.number().int().nonnegative(),
  /** Items the dataset holds now (documents, or feedback events). */
  total: z.number().int().nonnegative(),
  lastVersion: z.string().nullable(),
  lastLaunchAt: isoTime.nullable(),
  /** The last window: when and why it opened, and what became of it. */
  lastWindow: z.object({
    trigger: z.enum(['threshold', 'manual']),
    requestId: z.string().nullable(),
    openedAt: isoTime,
    outcome: z.enum(['pending', 'job', 'empty', 'failed']),
    datasetVersion: z.string().nullable(),
    jobId: z.string().nullable(),
    message: z.string().nullable(),
  }).nullable(),
  updatedAt: isoTime,
});
export type FinetuneDatasetStatus = z.infer<typeof finetuneDatasetStatusSchema>;

/** Value of tributary.finetune.commands (key = dataset name): what the API asks of the trigger. */
export const finetuneCommandSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('trigger'), id: z.string().min(1), dataset: z.string().min(1), requestedAtMs: z.number().int().nonnegative() }),
  z.object({
    kind: z.literal('job-status'), id: z.string().min(1), jobId: z.string().min(1), dataset: z.string().min(1),
    state: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
    model: z.string().min(1).max(500).optional(), error: z.string().max(4000).optional(), externalId: z.string().max(500).optional(),
    requestedAtMs: z.number().int().nonnegative(),
  }),
]);
export type FinetuneCommand = z.infer<typeof finetuneCommandSchema>;
