export { EmbeddedVectorIndex, createEmbeddedVectorIndex, type EmbeddedVectorIndexOptions } from './embedded-vector-index.ts';
