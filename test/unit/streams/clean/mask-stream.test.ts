import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maskSensitive } from '../../../../streams/clean/mask.ts';
import { STREAM_HOLD_LIMIT, StreamMasker } from '../../../../streams/clean/mask-stream.ts';

/** Every kind of text the ingestion masker knows (masked or deliberately left alone), each within the hold limit. */
const PATTERNS: readonly string[] = [
  // e-mail, plain and obfuscated
  'jane.doe@example.com', '<john.smith+news@mail.co.uk>', 'UPPER_CASE-99@Sub.Domain.ORG.', 'jane [at] example [dot] com',
  'ops (at) mail (dot) example (dot) org', 'git@github.com:owner/repo.git', 'icon@2x.png', 'npm i lodash@4.17.21',
  // phone numbers, with and without a cue
  '+1 415 555 2671', '+44 20 7946 0958', '+49 (0)30 12345678', '+14155552671', '(415) 555-2671', '415-555-2671', '415.555.2671',
  '1-800-555-0199', 'UK 020 7946 0958', 'FR 01 23 45 67 89', 'DE 030/12345678', 'JP 090-1234-5678', 'Tel: 5551234',
  'call me at 07700900123', 'phone no. 555 1234 567', 'Call us on 7700 900 123',
  // ordinary numbers
  'Founded in 1998, revenue grew 12% by 2024.', 'Version 2.10.3 (build 20240115) fixes #1234.', 'Population 331 449 281',
  'Hosts 192.168.0.1 and 10.0.0.254:8080', 'ISBN 978-3-16-148410-0', 'port 8080',
  // secrets
  'sk-proj-abc123DEF456ghi789JKL012mno345pqr', 'sk-AbCdEf1234567890AbCdEf1234567890AbCdEf12', 'AKIAIOSFODNN7EXAMPLE',
  `ghp_${'a1B2c3D4e5'.repeat(4)}`, 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123',
  'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx', 'AIzaSyA-1234567890abcdefghijklmnopqrstu', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
  'OPENAI_API_KEY=abcd1234efgh5678', 'api_key: 9f86d081884c7d659a2feaa0c55ad015', 'api_key = s3cr3tValue99',
  '{"client_secret": "Zq8-xY7_wV6uT5sR4"}', "githubToken = 'Abc123Def456Ghi789'", 'password: hunter22', 'password : hunter22',
  '"password": "correct horse battery staple"', "db_password = 'open sesame 42'",
  'Authorization: Bearer abc.def.ghi123456789xyz', 'Authorization: Basic dXNlcjpwYXNzd29yZDEyMw==', 'authorization = Token abcd1234efgh',
  'Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi1234567890abc', 'postgres://admin:s3cr3t@db.example.com:5432/app', 'Zx9Qw7Er5Ty3Ui1Op2As4Df6Gh8Jk0L',
  '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq9\nQ2hG0x+Zr/9==\n-----END RSA PRIVATE KEY-----',
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----',
  'https://b.s3.amazonaws.com/k?X-Amz-Signature=3f9aB7c2D1e0F4a5b6C7&X-Amz-Expires=300',
  // near misses
  'max_tokens: 256', 'token: string', 'password: ********', 'apiKey: config.apiKey', 'api_key = "<your-api-key>"',
  'The secret: patience.', 'Use a bearer token in production.', 'Authorization: required for every endpoint',
  'commit da39a3ee5e6b4b0d3255bfef95601890afd80709', 'the token is', 'my password is',
];

const WORDS = ['the', 'key', 'is', 'Kafka', 'call', 'me', 'at', 'password', 'token', 'Bearer', 'and', '(see', 'docs)', '42', '1998', 'at:', 'phone', '[at]', 'x'];
const SEPARATORS = [' ', ' ', ' ', '\n', ', ', '. ', ': ', '\n\n', '  ', '\t'];

const text = fc.array(fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PATTERNS) },
  { weight: 2, arbitrary: fc.constantFrom(...WORDS) },
), { minLength: 1, maxLength: 12 }).chain((parts) =>
  fc.array(fc.constantFrom(...SEPARATORS), { minLength: parts.length, maxLength: parts.length })
    .map((seps) => parts.map((p, i) => p + seps[i]).join('').trimEnd()));

/** Splits `s` at the given cut points (any positions, duplicates allowed). */
function split(s: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % (s.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const c of at) { pieces.push(s.slice(from, c)); from = c; }
  pieces.push(s.slice(from));
  return pieces;
}

function stream(pieces: readonly string[]): { out: string; masker: StreamMasker } {
  const masker = new StreamMasker();
  const out = pieces.map((p) => masker.push(p)).join('') + masker.end();
  return { out, masker };
}

describe('StreamMasker: the masked stream equals the masked whole, whatever the split', () => {
  it('for random texts of every pattern, cut at random points', () => {
    fc.assert(fc.property(text, fc.array(fc.nat(), { maxLength: 40 }), (s, cuts) => {
      expect(stream(split(s, cuts)).out).toBe(maskSensitive(s));
    }), { numRuns: 3000 });
  });

  it('one character at a time', () => {
    fc.assert(fc.property(text, (s) => {
      expect(stream([...s]).out).toBe(maskSensitive(s));
    }), { numRuns: 500 });
  });

  it('in sub-word pieces of 1–4 characters, as real servers stream', () => {
    fc.assert(fc.property(text, fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 20 }), (s, sizes) => {
      const pieces: string[] = [];
      for (let i = 0, k = 0; i < s.length; k++) { const n = sizes[k % sizes.length]!; pieces.push(s.slice(i, i + n)); i += n; }
      expect(stream(pieces).out).toBe(maskSensitive(s));
    }), { numRuns: 1000 });
  });

  it('counts the masks it put in, not those already in the text', () => {
    const s = 'Mail [EMAIL] or jane.doe@example.com, password: hunter22, call +44 20 7946 0958.';
    const { out, masker } = stream([...s]);
    expect(out).toBe('Mail [EMAIL] or [EMAIL], password: [SECRET], call [PHONE].');
    expect(masker.masked).toBe(3);
  });
});

describe('StreamMasker: what it holds back', () => {
  it('releases prose a word behind, and holds a secret cue until its value is known', () => {
    const m = new StreamMasker();
    expect(m.push('The first sentence ')).toBe('The first ');
    expect(m.push('ends. The password')).toBe('sentence ends. The ');
    expect(m.push(' : ')).toBe('');
    expect(m.push('"open ')).toBe('');
    expect(m.push('sesame"')).toBe('');
    expect(m.push(' ok')).toBe('password : "[SECRET]" ');
    expect(m.end()).toBe('ok');
  });

  it('holds a phone number with spaces, and the keyword before it, until it ends', () => {
    const m = new StreamMasker();
    expect(m.push('or call me at 555 ')).toBe('or ');
    expect(m.push('123 4567')).toBe('');
    expect(m.push(' today')).toBe('call me at [PHONE] ');
    expect(m.end()).toBe('today');
  });

  it('never holds more than the limit, and past it masks a pending secret value to its end', () => {
    const value = Array.from({ length: 120 }, (_, i) => `w${i}`).join(' ');
    const m = new StreamMasker();
    let out = '';
    for (const ch of `config: password = "${value}" done`) {
      out += m.push(ch);
      expect(m.holding).toBeLessThanOrEqual(STREAM_HOLD_LIMIT);
    }
    out += m.end();
    expect(out).toBe('config: password = "[SECRET]" done');
    expect(m.masked).toBe(1);
  });

  it('masks a PEM key longer than the limit up to its END line, and releases what follows', () => {
    const body = Array.from({ length: 26 }, (_, i) => `MIIEpAIBAAKCAQEA7bq9Q2hG0x+Zr/9${String(i).padStart(2, '0')}abcdefghijklmnopqrstuvwxyz0123==`).join('\n');
    const pem = `-----BEGIN RSA PRIVATE KEY-----\n${body}\n-----END RSA PRIVATE KEY-----`;
    const s = `Here it is:\n${pem}\nKeep it safe.`;
    for (const size of [1, 3, 7, 64]) {
      const pieces = s.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g'))!;
      const { out } = stream(pieces);
      expect(out).toBe(maskSensitive(s));
      expect(out).toBe('Here it is:\n[SECRET]\nKeep it safe.');
    }
  });

  it('a token or key longer than the limit is masked to the end of its word', () => {
    const jwt = `eyJhbGciOiJIUzI1NiJ9.${'eyJzdWIiOiIxMjM0NTY3ODkwIn0'.repeat(12)}.${'dozjgNryP4J3jVmNHl0w5N'.repeat(3)}`;
    for (const s of [`token ${jwt} end`, `Authorization: Bearer ${jwt} end`, `api_key=${'a1B2c3'.repeat(60)} end`]) {
      const { out } = stream([...s]);
      expect(out).toMatch(/\[SECRET\] end$/);
      expect(out).not.toContain('eyJzdWIi');
      expect(out).not.toContain('a1B2c3');
    }
  });

  it('no secret value of any length is released, whatever the split', () => {
    const secretValue = fc.stringMatching(/^[0-9][A-Za-z0-9]{5,19}( [A-Za-z0-9]{6,20}){0,60}$/);
    fc.assert(fc.property(secretValue, fc.constantFrom('password: "', "DB_PASSWORD='", '"passphrase": "'), fc.array(fc.nat(), { maxLength: 60 }), (v, cue, cuts) => {
      const quote = cue.endsWith("'") ? "'" : '"';
      const s = `before ${cue}${v}${quote} after`;
      const { out } = stream(split(s, cuts));
      for (const word of v.split(' ')) expect(out).not.toContain(word);
    }), { numRuns: 300 });
  });
});
