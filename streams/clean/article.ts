/**
 * Articles: HTML pages or markdown-ish text. HTML is rendered to structured text (scripts, styles,
 * navigation and footers dropped); markdown keeps its structure with inline HTML, image and link
 * markup reduced to their text; standalone boilerplate lines (subscribe prompts, cookie banners,
 * share bars) are removed where the whole line is boilerplate.
 */
import { htmlToText, looksLikeHtmlDocument, mapOutsideCode, stripInlineHtml } from './html.ts';
import { closesFence, fenceOpening } from './normalize.ts';

const MARKDOWN_IMAGE = /!\[([^\]\n]{0,300})\]\([^)\s]{0,2000}(?:\s+"[^"\n]{0,300}")?\)/g;
const MARKDOWN_LINK = /\[([^\]\n]{1,300})\]\([^)\s]{0,2000}(?:\s+"[^"\n]{0,300}")?\)/g;
const LINK_REFERENCE_DEFINITION = /^ {0,3}\[[^\]\n]{1,300}\]:\s*\S+(?:\s+["'(].*["')])?\s*$/;

/** Whole-line boilerplate. Each pattern is anchored at both ends so prose that merely mentions these words is kept. */
const BOILERPLATE_LINES: readonly RegExp[] = [
  /^(?:subscribe|sign up|sign in|log in|login|register|join)(?: now| today| for free| here| free)?(?: (?:to|for) (?:our|the|my) (?:free )?(?:newsletter|mailing list|channel|blog|podcast|updates|daily digest|weekly digest)[^.!?]{0,60})?[.!]?$/i,
  /^(?:share|share this(?: article| post| story)?|share on (?:twitter|x|facebook|linkedin|reddit|whatsapp|email)|tweet|pin it|email this)[:.!]?$/i,
  /^(?:follow us(?: on [\w ,&]{1,60})?|like us on facebook|click here to (?:subscribe|read more|learn more)|read more|continue reading|advertisement|sponsored(?: content)?|skip to (?:main )?content|back to top|print(?: this (?:page|article))?|related (?:articles|posts|stories)|recommended for you|you may also like|more from [\w .'-]{1,40}|comments|leave a comment|loading\.{0,3})[:.!]?$/i,
  /^(?:©|\(c\)|copyright)\s*(?:©\s*)?\d{4}(?:\s*[-–]\s*\d{4})?[\w .,&'-]{0,80}$/i,
  /^(?:©|\(c\)|copyright)[^\n]{0,80}all rights reserved\.?$/i,
  /^all rights reserved\.?$/i,
];
const COOKIE_LINE = /\bcookies?\b/i;
const COOKIE_BANNER = /\b(?:we use cookies|this (?:web)?site uses cookies|uses cookies to|accept (?:all )?cookies|cookie (?:policy|settings|preferences|consent|notice)|manage cookies|by (?:continuing|using this site)[^.]{0,80}\bcookies?)\b/i;

function isBoilerplateLine(line: string): boolean {
  const t = line.trim().replace(/^[#>*\-\s]+/, '').replace(/[*_]+/g, '').trim();
  if (t.length === 0 || t.length > 300) return false;
  if (COOKIE_LINE.test(t) && COOKIE_BANNER.test(t) && t.length <= 300) return true;
  if (t.length > 120) return false;
  return BOILERPLATE_LINES.some((re) => re.test(t));
}

/** Drops boilerplate lines and link reference definitions outside fenced code. */
function dropBoilerplateLines(text: string): string {
  const out: string[] = [];
  let fence: string | undefined;
  for (const line of text.split('\n')) {
    if (fence !== undefined) {
      out.push(line);
      if (closesFence(line, fence)) fence = undefined;
      continue;
    }
    const opening = fenceOpening(line);
    if (opening !== undefined) {
      fence = opening;
      out.push(line);
      continue;
    }
    if (isBoilerplateLine(line) || LINK_REFERENCE_DEFINITION.test(line)) continue;
    out.push(line);
  }
  return out.join('\n');
}

function simplifyMarkdown(segment: string): string {
  return stripInlineHtml(segment)
    .replace(MARKDOWN_IMAGE, (_m: string, alt: string) => alt.trim())
    .replace(MARKDOWN_LINK, (_m: string, label: string) => label);
}

/** Category step for "article" (shared normalisation and masking run around it). */
export function cleanArticleText(text: string): string {
  const structured = looksLikeHtmlDocument(text)
    ? htmlToText(text, { dropBoilerplate: true })
    : mapOutsideCode(text, simplifyMarkdown);
  return dropBoilerplateLines(structured);
}
