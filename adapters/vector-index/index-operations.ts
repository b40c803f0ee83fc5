import { TributaryError } from '../../ports/errors.ts';
import type { ChunkPoint, IndexOperation } from '../../ports/vector-index.ts';

/** Most chunks one document may have, in every index adapter. */
export const MAX_POINTS_PER_DOCUMENT = 65_536;

/**
 * Checks index writes before any of them is applied, so an invalid batch writes nothing.
 * Throws INDEX_REJECTED (not retryable) naming the document, the point and the problem.
 */
export function validateIndexOperations(ops: IndexOperation[], dimension: number, adapter: string): void {
  const rejected = (message: string) => new TributaryError('INDEX_REJECTED', `${adapter}: ${message}`);
  for (const op of ops) {
    if (typeof op.docId !== 'string' || op.docId === '') throw rejected('docId must be a non-empty string');
    const allowNull = op.kind === 'delete';
    if (!(op.version === null && allowNull) && (typeof op.version !== 'number' || !Number.isFinite(op.version) || op.version < 0)) {
      throw rejected(`version must be a finite non-negative number${allowNull ? ' or null' : ''}, got ${String(op.version)}`);
    }
    if (op.kind === 'replace') checkPoints(op.docId, op.version, op.points, dimension, rejected);
  }
}

function checkPoints(docId: string, version: number, points: ChunkPoint[], dimension: number, rejected: (m: string) => TributaryError): void {
  if (!Array.isArray(points)) throw rejected('points must be an array');
  if (points.length > MAX_POINTS_PER_DOCUMENT) throw rejected(`document ${docId} has ${points.length} chunks; at most ${MAX_POINTS_PER_DOCUMENT} per document`);
  const ids = new Set<string>();
  for (const p of points) {
    if (typeof p?.id !== 'string' || p.id === '') throw rejected(`a point of ${docId} has no id`);
    if (ids.has(p.id)) throw rejected(`point ${p.id} appears twice in document ${docId}`);
    ids.add(p.id);
    if (!(p.vector instanceof Float32Array)) throw rejected(`point ${p.id}: vector must be a Float32Array`);
    if (p.vector.length !== dimension) throw rejected(`point ${p.id}: vector has ${p.vector.length} dimensions, the index holds ${dimension}`);
    for (let i = 0; i < p.vector.length; i++) {
      if (!Number.isFinite(p.vector[i]!)) throw rejected(`point ${p.id}: vector has a non-finite value at ${i}`);
    }
    const pl = p.payload;
    if (!pl || typeof pl.text !== 'string') throw rejected(`point ${p.id}: payload.text must be a string`);
    if (pl.doc_id !== docId) throw rejected(`point ${p.id}: payload.doc_id ${pl.doc_id} is not the replaced document ${docId}`);
    if (pl.doc_version !== version) throw rejected(`point ${p.id}: payload.doc_version ${pl.doc_version} is not the replaced version ${version}`);
    if (typeof pl.category !== 'string' || typeof pl.author !== 'string') throw rejected(`point ${p.id}: payload.category and payload.author must be strings`);
    if (!Number.isInteger(pl.chunk_index)) throw rejected(`point ${p.id}: payload.chunk_index must be an integer`);
  }
}
