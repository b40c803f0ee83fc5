import type { CleanedDocument } from '../../schemas/cleaned.ts';
import { TributaryError } from '../../ports/errors.ts';
import { chunkerFor } from './chunker.ts';
import type { Chunk, ChunkOptions } from './pack.ts';

/**
 * Cleaned document → chunks of at most `maxTokens` tokens (cl100k_base), numbered from 0.
 * Deterministic: the same text, category and options always give the same chunks, so chunk ids
 * derived from (document id, chunk index) are stable. Empty text gives no chunks.
 */
export function chunkDocument(doc: CleanedDocument, opts: ChunkOptions): Chunk[] {
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 1) {
    throw new TributaryError('INVALID_CONFIG', `chunk maxTokens must be a positive integer, got ${opts.maxTokens}`);
  }
  if (!Number.isInteger(opts.overlapTokens) || opts.overlapTokens < 0 || opts.overlapTokens >= opts.maxTokens) {
    throw new TributaryError('INVALID_CONFIG', `chunk overlapTokens must be an integer in [0, maxTokens), got ${opts.overlapTokens} with maxTokens ${opts.maxTokens}`);
  }
  return chunkerFor(doc.category).chunk(doc.text, opts);
}
