/** Chunk stage: cleaned document → token-bounded, structure-aware chunks. Pure; no I/O. */
export { chunkDocument } from './chunk-document.ts';
export { chunkerFor, type Chunker, type ChunkerName } from './chunker.ts';
export { packBlocks, type Chunk, type ChunkOptions } from './pack.ts';
export { parseBlocks, splitSentences, type Block, type BlockKind, type BlockProfile } from './blocks.ts';
export { countTokens, splitByTokens, TOKENIZER_ENCODING } from './tokens.ts';
