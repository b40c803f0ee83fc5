import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { DatasetRegistry } from '../ports/dataset-registry.ts';
import { TributaryError } from '../ports/errors.ts';
import type { EventLog } from '../ports/event-log.ts';
import type { FinetuneLauncher } from '../ports/finetune-launcher.ts';
import type { Llm } from '../ports/llm.ts';
import type { ValueCodec } from '../ports/value-codec.ts';
import type { FinetuneDataset } from '../schemas/finetune.ts';
import type { Metrics } from '../observability/metrics.ts';
import { openDatabase } from '../adapters/sqlite/open-database.ts';
import { FilesystemDatasetRegistry } from '../adapters/dataset-registry/filesystem/filesystem-dataset-registry.ts';
import { WebhookLauncher } from '../adapters/finetune-launcher/webhook/webhook-launcher.ts';
import { OpenAiLauncher } from '../adapters/finetune-launcher/openai/openai-launcher.ts';
import { CommandLauncher } from '../adapters/finetune-launcher/command/command-launcher.ts';
import { FinetuneTrigger } from '../consumers/finetune-trigger/finetune-trigger.ts';
import { SqliteFinetuneState } from '../adapters/finetune-state/sqlite/sqlite-finetune-state.ts';
import type { Config } from './config.ts';

/**
 * Continuous training's parts: the dataset registry (pinned versions under <data dir>/datasets), the
 * trigger's state (<data dir>/finetune/state.db), a launcher per dataset and the jobs' work
 * directories (<data dir>/finetune/jobs). The trigger keeps state on its disk, so exactly one
 * finetune-trigger process runs per deployment (in Kafka mode a single replica with a volume).
 */

export function datasetsDirOf(config: Config): string {
  return join(resolve(config.dataDir), 'datasets');
}

export function finetuneDirOf(config: Config): string {
  return join(resolve(config.dataDir), 'finetune');
}

export function createDatasetRegistry(config: Config): DatasetRegistry {
  return new FilesystemDatasetRegistry({ root: datasetsDirOf(config) });
}

export function createLauncher(dataset: FinetuneDataset, env: NodeJS.ProcessEnv = process.env): FinetuneLauncher {
  const l = dataset.launcher;
  switch (l.type) {
    case 'webhook': {
      if (!l.secretEnv) return new WebhookLauncher(l);
      const secret = env[l.secretEnv];
      if (!secret || secret.length < 16) {
        throw new TributaryError('INVALID_CONFIG', `TRIBUTARY_FINETUNE_DATASETS (finetuneDatasets): dataset ${dataset.name} signs its webhook with the secret in ${l.secretEnv}, which is ${secret ? 'shorter than 16 characters' : 'not set'}`);
      }
      return new WebhookLauncher({ ...l, secret });
    }
    case 'openai': return new OpenAiLauncher(l, { env });
    case 'command': return new CommandLauncher(l);
  }
}

export interface FinetuneTriggerDeps {
  log: EventLog;
  codec: ValueCodec;
  logger: Logger;
  metrics: Metrics;
  llm: Llm | null;
}

/** The finetune-trigger consumer with everything it owns (closed through `closers`). */
export function createFinetuneTrigger(config: Config, deps: FinetuneTriggerDeps, closers: Array<() => Promise<void> | void>): FinetuneTrigger {
  const datasets = config.finetuneDatasets;
  if (datasets.length === 0) {
    throw new TributaryError('INVALID_CONFIG', 'TRIBUTARY_FINETUNE_DATASETS (finetuneDatasets): the finetune-trigger consumer has no dataset to keep; configure at least one (see the README, Continuous training)');
  }
  const needsLlm = datasets.filter((d) => d.instructions === 'llm').map((d) => d.name);
  if (needsLlm.length > 0 && !deps.llm) {
    throw new TributaryError('INVALID_CONFIG', `TRIBUTARY_FINETUNE_DATASETS (finetuneDatasets): ${needsLlm.join(', ')} ask for instructions written by an LLM ("instructions": "llm"), but no LLM is configured: pull one (tributary models pull smollm2), set TRIBUTARY_LLM_GGUF or TRIBUTARY_LLM_BASE_URL, or use "instructions": "template"`);
  }
  const launchers = new Map<string, FinetuneLauncher>();
  for (const d of datasets) launchers.set(d.name, createLauncher(d));
  closers.push(async () => { for (const l of launchers.values()) await l.close(); });
  const db = openDatabase({ path: join(finetuneDirOf(config), 'state.db'), synchronous: config.sqliteSync });
  closers.push(() => db.close());
  const registry = createDatasetRegistry(config);
  closers.push(() => registry.close());
  return new FinetuneTrigger({
    ...deps, registry, datasets, launchers,
    state: new SqliteFinetuneState({ db, datasets }),
    jobsDir: join(finetuneDirOf(config), 'jobs'),
    batch: { maxRecords: config.batchMaxRecords, maxBytes: config.batchMaxBytes, maxWaitMs: config.batchMaxWaitMs },
    retry: { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs, maxAttempts: config.maxAttempts },
  });
}
