/**
 * HTML to text without a DOM: a single forward scan (linear time, no backtracking-prone regexes on
 * user content). Document mode renders block structure as markdown-ish text (headings "#",
 * list items "- ", <pre> as fenced code) so the chunker can see structure; inline mode (markdown
 * with embedded HTML) removes known tags and leaves the surrounding whitespace alone.
 */
import { closesFence, fenceOpening } from './normalize.ts';

const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00A0', ensp: '\u2002', emsp: '\u2003', thinsp: '\u2009',
  shy: '\u00AD', zwj: '\u200D', zwnj: '\u200C', lrm: '\u200E', rlm: '\u200F',
  ndash: '–', mdash: '—', hellip: '…', lsquo: '‘', rsquo: '’', sbquo: '‚', ldquo: '“', rdquo: '”', bdquo: '„',
  laquo: '«', raquo: '»', lsaquo: '‹', rsaquo: '›', bull: '•', middot: '·', prime: '′', Prime: '″',
  copy: '©', reg: '®', trade: '™', sect: '§', para: '¶', deg: '°', plusmn: '±', times: '×', divide: '÷',
  micro: 'µ', cent: '¢', pound: '£', yen: '¥', euro: '€', curren: '¤', frac12: '½', frac14: '¼', frac34: '¾',
  sup1: '¹', sup2: '²', sup3: '³', iexcl: '¡', iquest: '¿', dagger: '†', Dagger: '‡', permil: '‰',
  larr: '←', rarr: '→', uarr: '↑', darr: '↓', harr: '↔', rArr: '⇒', lArr: '⇐', hArr: '⇔',
  le: '≤', ge: '≥', ne: '≠', asymp: '≈', infin: '∞', minus: '−', lowast: '∗', radic: '√', sum: '∑', prod: '∏',
  alpha: 'α', beta: 'β', gamma: 'γ', delta: 'δ', epsilon: 'ε', lambda: 'λ', mu: 'μ', pi: 'π', sigma: 'σ', omega: 'ω',
  Delta: 'Δ', Sigma: 'Σ', Omega: 'Ω', check: '✓', star: '☆', hearts: '♥',
  Agrave: 'À', Aacute: 'Á', Acirc: 'Â', Atilde: 'Ã', Auml: 'Ä', Aring: 'Å', AElig: 'Æ', Ccedil: 'Ç',
  Egrave: 'È', Eacute: 'É', Ecirc: 'Ê', Euml: 'Ë', Igrave: 'Ì', Iacute: 'Í', Icirc: 'Î', Iuml: 'Ï',
  Ntilde: 'Ñ', Ograve: 'Ò', Oacute: 'Ó', Ocirc: 'Ô', Otilde: 'Õ', Ouml: 'Ö', Oslash: 'Ø',
  Ugrave: 'Ù', Uacute: 'Ú', Ucirc: 'Û', Uuml: 'Ü', Yacute: 'Ý', szlig: 'ß',
  agrave: 'à', aacute: 'á', acirc: 'â', atilde: 'ã', auml: 'ä', aring: 'å', aelig: 'æ', ccedil: 'ç',
  egrave: 'è', eacute: 'é', ecirc: 'ê', euml: 'ë', igrave: 'ì', iacute: 'í', icirc: 'î', iuml: 'ï',
  ntilde: 'ñ', ograve: 'ò', oacute: 'ó', ocirc: 'ô', otilde: 'õ', ouml: 'ö', oslash: 'ø',
  ugrave: 'ù', uacute: 'ú', ucirc: 'û', uuml: 'ü', yacute: 'ý', yuml: 'ÿ', OElig: 'Œ', oelig: 'œ',
};

const ENTITY = /&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));/g;

function fromCodePoint(cp: number): string {
  if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return '\uFFFD';
  return String.fromCodePoint(cp);
}

/** Decodes named (common set) and numeric character references; unknown names are left as they are. */
export function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(ENTITY, (m: string, dec: string | undefined, hex: string | undefined, name: string | undefined) => {
    if (dec !== undefined) return fromCodePoint(Number.parseInt(dec, 10));
    if (hex !== undefined) return fromCodePoint(Number.parseInt(hex, 16));
    return NAMED_ENTITIES[name!] ?? m;
  });
}

/** Elements removed together with everything inside them. */
const DROP_CONTENT = new Set(['script', 'style', 'noscript', 'template', 'svg', 'head', 'iframe', 'object', 'canvas', 'select', 'textarea']);
/** Page furniture, removed with its content when `dropBoilerplate` is set (articles). */
const BOILERPLATE_CONTENT = new Set(['nav', 'footer', 'aside', 'form', 'button', 'dialog']);
const BLOCK = new Set([
  'address', 'article', 'blockquote', 'body', 'caption', 'center', 'dd', 'details', 'dialog', 'div', 'dl', 'dt', 'fieldset',
  'figcaption', 'figure', 'footer', 'form', 'header', 'hgroup', 'hr', 'html', 'main', 'menu', 'nav', 'ol', 'p', 'section',
  'summary', 'table', 'tbody', 'tfoot', 'thead', 'ul', 'aside', 'picture',
]);

/** Tag names recognised in markdown (inline) mode; anything else that looks like a tag (`Array<T>`) is text. */
export const KNOWN_TAGS = new Set([
  ...DROP_CONTENT, ...BOILERPLATE_CONTENT, ...BLOCK,
  'a', 'abbr', 'b', 'bdi', 'bdo', 'big', 'br', 'cite', 'code', 'col', 'colgroup', 'data', 'del', 'dfn', 'em', 'font', 'h1', 'h2', 'h3',
  'h4', 'h5', 'h6', 'i', 'img', 'input', 'ins', 'kbd', 'label', 'li', 'link', 'mark', 'meta', 'pre', 'q', 's', 'samp', 'small',
  'source', 'span', 'strike', 'strong', 'sub', 'sup', 'td', 'th', 'time', 'title', 'tr', 'tt', 'u', 'var', 'video', 'audio',
  'wbr', 'track', 'area', 'map', 'base', 'body', 'option', 'optgroup', 'output', 'progress', 'meter', 'legend', 'rp', 'rt', 'ruby',
]);

// A tag: name, then attributes (quoted values may contain ">"; nothing may contain "<"), then ">".
const TAG = /<(\/?)([A-Za-z][A-Za-z0-9:-]*)((?:[^<>"']|"[^"<]*"|'[^'<]*')*)>/y;
const LANGUAGE_CLASS = /class\s*=\s*["'][^"']*?\b(?:language|lang)-([A-Za-z0-9_+#.-]{1,30})/i;

export interface HtmlToTextOptions {
  /** Drop nav/footer/aside/form/button content (article page furniture). */
  dropBoilerplate?: boolean;
}

function findClosing(html: string, name: string, from: number): { start: number; end: number } | undefined {
  const re = new RegExp(`</${name}\\s*>`, 'gi');
  re.lastIndex = from;
  const m = re.exec(html);
  return m ? { start: m.index, end: m.index + m[0].length } : undefined;
}

function fenceFor(code: string): string {
  let longest = 0;
  for (const m of code.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
  return '`'.repeat(Math.max(3, longest + 1));
}

/** Removes every tag from a fragment (used inside <pre>, where only text matters). */
function stripAllTags(fragment: string): string {
  let out = '';
  let i = 0;
  while (i < fragment.length) {
    const lt = fragment.indexOf('<', i);
    if (lt < 0) {
      out += fragment.slice(i);
      break;
    }
    out += fragment.slice(i, lt);
    TAG.lastIndex = lt;
    const m = TAG.exec(fragment);
    if (m) {
      i = TAG.lastIndex;
    } else if (fragment.startsWith('<!--', lt)) {
      const end = fragment.indexOf('-->', lt + 4);
      i = end < 0 ? fragment.length : end + 3;
    } else {
      out += '<';
      i = lt + 1;
    }
  }
  return out;
}

/**
 * Renders an HTML document or fragment as text: whitespace collapsed as a browser would, block
 * elements separated by blank lines, headings as "#" lines, list items as "- " lines, <pre> as
 * fenced code with its whitespace intact, and scripts/styles/comments dropped.
 */
export function htmlToText(html: string, options: HtmlToTextOptions = {}): string {
  const out: string[] = [];
  const listStack: Array<{ ordered: boolean; n: number }> = [];
  let i = 0;
  const n = html.length;
  const text = (t: string): void => {
    if (t.length > 0) out.push(decodeEntities(t).replace(/[ \t\n]+/g, ' '));
  };
  while (i < n) {
    const lt = html.indexOf('<', i);
    if (lt < 0) {
      text(html.slice(i));
      break;
    }
    text(html.slice(i, lt));
    if (html.startsWith('<!--', lt)) {
      const end = html.indexOf('-->', lt + 4);
      i = end < 0 ? n : end + 3;
      continue;
    }
    if (html.startsWith('<!', lt) || html.startsWith('<?', lt)) {
      const end = html.indexOf('>', lt + 2);
      i = end < 0 ? n : end + 1;
      continue;
    }
    TAG.lastIndex = lt;
    const m = TAG.exec(html);
    if (!m) {
      text('<');
      i = lt + 1;
      continue;
    }
    i = TAG.lastIndex;
    const closing = m[1] === '/';
    const name = m[2]!.toLowerCase();
    const attrs = m[3] ?? '';
    const selfClosing = attrs.trimEnd().endsWith('/');
    if (!closing && !selfClosing && (DROP_CONTENT.has(name) || (options.dropBoilerplate === true && BOILERPLATE_CONTENT.has(name)))) {
      const close = findClosing(html, name, i);
      i = close ? close.end : n;
      continue;
    }
    if (name === 'pre' && !closing) {
      const close = findClosing(html, 'pre', i);
      const inner = html.slice(i, close ? close.start : n);
      i = close ? close.end : n;
      const lang = LANGUAGE_CLASS.exec(attrs)?.[1] ?? LANGUAGE_CLASS.exec(inner.slice(0, 300))?.[1] ?? '';
      const code = decodeEntities(stripAllTags(inner)).replace(/^\n/, '').replace(/\s+$/, '');
      if (code.length > 0) {
        const fence = fenceFor(code);
        out.push(`\n\n${fence}${lang}\n${code}\n${fence}\n\n`);
      }
      continue;
    }
    if (/^h[1-6]$/.test(name)) {
      out.push(closing ? '\n\n' : `\n\n${'#'.repeat(Number(name[1]))} `);
      continue;
    }
    switch (name) {
      case 'br':
        out.push('\n');
        continue;
      case 'ul':
      case 'ol':
        if (closing) listStack.pop();
        else if (!selfClosing) listStack.push({ ordered: name === 'ol', n: 0 });
        out.push('\n\n');
        continue;
      case 'li': {
        if (closing) continue;
        const list = listStack[listStack.length - 1];
        const indent = '  '.repeat(Math.max(0, listStack.length - 1));
        if (list?.ordered) {
          list.n += 1;
          out.push(`\n${indent}${list.n}. `);
        } else {
          out.push(`\n${indent}- `);
        }
        continue;
      }
      case 'tr':
        out.push('\n');
        continue;
      case 'td':
      case 'th':
        out.push(closing ? ' ' : ' | ');
        continue;
      case 'code':
        // Inline code (block code is handled with <pre>).
        out.push('`');
        continue;
      case 'img': {
        const alt = /\balt\s*=\s*(?:"([^"]*)"|'([^']*)')/i.exec(attrs);
        const altText = alt?.[1] ?? alt?.[2] ?? '';
        if (altText.trim() !== '') text(` ${altText.trim()} `);
        continue;
      }
      default:
        if (BLOCK.has(name)) out.push('\n\n');
    }
  }
  return tidyRendered(out.join(''));
}

/** Trims rendered lines (outside fences) and normalises the "| cell | cell" table lines. */
function tidyRendered(rendered: string): string {
  const lines = rendered.split('\n');
  const result: string[] = [];
  let fence: string | undefined;
  for (const line of lines) {
    if (fence !== undefined) {
      result.push(line);
      if (closesFence(line, fence)) fence = undefined;
      continue;
    }
    const opening = fenceOpening(line);
    if (opening !== undefined) {
      fence = opening;
      result.push(line);
      continue;
    }
    const listIndent = /^( *)(?:- |\d+\. )/.exec(line)?.[1] ?? '';
    let t = line.trim().replace(/ {2,}/g, ' ');
    if (t.startsWith('| ')) t = `${t.replace(/\s*\|\s*$/, '')} |`;
    // Empty inline code pairs left by stripped markup.
    t = t.replace(/``/g, '');
    result.push(t === '' ? '' : listIndent + t);
  }
  return result.join('\n');
}

/**
 * Splits text into code (fenced blocks and inline code spans) and non-code segments and applies
 * `transform` to the non-code ones only. Code is returned byte-for-byte.
 */
export function mapOutsideCode(text: string, transform: (segment: string) => string): string {
  const lines = text.split('\n');
  const parts: string[] = [];
  let prose: string[] = [];
  let fence: string | undefined;
  const flushProse = (): void => {
    if (prose.length === 0) return;
    parts.push(mapOutsideInlineCode(prose.join('\n'), transform));
    prose = [];
  };
  for (const line of lines) {
    if (fence !== undefined) {
      parts.push(line);
      if (closesFence(line, fence)) fence = undefined;
      continue;
    }
    const opening = fenceOpening(line);
    if (opening !== undefined) {
      flushProse();
      fence = opening;
      parts.push(line);
      continue;
    }
    prose.push(line);
  }
  flushProse();
  return parts.join('\n');
}

const INLINE_CODE = /``[^`\n]+``|`[^`\n]+`/g;

function mapOutsideInlineCode(text: string, transform: (segment: string) => string): string {
  if (!text.includes('`')) return transform(text);
  let out = '';
  let last = 0;
  for (const m of text.matchAll(INLINE_CODE)) {
    out += transform(text.slice(last, m.index)) + m[0];
    last = m.index + m[0].length;
  }
  return out + transform(text.slice(last));
}

/**
 * Markdown mode: removes HTML comments, drop-content elements (script, style…) and known tags,
 * keeping the surrounding text and whitespace; decodes entities. Unknown "tags" (`Vec<T>`,
 * `<your-token>`) are left as text. Apply outside code only (see mapOutsideCode).
 */
export function stripInlineHtml(text: string): string {
  if (!text.includes('<')) return decodeEntities(text);
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const lt = text.indexOf('<', i);
    if (lt < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, lt);
    if (text.startsWith('<!--', lt)) {
      const end = text.indexOf('-->', lt + 4);
      i = end < 0 ? n : end + 3;
      continue;
    }
    TAG.lastIndex = lt;
    const m = TAG.exec(text);
    const name = m?.[2]?.toLowerCase();
    if (!m || name === undefined || !KNOWN_TAGS.has(name)) {
      out += '<';
      i = lt + 1;
      continue;
    }
    i = TAG.lastIndex;
    const closing = m[1] === '/';
    const selfClosing = (m[3] ?? '').trimEnd().endsWith('/');
    if (!closing && !selfClosing && DROP_CONTENT.has(name) && name !== 'head') {
      const close = findClosing(text, name, i);
      i = close ? close.end : n;
      continue;
    }
    if (name === 'br' || name === 'hr' || (BLOCK.has(name) && name !== 'picture')) out += '\n';
    else if (name === 'img') {
      const alt = /\balt\s*=\s*(?:"([^"]*)"|'([^']*)')/i.exec(m[3] ?? '');
      const altText = (alt?.[1] ?? alt?.[2] ?? '').trim();
      if (altText !== '') out += altText;
    }
  }
  return decodeEntities(out);
}

const HTML_DOCUMENT_START = /^\s*(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])/i;
const FRAGMENT_START = /^\s*(?:<!--|<(?:article|div|p|section|main|header|h[1-6]|span|table|ul|ol|blockquote|figure|pre)[\s>/])/i;
const MARKDOWN_STRUCTURE = /^ {0,3}(?:```|~~~|#{1,6} \S)/m;
const CLOSING_BLOCK = /<\/(?:p|div|li|h[1-6]|td|tr|section|article|blockquote|ul|ol|span|a)\s*>/gi;

/** True if the text is an HTML document or fragment (as opposed to markdown or plain text with a few tags). */
export function looksLikeHtmlDocument(text: string): boolean {
  if (HTML_DOCUMENT_START.test(text)) return true;
  // Markdown with some HTML in it (a centred logo, a <details> block) keeps its line structure.
  if (MARKDOWN_STRUCTURE.test(text)) return false;
  if (FRAGMENT_START.test(text)) return true;
  let closers = 0;
  CLOSING_BLOCK.lastIndex = 0;
  while (CLOSING_BLOCK.exec(text) !== null) {
    closers += 1;
    if (closers >= 3) return true;
  }
  return false;
}
