/**
 * The dataset registry: pinned, immutable versions of fine-tuning datasets. A version is the whole
 * dataset at one moment — its files (JSONL in a fine-tuning format) and a manifest saying what they
 * hold and where it came from. The version id is a content hash of the dataset's name, format and
 * files, so the same id always means the same bytes, and pinning the same content twice gives the same version (the first
 * manifest is kept). Versions are never changed or overwritten.
 */

export interface DatasetFileInput {
  /** A plain file name: letters, digits, ".", "_" or "-" (e.g. "train.jsonl"). */
  name: string;
  content: Uint8Array;
}

export interface DatasetFileInfo {
  name: string;
  bytes: number;
  sha256: string;
  /** Lines of a JSONL file (records). */
  records: number;
}

export interface PinRequest {
  /** Dataset name: lower-case letters, digits, "_" or "-", 1–64. */
  dataset: string;
  /** The files' format, e.g. "chat-sft" or "dpo" (part of the version id). */
  format: string;
  files: DatasetFileInput[];
  /** What the version holds, by kind (e.g. {items: 120, documents: 40}). */
  counts: Record<string, number>;
  /** Where its items came from (source offsets, document versions …): kept as given, as JSON. */
  sources: Record<string, unknown>;
  createdAtMs: number;
}

export interface DatasetManifest {
  dataset: string;
  /** Content hash of the format and the files (names and bytes). */
  version: string;
  format: string;
  createdAtMs: number;
  counts: Record<string, number>;
  sources: Record<string, unknown>;
  files: DatasetFileInfo[];
}

export interface DatasetRegistry {
  readonly kind: string;
  /** Pins a version (idempotent by content). Bad names are INVALID_INPUT. */
  pin(request: PinRequest): Promise<{ manifest: DatasetManifest; created: boolean }>;
  manifest(dataset: string, version: string): Promise<DatasetManifest | null>;
  /** Every version of a dataset, oldest first. */
  versions(dataset: string): Promise<DatasetManifest[]>;
  /** A file of a version, checked against its hash (DATASET_CORRUPT if it changed); NOT_FOUND if absent. */
  readFile(dataset: string, version: string, name: string): Promise<Uint8Array>;
  close(): Promise<void>;
}
