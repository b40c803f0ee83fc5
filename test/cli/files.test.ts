import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  batchItems, collectFiles, decodeText, documentUrl, extractTitle, fileToItems, inferCategory, loadItems, relativeId,
} from '../../cli/files.ts';

describe('inferCategory', () => {
  it.each([
    ['notes.md', 'article'], ['README.markdown', 'article'], ['page.HTML', 'article'], ['a.txt', 'article'], ['guide.rst', 'article'],
    ['src/main.ts', 'repository'], ['lib/x.py', 'repository'], ['cmd/main.go', 'repository'], ['schema.sql', 'repository'],
    ['config.yaml', 'repository'], ['Dockerfile', 'repository'], ['Makefile', 'repository'], ['data.json', 'repository'],
    ['photo.png', null], ['archive.zip', null], ['LICENSE', null],
  ])('%s → %s', (name, category) => {
    expect(inferCategory(name)).toBe(category);
  });
});

describe('extractTitle', () => {
  it('takes the first ATX heading, without trailing hashes or inline markup', () => {
    expect(extractTitle('intro\n\n## Getting **started** ##\n# Later', 'a.md')).toBe('Getting started');
    expect(extractTitle('# [Tributary](https://x) `cli`\n', 'a.md')).toBe('Tributary cli');
  });

  it('takes a setext heading, and ignores headings inside fenced code', () => {
    expect(extractTitle('```bash\n# a shell comment\n```\n\nReal Title\n==========\n', 'a.md')).toBe('Real Title');
    expect(extractTitle('~~~\n# no\n~~~\nSub title\n---------\n', 'a.md')).toBe('Sub title');
    expect(extractTitle('para\n\n---\n\ntext', 'notes.md')).toBe('notes.md');
  });

  it('prefers a front-matter title', () => {
    expect(extractTitle('---\nlayout: post\ntitle: "Quoted Title"\n---\n# Heading\n', 'a.md')).toBe('Quoted Title');
  });

  it('reads <title> or the first <h1> of HTML, decoding entities', () => {
    expect(extractTitle('<html><head><title> Lag &amp; Freshness </title></head></html>', 'p.html')).toBe('Lag & Freshness');
    expect(extractTitle('<body><h1 class="x">HNSW <em>in</em> practice</h1></body>', 'p.htm')).toBe('HNSW in practice');
  });

  it('falls back to the file name, and never reads "#" comments in code as headings', () => {
    expect(extractTitle('# comment\nprint(1)\n', 'src/tool.py')).toBe('tool.py');
    expect(extractTitle('just text', 'docs/plain.txt')).toBe('plain.txt');
  });
});

describe('fileToItems', () => {
  const defaults = { author: 'Ada', source: 'cli' };

  it('makes one document per plain file: externalId = relative path, title, inferred category', () => {
    const r = fileToItems({ relPath: 'docs/intro.md', text: '# Intro\nHello', bytes: 13 }, defaults);
    expect(r.items).toEqual([{ item: { category: 'article', author: 'Ada', title: 'Intro', content: '# Intro\nHello', source: 'cli', externalId: 'docs/intro.md' }, label: 'docs/intro.md', bytes: 13 }]);
  });

  it('uses --category over the extension and --url as a base for links', () => {
    const r = fileToItems({ relPath: 'src/my file.ts', text: 'export {}', bytes: 9 }, { ...defaults, category: 'snippet', urlBase: 'https://git.example.com/r/blob/main' });
    expect(r.items[0]!.item).toMatchObject({ category: 'snippet', url: 'https://git.example.com/r/blob/main/src/my%20file.ts' });
  });

  it('links only files inside the current directory', () => {
    const r = fileToItems({ relPath: '/elsewhere/notes.md', text: '# N', bytes: 3 }, { ...defaults, urlBase: 'https://x.example/' });
    expect(r.items[0]!.item.url).toBeUndefined();
  });

  it('skips unknown file types and empty files with a reason', () => {
    expect(fileToItems({ relPath: 'a.png', text: 'x', bytes: 1 }, defaults).skipped).toMatch(/unknown file type ".png" \(pass --category/);
    expect(fileToItems({ relPath: 'a.md', text: '  \n', bytes: 3 }, defaults).skipped).toBe('empty file');
  });

  it('turns a JSON file of items into one document per item, as given, validating each', () => {
    const text = JSON.stringify([
      { category: 'paper', author: 'Lars', title: 'RRF', content: 'fusion', externalId: 'rrf' },
      { category: 'post', content: 'no author: the default applies' },
      { category: 'Not Valid', author: 'X', content: 'c' },
    ]);
    const r = fileToItems({ relPath: 'corpus/items.json', text, bytes: text.length }, defaults);
    expect(r.items.map((i) => i.item)).toEqual([
      { category: 'paper', author: 'Lars', title: 'RRF', content: 'fusion', externalId: 'rrf', source: 'cli' },
      { category: 'post', author: 'Ada', content: 'no author: the default applies', externalId: 'corpus/items.json#1', source: 'cli' },
    ]);
    expect(r.items.map((i) => i.label)).toEqual(['corpus/items.json#rrf', 'corpus/items.json#1']);
    expect(r.invalid).toHaveLength(1);
    expect(r.invalid[0]!.error).toMatch(/^category: category must be lower-case/);
  });

  it('accepts {items: [...]} and a single item object; other JSON is a repository file', () => {
    const wrapped = JSON.stringify({ items: [{ category: 'post', author: 'A', content: 'x' }] });
    expect(fileToItems({ relPath: 'w.json', text: wrapped, bytes: 1 }, defaults).items).toHaveLength(1);
    const single = JSON.stringify({ category: 'post', author: 'A', content: 'x' });
    expect(fileToItems({ relPath: 's.json', text: single, bytes: 1 }, defaults).items[0]!.item.category).toBe('post');
    const pkg = fileToItems({ relPath: 'package.json', text: '{"name":"x"}', bytes: 12 }, defaults);
    expect(pkg.items[0]!.item).toMatchObject({ category: 'repository', title: 'package.json', externalId: 'package.json' });
  });
});

describe('batchItems', () => {
  const size = (n: number) => n;
  it('splits by count', () => {
    expect(batchItems([1, 1, 1, 1, 1], size, { maxItems: 2, maxBytes: 100 })).toEqual([[1, 1], [1, 1], [1]]);
  });
  it('splits by bytes, an oversize item going alone, order kept', () => {
    expect(batchItems([4, 4, 4, 20, 1, 1], size, { maxItems: 10, maxBytes: 10 })).toEqual([[4, 4], [4], [20], [1, 1]]);
  });
  it('returns no batches for no items', () => {
    expect(batchItems([], size, { maxItems: 10, maxBytes: 10 })).toEqual([]);
  });
});

describe('decodeText, documentUrl, relativeId', () => {
  it('rejects binary and invalid UTF-8', () => {
    expect(decodeText(new Uint8Array([104, 0, 105]))).toEqual({ skipped: 'binary file' });
    expect(decodeText(new Uint8Array([0xff, 0xfe, 0x41]))).toEqual({ skipped: 'not valid UTF-8' });
    expect(decodeText(new TextEncoder().encode('héllo'))).toEqual({ text: 'héllo', bytes: 6 });
  });
  it('joins a base URL and a path', () => {
    expect(documentUrl('https://x.example/a', 'b/c d.md')).toBe('https://x.example/a/b/c%20d.md');
    expect(documentUrl('https://x.example/a/', 'b.md')).toBe('https://x.example/a/b.md');
  });
  it('gives POSIX relative paths inside cwd and absolute ones outside', () => {
    expect(relativeId('/repo/docs/a.md', '/repo')).toBe('docs/a.md');
    expect(relativeId('/elsewhere/a.md', '/repo')).toBe('/elsewhere/a.md');
  });
});

describe('collectFiles and loadItems', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tributary-cli-'));
    await mkdir(join(dir, 'docs/sub'), { recursive: true });
    await mkdir(join(dir, 'node_modules/pkg'), { recursive: true });
    await writeFile(join(dir, 'docs/a.md'), '# A\ntext');
    await writeFile(join(dir, 'docs/sub/b.md'), 'B\n===\ntext');
    await writeFile(join(dir, 'docs/sub/c.py'), 'print(1)');
    await writeFile(join(dir, 'docs/logo.png'), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0]));
    await writeFile(join(dir, 'node_modules/pkg/readme.md'), '# dependency');
  });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('expands globs, directories and file names; skips node_modules; reports what matched nothing', async () => {
    const r = await collectFiles(['**/*.md', 'docs/sub', 'docs/a.md', 'missing/*.txt'], dir);
    expect(r.files.map((f) => relativeId(f, dir))).toEqual(['docs/a.md', 'docs/sub/b.md', 'docs/sub/c.py']);
    expect(r.unmatched).toEqual(['missing/*.txt']);
  });

  it('reads files into items and reports skipped ones', async () => {
    const { files } = await collectFiles(['docs'], dir);
    const loaded = await loadItems(files, dir, { author: 'Ada', source: 'cli' });
    expect(loaded.items.map((i) => [i.item.externalId, i.item.category, i.item.title])).toEqual([
      ['docs/a.md', 'article', 'A'], ['docs/sub/b.md', 'article', 'B'], ['docs/sub/c.py', 'repository', 'c.py'],
    ]);
    expect(loaded.skipped).toEqual([{ label: 'docs/logo.png', reason: 'binary file' }]);
  });
});
