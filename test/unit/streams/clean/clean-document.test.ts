import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cleanedDocumentSchema } from '../../../../schemas/cleaned.ts';
import type { RawDocument } from '../../../../schemas/content.ts';
import { cleanDocument, cleanerFor, cleanTitle } from '../../../../streams/clean/index.ts';

const meta = { version: 7, sourceTsMs: 1_700_000_000_000, nowMs: 1_700_000_000_500 };
const raw = (over: Partial<RawDocument>): RawDocument => ({ _id: 'doc-1', category: 'article', author: 'ada', content: 'x', ...over });

describe('cleanDocument', () => {
  it('produces a valid cleaned document with the sha256 of the cleaned text', () => {
    const doc = cleanDocument(raw({ content: '<p>Hello&nbsp;<b>world</b></p>', title: ' <em>Big</em> &amp; bold ', url: 'https://ex.com/a?utm_source=x&id=3' }), meta);
    expect(cleanedDocumentSchema.parse(doc)).toEqual(doc);
    expect(doc).toMatchObject({ docId: 'doc-1', version: 7, category: 'article', author: 'ada', title: 'Big & bold', url: 'https://ex.com/a?id=3', text: 'Hello world' });
    expect(doc.contentHash).toBe(createHash('sha256').update('Hello world').digest('hex'));
    expect(doc.sourceTsMs).toBe(meta.sourceTsMs);
    expect(doc.cleanedAtMs).toBe(meta.nowMs);
  });

  it('is deterministic and the hash depends on the cleaned text only', () => {
    const a = cleanDocument(raw({ content: 'Same   text.\r\n' }), meta);
    const b = cleanDocument(raw({ _id: 'other', content: 'Same text.' }), { ...meta, nowMs: 1 });
    expect(a.contentHash).toBe(b.contentHash);
    expect(cleanDocument(raw({ content: 'Same   text.\r\n' }), meta)).toEqual(a);
  });

  it('masks PII in the title too, and a title that cleans to nothing becomes null', () => {
    expect(cleanTitle('Call +44 20 7946 0958 or mail bob@example.org')).toBe('Call [PHONE] or mail [EMAIL]');
    expect(cleanTitle('  <span> </span>\u200b ')).toBeNull();
    expect(cleanTitle(undefined)).toBeNull();
  });

  it('keeps empty content empty', () => {
    expect(cleanDocument(raw({ content: '' }), meta).text).toBe('');
  });
});

describe('cleanerFor', () => {
  it('picks the dedicated cleaner for known categories and the generic one otherwise', () => {
    expect(cleanerFor('article').name).toBe('article');
    expect(cleanerFor('post').name).toBe('post');
    expect(cleanerFor('repository').name).toBe('repository');
    expect(cleanerFor('newsletter').name).toBe('generic');
    expect(cleanerFor('constructor').name).toBe('generic');
  });
});

describe('shared normalisation (every category)', () => {
  it.each(['article', 'post', 'repository', 'notes'])('%s: NFKC, invisible characters, line endings, masking last', (category) => {
    const input = 'ｆｕｌｌ\u200Bwidth ﬁle\u00A0here\u202E.\r\nNext\x07 line: ops@example.com\r\n\r\n\r\n\r\nEnd';
    const out = cleanerFor(category).clean(input);
    expect(out).toBe('fullwidth file here.\nNext line: [EMAIL]\n\nEnd');
  });

  it('keeps joiners inside emoji sequences and Indic words, drops them elsewhere', () => {
    const family = '👩\u200D💻';
    const hindi = 'क्\u200Dष';
    expect(cleanerFor('post').clean(`${family} pass\u200Dword ${hindi}`)).toBe(`${family} password ${hindi}`);
  });
});

describe('article cleaner', () => {
  const html = `<!doctype html><html><head><title>T</title><style>body{color:red}</style></head><body>
    <nav><a href="/">Home</a> | <a href="/about">About</a></nav>
    <article><h1>Big &amp; Bold</h1>
      <p>Hello   <b>world</b>&nbsp;&mdash; this is &lt;fine&gt;.</p>
      <script>alert("x")</script>
      <ul><li>one</li><li>two <a href="https://ex.com/?utm_source=x&amp;id=3">link</a></li></ul>
      <pre><code class="language-python">def f():
    return 1  # &lt;ok&gt;
</code></pre>
      <p>Subscribe to our newsletter</p>
      <p>We use cookies to improve your experience. Accept all cookies.</p>
      <p>Readers who subscribe to many newsletters read fewer of them.</p>
    </article><footer>© 2024 Example Corp. All rights reserved.</footer></body></html>`;

  it('renders HTML as structured text without scripts, styles, navigation or boilerplate', () => {
    expect(cleanerFor('article').clean(html)).toBe([
      '# Big & Bold',
      '',
      'Hello world — this is <fine>.',
      '',
      '- one',
      '- two link',
      '',
      '```python',
      'def f():',
      '    return 1  # <ok>',
      '```',
      '',
      'Readers who subscribe to many newsletters read fewer of them.',
    ].join('\n'));
  });

  it('keeps markdown structure, reduces links and images to their text, and leaves code alone', () => {
    const md = '# Title\n\nSome   text with ![a chart](x.png) and [a link](http://x.com).\n\n```js\nconst  x =   1;\n\tif (x) {\n\n    y(\'<b>\');\n\t}\n```\n\nShare this article\n\n[1]: http://example.com/ref';
    expect(cleanerFor('article').clean(md)).toBe("# Title\n\nSome text with a chart and a link.\n\n```js\nconst  x =   1;\n\tif (x) {\n\n    y('<b>');\n\t}\n```");
  });
});

describe('post cleaner', () => {
  it('separates glued hashtags, de-duplicates the trailing run, collapses emoji runs, strips tracking parameters', () => {
    const post = 'Shipped it!!! 🔥🔥🔥🔥🔥 #AI#ML\n\nhttps://x.com/u/status/1?s=20&t=abc https://ex.com/p?utm_medium=social&page=2 thanks @alice@mastodon.social #ai #AI #Rust #rust';
    expect(cleanerFor('post').clean(post)).toBe('Shipped it!!! 🔥 #AI #ML\n\nhttps://x.com/u/status/1 https://ex.com/p?page=2 thanks @alice@mastodon.social #ai #Rust');
  });

  it('keeps at most three distinct emoji in a run', () => {
    expect(cleanerFor('post').clean('wow 😀😁😂🤣😃 ok')).toBe('wow 😀😁😂 ok');
  });

  it('renders HTML posts (ActivityPub) to text', () => {
    expect(cleanerFor('post').clean('<p>Hello <a href="https://m.social/tags/rust" class="hashtag">#<span>rust</span></a></p><p>Bye</p>')).toBe('Hello #rust\n\nBye');
  });
});

describe('repository cleaner', () => {
  const readme = [
    '<p align="center"><img src="logo.png" alt="Logo"></p>',
    '',
    '# proj [![CI](https://github.com/o/r/actions/workflows/ci.yml/badge.svg)](https://github.com/o/r/actions) [![npm](https://img.shields.io/npm/v/proj.svg)](https://npm.im/proj)',
    '<!-- markdownlint-disable -->',
    'Use `Array<T>` and Vec<T>. See ![diagram](docs/arch.png).',
    '',
    '    indented  code   block',
    '',
    '```ts',
    'function  f<T>(x: T): T {',
    '\treturn   x; // <b>not a tag</b> &amp;',
    '}',
    '```',
  ].join('\n');

  it('drops badges, comments and inline HTML but keeps code, alignment and indentation byte-for-byte', () => {
    expect(cleanerFor('repository').clean(readme)).toBe([
      'Logo',
      '',
      '# proj',
      '',
      'Use `Array<T>` and Vec<T>. See ![diagram](docs/arch.png).',
      '',
      '    indented  code   block',
      '',
      '```ts',
      'function  f<T>(x: T): T {',
      '\treturn   x; // <b>not a tag</b> &amp;',
      '}',
      '```',
    ].join('\n'));
  });

  it('masks secrets inside code too', () => {
    expect(cleanerFor('repository').clean('```sh\nexport GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345\n```')).toBe('```sh\nexport GITHUB_TOKEN=[SECRET]\n```');
  });
});

describe('generic cleaner', () => {
  it('renders HTML documents and keeps plain text paragraphs', () => {
    expect(cleanerFor('notes').clean('<div><h2>Note</h2><p>First&nbsp;line<br>second line</p></div>')).toBe('## Note\n\nFirst line\nsecond line');
    expect(cleanerFor('notes').clean('Para one   has  spaces.\n\n\n\nPara <i>two</i>.')).toBe('Para one has spaces.\n\nPara two.');
  });
});

describe('cleaners on adversarial input', () => {
  it('stay fast (no quadratic scans)', () => {
    const nasty = [
      '<script>'.repeat(5_000),
      '<a title="'.repeat(5_000),
      '<!--'.repeat(5_000),
      '#tag '.repeat(20_000) + 'end',
      '🔥 '.repeat(20_000),
      '&amp'.repeat(10_000),
      '```\n'.repeat(2_000),
    ].join('\n');
    for (const category of ['article', 'post', 'repository', 'notes']) {
      const t0 = performance.now();
      cleanerFor(category).clean(nasty);
      expect(performance.now() - t0, category).toBeLessThan(2000);
    }
  });
});

describe('HTML detection', () => {
  it('keeps markdown structure when a markdown article starts with an HTML tag', () => {
    const md = '<p align="center"><img src="x.png" alt="Banner"></p>\n\n# Title\n\n- one\n- two\n\n```sh\nnpm   i\n```';
    expect(cleanerFor('article').clean(md)).toBe('Banner\n\n# Title\n\n- one\n- two\n\n```sh\nnpm   i\n```');
  });
});
