import { basename, join } from 'node:path';
import type { Config } from './config.ts';
import { pulledModelPath } from './model-catalogue.ts';

/**
 * Which models a configuration runs: what is set, else what `tributary models pull` put in the
 * models directory (a cheap check of the files, no hashing), else none. Read by the configuration
 * rules (a setting for a model not in use is refused) and by the model factories.
 */

export type EmbedderChoice = 'hashing' | 'openai' | 'onnx';

type ModelsDirConfig = Pick<Config, 'modelsDir' | 'dataDir'>;

/** Where pulled models live: TRIBUTARY_MODELS_DIR, else <dataDir>/models. */
export function modelsDirOf(c: ModelsDirConfig): string {
  return c.modelsDir ?? join(c.dataDir, 'models');
}

/** The ONNX model directory: TRIBUTARY_ONNX_MODEL_DIR, else the one `tributary models pull minilm` put in the models directory (when complete), else null. */
export function onnxModelDirOf(c: Pick<Config, 'onnxModelDir'> & ModelsDirConfig): string | null {
  return c.onnxModelDir ?? pulledModelPath(modelsDirOf(c), 'minilm');
}

/** The embedder a configuration runs: the explicit choice, else ONNX with a model directory (set or pulled), else OpenAI-compatible with a base URL and model, else hashing. */
export function embedderChoice(c: Pick<Config, 'embedder' | 'onnxModelDir' | 'embedBaseUrl' | 'embedModel'> & ModelsDirConfig): EmbedderChoice {
  if (c.embedder !== 'auto') return c.embedder;
  if (c.onnxModelDir) return 'onnx';
  if (c.embedBaseUrl && c.embedModel) return 'openai';
  return onnxModelDirOf(c) ? 'onnx' : 'hashing';
}

/**
 * The local LLM's GGUF file: TRIBUTARY_LLM_GGUF, else the model `tributary models pull smollm2` put in
 * the models directory — when no other LLM is configured, or TRIBUTARY_LLM_UPSTREAM names it; null
 * with TRIBUTARY_LLM_GGUF=off or none found.
 */
export function localLlmGguf(c: Pick<Config, 'llmGguf' | 'llmBaseUrl' | 'llmUpstream' | 'llmLocalModelId'> & ModelsDirConfig): string | null {
  if (c.llmGguf === 'off') return null;
  if (c.llmGguf) return c.llmGguf;
  if (c.llmBaseUrl) return null;
  const pulled = pulledModelPath(modelsDirOf(c), 'smollm2');
  // with TRIBUTARY_LLM_UPSTREAM, the pulled model is loaded only when that names it
  if (c.llmUpstream) return pulled && c.llmUpstream === modelIdOf(pulled, c) ? pulled : null;
  return pulled;
}

/** Which LLM answers RAG questions: through the inference gateway (a named upstream model), an OpenAI-compatible endpoint, the local model, or none. */
export function llmChoice(c: Config): 'upstream' | 'openai' | 'local' | 'none' {
  if (c.llmUpstream) return 'upstream';
  if (c.llmBaseUrl) return 'openai';
  return localLlmGguf(c) ? 'local' : 'none';
}


/** The id the local LLM is served under: TRIBUTARY_LLM_LOCAL_MODEL, else its file name without `.gguf`; null without a local LLM. */
export function localLlmModelId(c: Pick<Config, 'llmGguf' | 'llmBaseUrl' | 'llmUpstream' | 'llmLocalModelId'> & ModelsDirConfig): string | null {
  const file = localLlmGguf(c);
  return file ? modelIdOf(file, c) : null;
}

function modelIdOf(file: string, c: Pick<Config, 'llmLocalModelId'>): string {
  return c.llmLocalModelId ?? basename(file).replace(/\.gguf$/i, '');
}
