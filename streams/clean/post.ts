/**
 * Social posts: HTML (e.g. ActivityPub content) rendered to text, glued hashtags separated, a
 * trailing hashtag run de-duplicated, and emoji runs collapsed (🔥🔥🔥🔥 → 🔥; long mixed runs
 * keep their first three). Mentions are kept as written: "@alice@mastodon.social" is a public
 * handle, and the e-mail mask deliberately does not match it.
 */
import { htmlToText, looksLikeHtmlDocument, mapOutsideCode, stripInlineHtml } from './html.ts';

const TAG_CHARS = String.raw`[\p{L}\p{M}\p{N}_]`;
/** "#one#two#three" at a word start → "#one #two #three". */
const GLUED_HASHTAGS = new RegExp(String.raw`(?<![\p{L}\p{M}\p{N}_&/#])#${TAG_CHARS}+(?:#${TAG_CHARS}+)+`, 'gu');
const WHOLE_HASHTAG = new RegExp(String.raw`^#${TAG_CHARS}+$`, 'u');
const HASHTAG = new RegExp(String.raw`#${TAG_CHARS}+`, 'gu');

const EMOJI = String.raw`(?:\p{Regional_Indicator}{2}|\p{Extended_Pictographic}(?:\uFE0F|\p{Emoji_Modifier})?(?:\u200D\p{Extended_Pictographic}(?:\uFE0F|\p{Emoji_Modifier})?)*)`;
const EMOJI_RUN = new RegExp(String.raw`${EMOJI}(?:[ ]?${EMOJI})+`, 'gu');
const ONE_EMOJI = new RegExp(EMOJI, 'gu');
const MAX_EMOJI_PER_RUN = 3;

function separateGluedHashtags(text: string): string {
  if (!text.includes('#')) return text;
  return text.replace(GLUED_HASHTAGS, (m: string) => m.split('#').filter((t) => t !== '').map((t) => `#${t}`).join(' '));
}

/** Start offset of the run of hashtags (and whitespace) that ends the text, found by a backward word scan. */
function trailingHashtagStart(text: string): number {
  const parts = text.split(/(\s+)/);
  let start = text.length;
  let sawTag = false;
  for (let k = parts.length - 1; k >= 0; k--) {
    const part = parts[k]!;
    if (part === '' || /^\s+$/.test(part)) {
      start -= part.length;
      continue;
    }
    if (!WHOLE_HASHTAG.test(part)) break;
    start -= part.length;
    sawTag = true;
  }
  return sawTag ? start : -1;
}

/** The hashtag run that ends a post, with repeats (case-insensitive) removed. */
function dedupeTrailingHashtags(text: string): string {
  const start = trailingHashtagStart(text);
  if (start < 0) return text;
  const seen = new Set<string>();
  const tags: string[] = [];
  for (const tag of text.slice(start).match(HASHTAG) ?? []) {
    const key = tag.toLocaleLowerCase('und');
    if (seen.has(key)) continue;
    seen.add(key);
    tags.push(tag);
  }
  const lead = /^\s*/.exec(text.slice(start))![0];
  const sep = lead.includes('\n') ? '\n' : start === 0 ? '' : ' ';
  return `${text.slice(0, start)}${sep}${tags.join(' ')}`;
}

/** Consecutive repeats of one emoji become one; a run keeps at most three emoji. */
export function collapseEmojiRuns(text: string): string {
  return text.replace(EMOJI_RUN, (run: string) => {
    const items = run.match(ONE_EMOJI) ?? [];
    const kept: string[] = [];
    for (const e of items) {
      if (kept[kept.length - 1] !== e) kept.push(e);
    }
    return kept.slice(0, MAX_EMOJI_PER_RUN).join(run.includes(' ') ? ' ' : '');
  });
}

/** Category step for "post" (shared normalisation and masking run around it). */
export function cleanPostText(text: string): string {
  const plain = looksLikeHtmlDocument(text) ? htmlToText(text) : mapOutsideCode(text, stripInlineHtml);
  const normalised = mapOutsideCode(plain, (segment) => collapseEmojiRuns(separateGluedHashtags(segment)));
  return dedupeTrailingHashtags(normalised.replace(/\s+$/, ''));
}
