import type { QdrantClient, Schemas } from '@qdrant/js-client-rest';
import { rejected } from './qdrant-errors.ts';

/** Named vectors of a chunk point: dense (cosine) and sparse (BM25-style, IDF applied by Qdrant). */
export const DENSE = 'dense';
export const SPARSE = 'sparse';
const DISTANCE = 'Cosine';

/** Payload fields the adapter filters on, with their index type: created once, at start-up. */
export const PAYLOAD_INDEXES = [
  ['doc_id', 'keyword'],
  ['category', 'keyword'],
  ['author', 'keyword'],
  ['doc_version', 'integer'],
  // the embedding cache looks vectors up by content hash and model (adapters/embedding-cache/qdrant)
  ['content_hash', 'keyword'],
  ['embed_model', 'keyword'],
] as const;

export interface CollectionNames {
  collection: string;
  versionsCollection: string;
  dimension: number;
}

/**
 * Creates the chunk collection (dense + sparse vectors, payload indexes) and the version-fence
 * collection when missing, and refuses a collection whose layout is not the one expected — wrong
 * vector size or distance, no sparse vector — saying what exists and what was expected. Called once
 * by init(); several processes may run it at once (a lost creation race is not an error).
 */
export async function ensureCollections(client: QdrantClient, names: CollectionNames): Promise<void> {
  const { collection, versionsCollection, dimension } = names;
  if (!(await client.collectionExists(collection)).exists) {
    await createIfMissing(client, collection, {
      vectors: { [DENSE]: { size: dimension, distance: DISTANCE } },
      sparse_vectors: { [SPARSE]: { modifier: 'idf' } },
    });
  }
  const info = await client.getCollection(collection);
  checkLayout(collection, info, dimension);
  const schema = info.payload_schema ?? {};
  for (const [field_name, field_schema] of PAYLOAD_INDEXES) {
    const have = schema[field_name]?.data_type;
    if (have === field_schema) continue;
    if (have !== undefined) {
      throw rejected(`collection ${collection} indexes payload field "${field_name}" as ${have}, expected ${field_schema}; drop that payload index or use another collection`);
    }
    await client.createPayloadIndex(collection, { field_name, field_schema, wait: true });
  }
  if (!(await client.collectionExists(versionsCollection)).exists) {
    await createIfMissing(client, versionsCollection, { vectors: {} });
  }
}

function checkLayout(collection: string, info: Schemas['CollectionInfo'], dimension: number): void {
  const expected = `a "${DENSE}" vector of ${dimension} dimensions with ${DISTANCE} distance`;
  const fix = 'set QDRANT_COLLECTION to another collection, or delete this one so it is created again';
  const vectors = info.config.params.vectors as Record<string, unknown> | undefined;
  if (!vectors || typeof (vectors as { size?: unknown }).size === 'number') {
    const v = vectors as { size?: number; distance?: string } | undefined;
    throw rejected(`collection ${collection} exists with ${v ? `one unnamed ${v.size}-dimension ${v.distance} vector` : 'no vectors'}; expected ${expected}: ${fix}`);
  }
  const dense = vectors[DENSE] as { size?: number; distance?: string } | undefined;
  if (!dense) {
    throw rejected(`collection ${collection} exists with vectors ${Object.keys(vectors).map((n) => `"${n}"`).join(', ') || '(none)'} but no "${DENSE}"; expected ${expected}: ${fix}`);
  }
  if (dense.size !== dimension || dense.distance !== DISTANCE) {
    throw rejected(`collection ${collection} exists with ${dense.size}-dimension ${dense.distance} "${DENSE}" vectors; expected ${dimension} dimensions with ${DISTANCE} distance (the embedder's vector size): ${fix}`);
  }
  const sparse = info.config.params.sparse_vectors?.[SPARSE];
  if (!sparse) throw rejected(`collection ${collection} exists without the "${SPARSE}" sparse vector the keyword side needs: ${fix}`);
  if (sparse.modifier !== 'idf') {
    throw rejected(`collection ${collection} has its "${SPARSE}" sparse vector without the idf modifier (keyword scores would ignore how rare a word is): ${fix}`);
  }
}

/** Creates a collection, tolerating another process creating it first. */
async function createIfMissing(client: QdrantClient, name: string, config: Schemas['CreateCollection']): Promise<void> {
  try {
    await client.createCollection(name, config);
  } catch (e) {
    if ((await client.collectionExists(name)).exists) return;
    throw e;
  }
}
