import type { ChunkPayload, IndexOperation, SearchFilter, SearchRequest, VectorIndex } from '../../ports/vector-index.ts';
import type { DocumentStore, NewDocument } from '../../ports/document-store.ts';
import type { Embedder } from '../../ports/embedder.ts';
import { TributaryError, type ErrorCode } from '../../ports/errors.ts';
import type { ChatMessage, ChatOptions, ChatResult, Llm } from '../../ports/llm.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import type { SchemaTopic, TopicValue } from '../../schemas/registry.ts';

/**
 * Dependencies that can be taken down: real implementations of their port, each wrapping a working
 * adapter, that fail every call with the port's "unavailable" code while `outage.down` is set (as the
 * adapters do when their server is away) and count the calls they refused.
 */
export class Outage {
  down = false;
  /** Calls refused while down. */
  refused = 0;
  readonly code: ErrorCode;
  private readonly what: string;

  constructor(code: ErrorCode, what: string) {
    this.code = code;
    this.what = what;
  }

  check(): void {
    if (!this.down) return;
    this.refused++;
    throw new TributaryError(this.code, `${this.what} cannot be reached (test outage)`);
  }
}

/** The value codec with its Schema Registry away: SCHEMA_REGISTRY_UNAVAILABLE on every encode and decode. */
export class OutageCodec implements ValueCodec {
  readonly kind: ValueCodec['kind'];
  readonly outage = new Outage('SCHEMA_REGISTRY_UNAVAILABLE', 'the Schema Registry');
  private readonly inner: ValueCodec;

  constructor(inner: ValueCodec) {
    this.inner = inner;
    this.kind = inner.kind;
  }

  async encode<T extends SchemaTopic>(topic: T, value: TopicValue<T>): Promise<Uint8Array> {
    this.outage.check();
    return this.inner.encode(topic, value);
  }

  async decode<T extends SchemaTopic>(topic: T, bytes: Uint8Array): Promise<TopicValue<T>> {
    this.outage.check();
    return this.inner.decode(topic, bytes);
  }

  close(): Promise<void> { return this.inner.close(); }
}

/** The document store, away: STORE_UNAVAILABLE. */
export class OutageStore implements DocumentStore {
  readonly kind: string;
  readonly capabilities: DocumentStore['capabilities'];
  readonly outage = new Outage('STORE_UNAVAILABLE', 'the document store');
  private readonly inner: DocumentStore;

  constructor(inner: DocumentStore) {
    this.inner = inner;
    this.kind = inner.kind;
    this.capabilities = inner.capabilities;
  }

  async put(docs: NewDocument[]) { this.outage.check(); return this.inner.put(docs); }
  async delete(id: string) { this.outage.check(); return this.inner.delete(id); }
  async get(id: string) { this.outage.check(); return this.inner.get(id); }
  async count() { this.outage.check(); return this.inner.count(); }
  async snapshot() { this.outage.check(); return this.inner.snapshot(); }
  async ping() { this.outage.check(); return this.inner.ping(); }
  close(): Promise<void> { return this.inner.close(); }
}

/** The vector index, away: INDEX_UNAVAILABLE. */
export class OutageIndex implements VectorIndex {
  readonly kind: string;
  readonly capabilities: VectorIndex['capabilities'];
  readonly outage = new Outage('INDEX_UNAVAILABLE', 'the vector index');
  private readonly inner: VectorIndex;

  constructor(inner: VectorIndex) {
    this.inner = inner;
    this.kind = inner.kind;
    this.capabilities = inner.capabilities;
  }

  init(): Promise<void> { return this.inner.init(); }
  async ping() { this.outage.check(); return this.inner.ping(); }
  async replaceDocument(docId: string, version: number, points: Parameters<VectorIndex['replaceDocument']>[2]) { this.outage.check(); return this.inner.replaceDocument(docId, version, points); }
  async deleteDocument(docId: string, version: number | null) { this.outage.check(); return this.inner.deleteDocument(docId, version); }
  async applyBatch(ops: IndexOperation[]) { this.outage.check(); return this.inner.applyBatch(ops); }
  async search(req: SearchRequest) { this.outage.check(); return this.inner.search(req); }
  async count(filter?: SearchFilter) { this.outage.check(); return this.inner.count(filter); }
  async *scan(filter?: SearchFilter): AsyncIterable<{ id: string; payload: ChunkPayload }> { this.outage.check(); yield* this.inner.scan(filter); }
  async documentVersions(docIds: string[]) { this.outage.check(); return this.inner.documentVersions(docIds); }
  close(): Promise<void> { return this.inner.close(); }
}

/** The embedder, away: EMBEDDER_UNAVAILABLE. */
export class OutageEmbedder implements Embedder {
  readonly id: string;
  readonly capabilities: Embedder['capabilities'];
  readonly outage = new Outage('EMBEDDER_UNAVAILABLE', 'the embedder');
  private readonly inner: Embedder;

  constructor(inner: Embedder) {
    this.inner = inner;
    this.id = inner.id;
    this.capabilities = inner.capabilities;
  }

  async embed(texts: string[], signal?: AbortSignal) { this.outage.check(); return this.inner.embed(texts, signal); }
  close(): Promise<void> { return this.inner.close(); }
}

/** The LLM, away: LLM_UNAVAILABLE. */
export class OutageLlm implements Llm {
  readonly id: string;
  readonly contextTokens: number;
  readonly outage = new Outage('LLM_UNAVAILABLE', 'the LLM');
  private readonly inner: Llm;

  constructor(inner: Llm) {
    this.inner = inner;
    this.id = inner.id;
    this.contextTokens = inner.contextTokens;
  }

  async chat(messages: ChatMessage[], options?: ChatOptions): Promise<ChatResult> { this.outage.check(); return this.inner.chat(messages, options); }
  async *stream(messages: ChatMessage[], options?: ChatOptions): AsyncIterable<string> { this.outage.check(); yield* this.inner.stream(messages, options); }
}
