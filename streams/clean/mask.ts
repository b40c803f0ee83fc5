/**
 * PII and secret masking, applied last to every category (and to titles).
 * e-mail addresses → [EMAIL], phone numbers → [PHONE], credentials and API-key-like tokens → [SECRET].
 *
 * Every pattern is linear-time on adversarial input: no nested quantifiers over the same
 * characters, bounded repetition, and the costlier passes are skipped unless a cheap literal
 * pre-check finds something to look at.
 */

export const EMAIL_MASK = '[EMAIL]';
export const PHONE_MASK = '[PHONE]';
export const SECRET_MASK = '[SECRET]';

// ---- secrets ---------------------------------------------------------------------------------

/** The sources below are shared with the streaming masker (mask-stream.ts), which must know where each pattern can go on. */
export const PEM_BEGIN_SOURCE = '-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----';
export const PEM_END_SOURCE = '-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----';
/** What a key body is made of when no END line follows. */
export const PEM_BODY_CLASS = '[A-Za-z0-9+/=\\s:,.-]';
const PEM_PRIVATE_KEY = new RegExp(`${PEM_BEGIN_SOURCE}(?:[\\s\\S]*?${PEM_END_SOURCE}|${PEM_BODY_CLASS}*)`, 'g');

/** scheme://user:password@host — the password is masked, the rest kept. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]{1,20}:\/\/)([^\s:@/?#[\]]{1,256}):([^\s@/?#[\]]{1,256})@(?=[^\s@])/gi;

const JWT = /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;

/** Vendor key formats with a recognisable prefix. */
const VENDOR_KEYS: readonly RegExp[] = [
  // OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-), Anthropic (sk-ant-api03-), OpenRouter (sk-or-v1-)
  /\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d{2}-|or-v1-)?(?=[A-Za-z0-9_-]{0,200}\d)(?=[A-Za-z0-9_-]{0,200}[A-Za-z])[A-Za-z0-9_-]{20,}/g,
  // AWS access key ids (long-term, temporary, bearer, certificate)
  /\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])/g,
  // GitHub classic, OAuth, user-to-server, server-to-server, refresh; fine-grained PATs
  /\bgh[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9])/g,
  /\bgithub_pat_[A-Za-z0-9_]{22,255}/g,
  // GitLab personal access tokens
  /\bglpat-[A-Za-z0-9_-]{20,}/g,
  // Slack tokens and incoming webhooks
  /\bxox[abposre]-[A-Za-z0-9-]{10,}/g,
  /\bhttps:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9_/]{20,}/g,
  // Google API keys and OAuth access tokens
  /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g,
  /\bya29\.[0-9A-Za-z_-]{20,}/g,
  // Stripe secret / restricted keys and webhook secrets
  /\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}/g,
  /\bwhsec_[A-Za-z0-9+/=]{24,}/g,
  // npm, PyPI, Hugging Face, SendGrid
  /\bnpm_[A-Za-z0-9]{36}(?![A-Za-z0-9])/g,
  /\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}/g,
  /\bhf_[A-Za-z0-9]{30,}(?![A-Za-z0-9])/g,
  /\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g,
];

/** Authorization: Bearer xxx / Basic xxx / bare credential. */
export const AUTH_SCHEMES_SOURCE = 'Bearer|Basic|Token|Digest|ApiKey|Bot';
const AUTHORIZATION_HEADER = new RegExp(`\\b((?:Proxy-)?Authorization["']?\\s*[:=]\\s*["']?)((?:${AUTH_SCHEMES_SOURCE})\\s+)?([^\\s"',;]{8,})`, 'gi');
const BEARER = /\b(Bearer\s+)([A-Za-z0-9._~+/-]{20,}=*)/g;

/** `api_key = "…"`, `GITHUB_TOKEN: …`, `"password": "…"`, `apiKey => '…'`. */
/** A secret's key name, with any prefix (`DB_PASSWORD`, `openai.api_key`). */
export const SECRET_KEY_SOURCE = '(?<![\\w.-])[\\w.-]{0,40}?(?:api[_-]?key|apikey|(?:secret|private|access|auth|signing|encryption|master|license|session)[_-]?key|secret|token|passw(?:or)?d|passphrase|pwd|credentials?|signature|sig)';
/** What separates a key from its value: `=`, `:`, `:=`, `=>`. */
export const ASSIGNMENT_SEPARATOR_SOURCE = '(?::=|=>|[:=])';
const SECRET_ASSIGNMENT = new RegExp(`(${SECRET_KEY_SOURCE})(["']?)(\\s*${ASSIGNMENT_SEPARATOR_SOURCE}\\s*)(?:"([^"\\n]{1,512})"|'([^'\\n]{1,512})'|([^\\s"'\`,;&<>(){}[\\]]{1,512}))`, 'gi');
const ASSIGNMENT_HINT = /key|secret|token|passw|pwd|passphrase|credential|sig/i;
const PASSWORD_KEY = /passw|pwd|passphrase/i;
const PLACEHOLDER = /^(?:\$\{?[\w.:-]*\}?|\{\{.*\}\}|%\w+%|\*+|x{3,}|X{3,}|\.{3,}|…|<.*>|your[\w-]*|my[\w-]*|example[\w-]*|sample[\w-]*|changeme|change[_-]?me|dummy|fake|redacted|placeholder|none|null|nil|undefined|true|false|yes|no|string|str|number|int|integer|bool|boolean|any|unknown|object|bytes|optional|required|secret|password|token|key|env|empty|todo|tbd|n\/a|\[(?:SECRET|EMAIL|PHONE)\])$/i;
const CODE_REFERENCE = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/;

function isLikelySecretValue(keyName: string, value: string): boolean {
  const v = value.trim();
  if (v.length === 0 || PLACEHOLDER.test(v) || CODE_REFERENCE.test(v) || v.includes(SECRET_MASK)) return false;
  if (/^[~.]?\//.test(v)) return false; // a path (`pwd: /home/me`)
  if (PASSWORD_KEY.test(keyName)) return v.length >= 4;
  if (v.length < 8 || /^[\d.,_-]+$/.test(v)) return false; // short, or a number (`token: 256`)
  return /\d/.test(v) || (/[a-z]/.test(v) && /[A-Z]/.test(v)) || /[_\-+/=]/.test(v);
}

// ---- e-mail ----------------------------------------------------------------------------------

const EMAIL = /(?<![\w.+%@-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63})@((?:[A-Za-z0-9-]{1,63}\.){1,8}([A-Za-z]{2,24}))(?![\w-]|\.[A-Za-z0-9])/g;
const OBFUSCATED_EMAIL = /(?<![\w.+-])[\w.+-]{1,64}\s?[[({]at[\])}]\s?[\w-]{1,63}(?:\s?(?:[[({]dot[\])}]|\.)\s?[\w-]{1,63}){1,4}(?![\w-])/gi;
/** "name@2x.png", "pkg@1.2.3.tgz" and friends are files, not addresses. */
const FILE_EXTENSION_TLD = /^(?:png|jpe?g|gif|svg|webp|avif|ico|bmp|js|mjs|cjs|jsx|ts|mts|cts|tsx|css|scss|less|json|md|mdx|txt|py|rb|go|rs|java|kt|swift|html?|xml|ya?ml|toml|lock|sh|zip|gz|tgz|tar|pdf|wasm|map)$/i;

// ---- phone numbers ---------------------------------------------------------------------------

/** +CC, then groups separated by one space, dot or dash (an optional "(0)" or "(area)" group). Or +CC and digits, no separators. */
const PHONE_INTERNATIONAL = /(?<![\w+/=.@-])\+(?:\d{1,3}(?:[ .-]?\(\d{1,4}\))?[ .-]?\d{1,8}(?:[ .-]\d{1,8}){0,5}|\d{10,15})(?![\w]|[.,/-]\d)/g;
/** North American: (415) 555-2671, 415-555-2671, 415.555.2671, 1-800-555-0199 (area and exchange start with 2–9). */
const PHONE_NANP = /(?<![\w+/=.$€£@-])(?:1[ .-]?)?(?:\([2-9]\d{2}\)[ .-]?|[2-9]\d{2}([ .-]))[2-9]\d{2}[ .-]\d{4}(?![\w]|[.,/-]\d)/g;
/** National formats with a trunk "0" and one consistent separator: 020 7946 0958, 01 23 45 67 89, 030/1234567, 090-1234-5678. */
const PHONE_NATIONAL = /(?<![\w+/=.,:$€£@-])(?:\(0\d{1,4}\)|0\d{1,4})([ ./-])\d{2,8}(?:\1\d{2,8}){0,3}(?![\w]|[.,/-]\d)/g;
/** Any 7–15 digit number right after a phone keyword ("Tel: 5551234", "call me at 07700900123"). */
export const PHONE_KEYWORD_SOURCE = '(?:tel(?:ephone)?|phone(?:\\s+(?:number|no\\.?))?|mob(?:ile)?|cell(?:phone)?|fax|whatsapp|sms|call(?:\\s+(?:me|us))?(?:\\s+(?:at|on))?)';
const PHONE_AFTER_KEYWORD = new RegExp(`\\b(${PHONE_KEYWORD_SOURCE}\\.?\\s*(?:[:#-]\\s*)?)(\\+?\\(?\\d[\\d ().-]{5,22}\\d)(?!\\d)`, 'gi');

function digitCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) n += 1;
  }
  return n;
}

function maskInternationalPhone(m: string): string {
  const digits = digitCount(m);
  const groups = m.slice(1).split(/[ .()-]+/).filter((g) => g !== '');
  // "+1 000 000 000" is a quantity, not a number to dial.
  if (groups.filter((g) => /^0{3}$/.test(g)).length >= 2) return m;
  const hasSeparators = groups.length > 1;
  return digits >= (hasSeparators ? 8 : 10) && digits <= 15 ? PHONE_MASK : m;
}

function maskNationalPhone(m: string, sep: string): string {
  const digits = digitCount(m);
  const groups = m.split(sep);
  if (sep === '.' && groups.length === 4 && groups.every((g) => g.length <= 3)) return m; // zero-padded IPv4
  const max = m.startsWith('00') || m.startsWith('(00') ? 15 : 12;
  return digits >= 9 && digits <= max ? PHONE_MASK : m;
}

// ---- long high-entropy tokens ------------------------------------------------------------------

const TOKEN_CANDIDATE = /(?<![\w+/=.@:-])[A-Za-z0-9_+/=-]{24,}(?![\w+/=.@-])/g;

function shannonBitsPerChar(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/**
 * A base64/base62-looking token with letters and digits whose character distribution looks random.
 * Hex strings (git SHAs, content digests, UUIDs) are deliberately NOT masked: they are common,
 * meaningful, and a labelled hex key is still caught by the assignment rule.
 */
export function isHighEntropySecret(token: string): boolean {
  const t = token.replace(/=+$/, '');
  if (t.length < 24) return false;
  if (/^[0-9a-fA-F-]+$/.test(t)) return false;
  if (!/\d/.test(t) || !/[A-Za-z]/.test(t)) return false;
  const hasLower = /[a-z]/.test(t);
  const hasUpper = /[A-Z]/.test(t);
  if (t.includes('/')) {
    // Paths ("src/components/Button2") have word-like segments; base64 rarely does.
    const wordy = t.split('/').filter((seg) => /^[a-z0-9_.-]{2,}$/.test(seg) || /^[A-Z]?[a-z]+(?:[A-Z][a-z]+)*\d*$/.test(seg));
    if (wordy.length >= 2) return false;
  }
  if (!(hasLower && hasUpper) && t.length < 32) return false;
  // identifiers: snake_case / kebab-case words with a number at the end
  if (/^[A-Za-z]+(?:[_-][A-Za-z]+)*[_-]?\d{0,4}$/.test(t)) return false;
  const runs = t.match(/[A-Z]?[a-z]{3,}/g);
  if (runs !== null && runs.join('').length >= t.length * 0.6) return false; // CamelCaseWordsLikeThis2
  const bits = shannonBitsPerChar(t);
  const threshold = Math.min(4.2, Math.log2(t.length) - 0.6);
  return bits >= threshold;
}

// ---- the pass --------------------------------------------------------------------------------

/**
 * `key: value` pairs whose value looks like a secret. A pair whose value does not (`token: "password"`)
 * is skipped past its key only, so a cue inside its value (`token: "password": "hunter22"`) is still read.
 */
function maskAssignments(text: string): string {
  const re = new RegExp(SECRET_ASSIGNMENT.source, SECRET_ASSIGNMENT.flags);
  let out = '';
  let from = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const [whole, key = '', keyQuote = '', sep = '', dq, sq, bare] = m;
    const value = dq ?? sq ?? bare ?? '';
    if (!isLikelySecretValue(key, value)) {
      re.lastIndex = m.index + key.length;
      continue;
    }
    const quote = dq !== undefined ? '"' : sq !== undefined ? "'" : '';
    out += `${text.slice(from, m.index)}${key}${keyQuote}${sep}${quote}${SECRET_MASK}${quote}`;
    from = m.index + whole.length;
  }
  return out + text.slice(from);
}

function maskSecrets(text: string): string {
  let out = text;
  if (out.includes('PRIVATE KEY')) out = out.replace(PEM_PRIVATE_KEY, SECRET_MASK);
  if (out.includes('://')) out = out.replace(URL_CREDENTIALS, (_m: string, scheme: string, user: string) => `${scheme}${user}:${SECRET_MASK}@`);
  if (out.includes('eyJ')) out = out.replace(JWT, SECRET_MASK);
  for (const re of VENDOR_KEYS) out = out.replace(re, SECRET_MASK);
  if (/authorization/i.test(out)) {
    out = out.replace(AUTHORIZATION_HEADER, (m: string, head: string, scheme: string | undefined, cred: string) =>
      isLikelySecretValue('authorization', cred) ? `${head}${scheme ?? ''}${SECRET_MASK}` : m);
  }
  if (out.includes('Bearer')) {
    out = out.replace(BEARER, (m: string, head: string, cred: string) => (/\d/.test(cred) ? `${head}${SECRET_MASK}` : m));
  }
  if (ASSIGNMENT_HINT.test(out)) out = maskAssignments(out);
  return out;
}

const OBFUSCATION_HINT = /[[({]at[\])}]/i;

function maskEmails(text: string): string {
  let out = text;
  if (out.includes('@')) {
    out = out.replace(EMAIL, (m: string, local: string, _domain: string, tld: string) =>
      local.toLowerCase() === 'git' || FILE_EXTENSION_TLD.test(tld) ? m : EMAIL_MASK);
  }
  if (OBFUSCATION_HINT.test(out)) out = out.replace(OBFUSCATED_EMAIL, EMAIL_MASK);
  return out;
}

function maskPhones(text: string): string {
  if (!/\d{2}/.test(text)) return text;
  let out = text;
  if (out.includes('+')) out = out.replace(PHONE_INTERNATIONAL, maskInternationalPhone);
  out = out.replace(PHONE_NANP, (m: string) => (digitCount(m) >= 10 ? PHONE_MASK : m));
  if (out.includes('0')) out = out.replace(PHONE_NATIONAL, (m: string, sep: string) => maskNationalPhone(m, sep));
  out = out.replace(PHONE_AFTER_KEYWORD, (m: string, head: string, num: string) => {
    const d = digitCount(num);
    return d >= 7 && d <= 15 ? `${head}${PHONE_MASK}` : m;
  });
  return out;
}

function maskHighEntropy(text: string): string {
  return text.replace(TOKEN_CANDIDATE, (m: string) => (isHighEntropySecret(m) ? SECRET_MASK : m));
}

/** The patterns whose matches can contain whitespace: a streaming masker must not release text in the middle of one. */
export const WHITESPACE_SPANNING_PATTERNS: readonly RegExp[] = [
  PEM_PRIVATE_KEY, AUTHORIZATION_HEADER, BEARER, SECRET_ASSIGNMENT, OBFUSCATED_EMAIL, PHONE_INTERNATIONAL, PHONE_NANP, PHONE_NATIONAL, PHONE_AFTER_KEYWORD,
];

/**
 * Masks PII and secrets: credentials first (so a key is never half-read as a phone number), then
 * e-mail addresses, phone numbers, and finally long random-looking tokens.
 * Ordinary numbers (years, versions, prices, dates, IPs, quantities) are left alone.
 */
export function maskSensitive(text: string): string {
  if (text.length === 0) return text;
  return maskHighEntropy(maskPhones(maskEmails(maskSecrets(text))));
}
