import type { Logger } from 'pino';
import type { ApiKeyConfig } from './auth/api-key-config.ts';
import type { DocumentStore } from '../ports/document-store.ts';
import type { Embedder } from '../ports/embedder.ts';
import type { EventLog } from '../ports/event-log.ts';
import type { Llm } from '../ports/llm.ts';
import type { ValueCodec } from '../ports/value-codec.ts';
import type { VectorIndex } from '../ports/vector-index.ts';
import type { InferenceGateway } from '../inference/gateway.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { LagReport } from '../consumers/lag-monitor/index.ts';
import type { DatasetRegistry } from '../ports/dataset-registry.ts';
import type { TraceStore } from '../ports/trace-store.ts';
import type { FinetuneDataset } from '../schemas/finetune.ts';
import type { PromptSet } from '../streams/prompts/catalogue.ts';

/**
 * What the API is built on: ports and a few read-only views, never the composition root. wiring/
 * builds one (its ApiContext satisfies this interface); tests may build one from any adapters.
 */
export interface ApiContext {
  readonly settings: ApiSettings;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly log: EventLog;
  readonly store: DocumentStore;
  readonly index: VectorIndex;
  readonly embedder: Embedder;
  /** null: answers are extractive. */
  readonly llm: Llm | null;
  /** Values of the topics that have a schema (Schema Registry wire format or JSON). */
  readonly codec: ValueCodec;
  /** The inference proxy's core, owned (started and closed) by whoever built the context; null when no upstream is configured. */
  readonly gateway: InferenceGateway | null;
  /** The pipeline consumers running in this process (none in a Kafka-mode API process that runs none). */
  readonly consumers: readonly ConsumerView[];
  /** The lag monitor running in this process, if any (else the API reads what it published). */
  readonly lagMonitor: { latest(): LagReport | null } | null;
  /** Which embedder and LLM this process runs, and why (for /readyz and people). */
  readonly models: ModelsInfo;
  /** The queryable view of the RAG traces and the feedback naming them (built from the topics). */
  readonly traces: TraceStore;
  /** The fine-tuning datasets configured, and the registry of their pinned versions. */
  readonly finetune: { readonly datasets: readonly FinetuneDataset[]; readonly registry: DatasetRegistry };
  /** The prompt templates (prompts/, with TRIBUTARY_PROMPTS_DIR's overrides). */
  readonly prompts: PromptSet;
  /** Checks each dependency this process uses (index, event log, …), for /readyz. */
  checkDependencies(): Promise<DependencyStatus[]>;
}

/** The settings the API itself reads. */
export interface ApiSettings {
  readonly host: string;
  readonly port: number;
  readonly bodyLimitBytes: number;
  readonly apiKeys: readonly ApiKeyConfig[];
  /** Header whose value pins a session to one upstream; "none" turns affinity off. */
  readonly inferenceAffinityHeader: string;
  readonly inferenceLogPrompts: boolean;
  /** The RAG answer cache: how long an answer is served again (0: off), and how many are kept. */
  readonly answerCache: { readonly ttlMs: number; readonly maxEntries: number };
  /** RAG guardrails: prompt-injection detection and PII masking. */
  readonly guardrails: { readonly injection: 'block' | 'flag' | 'off'; readonly pii: 'mask' | 'off'; readonly injectionLlm: boolean };
  /** Whether RAG responses write traces. */
  readonly ragTraces: boolean;
  /** Back-pressure on writes: change events waiting in the pipeline past which POST /v1/content answers 429 (0: no limit). */
  readonly ingestMaxBacklog: number;
}

export interface ConsumerView {
  readonly name: string;
  readonly running: boolean;
  readonly status: { name: string; group: string; running: boolean; degraded: boolean; lastError: string | null };
}

export interface DependencyStatus {
  /** What it is to the pipeline: index, log, store, embedder, relay … */
  readonly name: string;
  /** Which adapter: qdrant, kafka, embedded … */
  readonly kind: string;
  readonly ok: boolean;
  /** Why it is not ok. */
  readonly error: string | null;
}

/** Which models a process runs and where they came from. */
export interface ModelsInfo {
  readonly embedder: { readonly id: string; readonly kind: 'hashing' | 'openai' | 'onnx'; readonly dimension: number; readonly source: string };
  readonly llm:
    | {
      readonly id: string;
      readonly kind: 'local' | 'openai' | 'upstream';
      readonly source: string;
      /** The in-process model: file, compute device, threads, context, concurrency, load time. */
      readonly local?: { readonly modelId: string; readonly file: string; readonly gpu: string; readonly threads: number; readonly contextTokens: number; readonly concurrency: number; readonly loadMs: number };
    }
    | { readonly id: null; readonly kind: 'none'; readonly source: string };
  /** How RAG answers are written: by the LLM, or extractively (no LLM). */
  readonly answers: 'llm' | 'extractive';
}
