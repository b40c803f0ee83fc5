/**
 * Any other category: HTML documents are rendered to structured text, anything else keeps its
 * structure with known inline HTML tags removed and entities decoded (code left intact).
 */
import { htmlToText, looksLikeHtmlDocument, mapOutsideCode, stripInlineHtml } from './html.ts';

/** Category step for categories without a dedicated cleaner. */
export function cleanGenericText(text: string): string {
  return looksLikeHtmlDocument(text) ? htmlToText(text) : mapOutsideCode(text, stripInlineHtml);
}
