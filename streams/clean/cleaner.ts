/**
 * One cleaner per category. Every cleaner runs the same frame around its category step:
 *   characters (line endings, NFKC, invisible characters) → category step → characters again
 *   (entities decoded by the step may introduce new ones) → tracking parameters → whitespace
 *   → PII/secret masking, always last.
 */
import { KNOWN_CATEGORIES } from '../../schemas/content.ts';
import { cleanArticleText } from './article.ts';
import { cleanGenericText } from './generic.ts';
import { decodeEntities, htmlToText } from './html.ts';
import { maskSensitive } from './mask.ts';
import { normalizeCharacters, normalizeWhitespace, type WhitespaceOptions } from './normalize.ts';
import { cleanPostText } from './post.ts';
import { cleanRepositoryText } from './repository.ts';
import { stripTrackingParams } from './urls.ts';

export type CleanerName = (typeof KNOWN_CATEGORIES)[number] | 'generic';

export interface Cleaner {
  /** The category this cleaner was written for ("generic" for any other category). */
  readonly name: CleanerName;
  /** Raw content in, cleaned and masked text out. Pure and deterministic. */
  clean(text: string): string;
}

function makeCleaner(name: CleanerName, step: (text: string) => string, whitespace: WhitespaceOptions): Cleaner {
  return {
    name,
    clean(text: string): string {
      const prepared = normalizeCharacters(text);
      const stepped = normalizeCharacters(step(prepared));
      return maskSensitive(normalizeWhitespace(stripTrackingParams(stepped), whitespace));
    },
  };
}

const CLEANERS: Readonly<Record<CleanerName, Cleaner>> = {
  article: makeCleaner('article', cleanArticleText, { keepIndent: true, collapseInline: true }),
  post: makeCleaner('post', cleanPostText, { keepIndent: false, collapseInline: true }),
  // Source code: inner spacing (alignment) is meaningful, so only trailing space and blank runs change.
  repository: makeCleaner('repository', cleanRepositoryText, { keepIndent: true, collapseInline: false }),
  generic: makeCleaner('generic', cleanGenericText, { keepIndent: true, collapseInline: true }),
};

/** The cleaner for a category; categories without a dedicated cleaner get the generic one. */
export function cleanerFor(category: string): Cleaner {
  return Object.hasOwn(CLEANERS, category) ? CLEANERS[category as CleanerName] : CLEANERS.generic;
}

/** Titles: tags stripped, entities decoded, one line, masked. Empty after cleaning → null. */
export function cleanTitle(title: string | null | undefined): string | null {
  if (title === null || title === undefined) return null;
  let t = normalizeCharacters(title);
  t = t.includes('<') ? htmlToText(t) : decodeEntities(t);
  t = normalizeCharacters(t).replace(/\s+/g, ' ').trim();
  const masked = maskSensitive(t);
  return masked === '' ? null : masked;
}
