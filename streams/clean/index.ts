/** Clean stage: raw document → cleaned, normalised, masked text. Pure; no I/O. */
export { cleanDocument, contentHashOf, type CleanMeta } from './clean-document.ts';
export { cleanerFor, cleanTitle, type Cleaner, type CleanerName } from './cleaner.ts';
export { maskSensitive, isHighEntropySecret, EMAIL_MASK, PHONE_MASK, SECRET_MASK } from './mask.ts';
export { normalizeCharacters, normalizeWhitespace, removeInvisible, normalizeUnicode } from './normalize.ts';
export { htmlToText, stripInlineHtml, decodeEntities } from './html.ts';
export { stripTrackingParams, stripTrackingFromUrl } from './urls.ts';
