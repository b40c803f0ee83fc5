/**
 * Removes click-tracking query parameters from URLs in text. A URL without tracking parameters
 * is returned exactly as written; one that cannot be parsed is left alone.
 */

const TRACKING_PARAMS = new Set([
  'fbclid', 'gclid', 'gclsrc', 'dclid', 'gbraid', 'wbraid', 'msclkid', 'yclid', 'twclid', 'ttclid', 'li_fat_id',
  'mc_cid', 'mc_eid', 'igshid', 'igsh', 'ref_src', 'ref_url', '_hsenc', '_hsmi', '__hstc', '__hssc', '__hsfp', 'hsctatracking',
  'mkt_tok', 'oly_anon_id', 'oly_enc_id', 'vero_id', 'vero_conv', '_ga', '_gl', 'spm', 'scm', 'trk', 'trkcampaign',
  'sc_campaign', 'sc_channel', 'sc_content', 'sc_medium', 'sc_outcome', 'sc_geo', 'sc_country', 'wt_mc', 'wt.mc_id',
  'cmpid', 'rb_clickid', 's_cid', 'ncid', 'ocid', 'sr_share', 'xmt',
]);
/** Parameters that are tracking only on particular hosts (elsewhere `s` or `t` can mean anything). */
const HOST_TRACKING_PARAMS: ReadonlyArray<readonly [RegExp, ReadonlySet<string>]> = [
  [/(^|\.)(twitter|x)\.com$/i, new Set(['s', 't', 'src'])],
  [/(^|\.)(youtube\.com|youtu\.be|spotify\.com)$/i, new Set(['si', 'feature', 'pp'])],
  [/(^|\.)(instagram|threads)\.(com|net)$/i, new Set(['img_index'])],
  [/(^|\.)google\.[a-z.]+$/i, new Set(['ved', 'ei', 'usg', 'sa', 'sca_esv', 'sxsrf', 'source'])],
  [/(^|\.)linkedin\.com$/i, new Set(['trackingid', 'lipi', 'rcm'])],
  [/(^|\.)amazon\.[a-z.]+$/i, new Set(['tag', 'ref', 'ref_', 'pf_rd_p', 'pf_rd_r', 'pd_rd_w', 'pd_rd_wg', 'pd_rd_r', 'linkcode', 'linkid', 'camp', 'creative'])],
];

// Stops at whitespace, quotes, angle brackets and backticks; trailing punctuation is trimmed below.
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"'`\\]+/gi;

function isTracking(name: string, host: string): boolean {
  const key = name.toLowerCase();
  if (key.startsWith('utm_') || key.startsWith('pk_') || key.startsWith('mtm_') || TRACKING_PARAMS.has(key)) return true;
  for (const [hostPattern, params] of HOST_TRACKING_PARAMS) {
    if (hostPattern.test(host) && params.has(key)) return true;
  }
  return false;
}

/** A URL with its tracking parameters removed, or the input if it has none (or does not parse). */
export function stripTrackingFromUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  const hashAt = url.indexOf('#', q);
  const query = url.slice(q + 1, hashAt < 0 ? url.length : hashAt);
  const kept = query.split('&').filter((pair) => {
    if (pair === '') return false;
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    let name = rawName;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      // keep the raw name
    }
    return !isTracking(name, parsed.hostname);
  });
  if (kept.length === query.split('&').filter((p) => p !== '').length) return url;
  const fragment = hashAt < 0 ? '' : url.slice(hashAt);
  return url.slice(0, q) + (kept.length > 0 ? `?${kept.join('&')}` : '') + fragment;
}

/** Applies stripTrackingFromUrl to every http(s) URL in the text. */
export function stripTrackingParams(text: string): string {
  if (!text.includes('?')) return text;
  return text.replace(URL_IN_TEXT, (match: string) => {
    // Trailing sentence punctuation and an unbalanced closing bracket are not part of the URL.
    let end = match.length;
    while (end > 0 && /[.,;:!?*_~]/.test(match[end - 1]!)) end -= 1;
    let url = match.slice(0, end);
    for (const [open, close] of [['(', ')'], ['[', ']']] as const) {
      while (url.endsWith(close) && count(url, close) > count(url, open)) url = url.slice(0, -1);
    }
    return stripTrackingFromUrl(url) + match.slice(url.length);
  });
}

function count(s: string, ch: string): number {
  let c = 0;
  for (let i = s.indexOf(ch); i >= 0; i = s.indexOf(ch, i + 1)) c += 1;
  return c;
}
