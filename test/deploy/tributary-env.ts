import { z } from 'zod';
import { findTributaryError } from '../../ports/errors.ts';
import { finetuneDatasetSchema } from '../../schemas/finetune.ts';
import { ENV_NAMES, loadConfig, type Config } from '../../wiring/config.ts';
import { createLauncher } from '../../wiring/finetune.ts';
import { judgeRuns } from '../../wiring/config-rules.ts';
import { COMMANDS } from '../../cli/main.ts';
import { CONSUMER_NAMES } from '../../wiring/consumers.ts';

/**
 * What the deployment files may put in a Tributary process's environment, and whether Tributary
 * would start with it: shared by test/deploy/compose.test.ts and test/deploy/kubernetes.test.ts.
 */

const SETTINGS = new Set<string>(Object.values(ENV_NAMES));
/**
 * Variables that are not settings but that a Tributary process reads (SCHEMA_REGISTRY_URL is both a
 * setting and what `tributary schemas` reads): a new name must be a setting or be added here with
 * its reader.
 *  - KAFKA_CONNECT_URL: `tributary connectors` (cli/commands/connectors.ts), the Connect worker's REST URL.
 *  - OPENAI_API_KEY: the openai fine-tuning launcher's key when its dataset names no apiKeyEnv
 *    (schemas/finetune.ts, the finetune-trigger).
 * The variables a dataset of TRIBUTARY_FINETUNE_DATASETS names (a webhook's secretEnv, an openai
 * launcher's apiKeyEnv) are read too: launcherVariables.
 */
const OTHER_VARIABLES = new Set<string>(['KAFKA_CONNECT_URL', 'OPENAI_API_KEY']);

/** The variables the launchers of `env`'s TRIBUTARY_FINETUNE_DATASETS read (none if the list does not parse: configFor says why). */
export function launcherVariables(env: Record<string, string>): string[] {
  const raw = env[ENV_NAMES.finetuneDatasets];
  if (!raw) return [];
  let json: unknown;
  try { json = JSON.parse(raw); } catch { return []; }
  const parsed = z.array(finetuneDatasetSchema).safeParse(json);
  if (!parsed.success) return [];
  return parsed.data.flatMap((d) => (d.launcher.type === 'webhook' ? (d.launcher.secretEnv ? [d.launcher.secretEnv] : []) : d.launcher.type === 'openai' ? [d.launcher.apiKeyEnv] : []));
}

/** Names in `env` that Tributary does not know: neither a setting (ENV_NAMES) nor a variable it reads. */
export function unknownVariables(env: Record<string, string>): string[] {
  const launchers = new Set(launcherVariables(env));
  return Object.keys(env).filter((k) => !SETTINGS.has(k) && !OTHER_VARIABLES.has(k) && !launchers.has(k));
}

/**
 * Why `tributary consume finetune-trigger` would refuse to start with `env`, or null: the
 * configuration (configFor), at least one dataset (wiring/consumer-process.ts), and every dataset's
 * launcher built as the trigger builds it (wiring/finetune.ts createLauncher: a webhook's secretEnv
 * set and long enough, an openai launcher's key present).
 */
export async function finetuneTriggerProblem(env: Record<string, string>): Promise<string | null> {
  const loaded = configFor(env);
  if ('error' in loaded) return loaded.error;
  if (loaded.config.finetuneDatasets.length === 0) return `${ENV_NAMES.finetuneDatasets}: no dataset (the finetune-trigger refuses to start without one)`;
  for (const d of loaded.config.finetuneDatasets) {
    try {
      await createLauncher(d, env).close();
    } catch (e) {
      const te = findTributaryError(e);
      if (te) return te.message;
      throw e;
    }
  }
  return null;
}

/**
 * Why `tributary consume judge` would refuse to start with `env` (exit 78), or null: the
 * configuration (configFor), then what wiring/consumer-process.ts asks of the judge (judgeRuns: an
 * LLM, RAG traces on, a sample above 0).
 */
export function judgeProblem(env: Record<string, string>): string | null {
  const loaded = configFor(env);
  if ('error' in loaded) return loaded.error;
  return judgeRuns(loaded.config) ? null : 'the judge needs an LLM (TRIBUTARY_LLM_BASE_URL, TRIBUTARY_LLM_UPSTREAM or TRIBUTARY_LLM_GGUF), TRIBUTARY_RAG_TRACES=on and TRIBUTARY_JUDGE_SAMPLE above 0';
}

/**
 * Loads the configuration a process would load from `env` (wiring/config.ts and its rules: a
 * setting with no effect where it is set is refused). Returns the config, or the refusal's message.
 */
export function configFor(env: Record<string, string>): { config: Config } | { error: string } {
  try {
    return { config: loadConfig(env) };
  } catch (e) {
    const te = findTributaryError(e);
    if (te) return { error: te.message };
    throw e;
  }
}

/** Why the arguments after `node cli/main.ts` are not a Tributary command, or null. */
export function commandProblem(args: readonly string[]): string | null {
  const [name, sub] = args;
  if (name === undefined) return 'no command';
  const command = COMMANDS[name];
  if (!command) return `"${name}" is not a tributary command (${Object.keys(COMMANDS).join(', ')})`;
  if ('subcommands' in command) {
    return sub !== undefined && sub in command.subcommands ? null : `"${name} ${sub ?? ''}" is not a tributary command (${Object.keys(command.subcommands).map((s) => `${name} ${s}`).join(', ')})`;
  }
  if (name === 'consume') {
    const known = [...CONSUMER_NAMES, 'lag-monitor'];
    return sub !== undefined && known.includes(sub) ? null : `"consume ${sub ?? ''}": the consumers are ${known.join(', ')}`;
  }
  return null;
}
