import { v5 as uuidv5 } from 'uuid';

/** Fixed namespaces: changing them would re-key every document and chunk. */
const DOCUMENT_NAMESPACE = '6f1d8c0a-3b7e-5d2a-9c4f-1e2b3a4c5d6e';
const CHUNK_NAMESPACE = 'b3c1f0e2-7a4d-5e6f-8a9b-0c1d2e3f4a5b';

/** Same source + externalId → same document id (idempotent publishing). */
export function documentIdFor(source: string, externalId: string): string {
  return uuidv5(`${source}\u0000${externalId}`, DOCUMENT_NAMESPACE);
}

/** Chunk point id = UUIDv5(document id, chunk index). */
export function chunkPointId(docId: string, chunkIndex: number): string {
  return uuidv5(`${docId}\u0000${chunkIndex}`, CHUNK_NAMESPACE);
}
