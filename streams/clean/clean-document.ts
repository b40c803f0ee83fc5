import { createHash } from 'node:crypto';
import type { CleanedDocument } from '../../schemas/cleaned.ts';
import type { RawDocument } from '../../schemas/content.ts';
import { cleanerFor, cleanTitle } from './cleaner.ts';
import { stripTrackingFromUrl } from './urls.ts';

export interface CleanMeta {
  /** Source ordering position of the change event (schemas/version.ts). */
  version: number;
  /** When the source wrote the document (ms since epoch). */
  sourceTsMs: number;
  /** Clock reading supplied by the caller, so the stage stays pure. */
  nowMs: number;
}

/** sha256 of the text's UTF-8 bytes, hex. */
export function contentHashOf(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Raw warehouse document → value for tributary.content.cleaned. Pure: the same document and meta
 * give the same result (contentHash depends on the cleaned text only).
 */
export function cleanDocument(doc: RawDocument, meta: CleanMeta): CleanedDocument {
  const text = cleanerFor(doc.category).clean(doc.content);
  return {
    docId: doc._id,
    version: meta.version,
    category: doc.category,
    author: doc.author,
    title: cleanTitle(doc.title),
    url: doc.url === null || doc.url === undefined || doc.url === '' ? null : stripTrackingFromUrl(doc.url),
    text,
    contentHash: contentHashOf(text),
    sourceTsMs: meta.sourceTsMs,
    cleanedAtMs: meta.nowMs,
  };
}
