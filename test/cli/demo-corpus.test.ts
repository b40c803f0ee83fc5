import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_CORPUS_DIR, DEMO_NEXT_STEPS } from '../../cli/commands/demo.ts';
import { contentItemSchema, type ContentItem } from '../../schemas/content.ts';

async function corpus(): Promise<ContentItem[]> {
  const files = (await readdir(DEMO_CORPUS_DIR)).filter((f) => f.endsWith('.json')).sort();
  const items: ContentItem[] = [];
  for (const f of files) items.push(...(JSON.parse(await readFile(join(DEMO_CORPUS_DIR, f), 'utf8')) as ContentItem[]));
  return items;
}

describe('demo corpus', () => {
  it('has about two dozen valid documents, four authors, four categories, unique ids', async () => {
    const items = await corpus();
    expect(items).toHaveLength(24);
    for (const it of items) expect(contentItemSchema.safeParse(it).success, it.externalId).toBe(true);
    expect(new Set(items.map((i) => i.author)).size).toBe(4);
    expect([...new Set(items.map((i) => i.category))].sort()).toEqual(['article', 'paper', 'post', 'repository']);
    expect(new Set(items.map((i) => i.externalId)).size).toBe(items.length);
    expect(items.every((i) => i.source === 'demo' && i.title && i.url)).toBe(true);
  });

  it('shows off the cleaners: HTML articles, code blocks in repositories, e-mails and a fake key to mask', async () => {
    const items = await corpus();
    expect(items.filter((i) => i.category === 'article').every((i) => /<h1>/.test(i.content))).toBe(true);
    expect(items.filter((i) => i.category === 'repository').every((i) => i.content.includes('```'))).toBe(true);
    const all = items.map((i) => i.content).join('\n');
    expect(all).toMatch(/sk-test-[A-Za-z0-9]{20,}/);
    expect(all.match(/[a-z.]+@example\.(com|org)/g)!.length).toBeGreaterThanOrEqual(2);
  });

  it('the suggested commands filter on authors and categories that exist', async () => {
    const items = await corpus();
    const authors = new Set(items.map((i) => i.author));
    const categories = new Set(items.map((i) => i.category));
    for (const [args] of DEMO_NEXT_STEPS) {
      const author = /--author "([^"]+)"/.exec(args)?.[1];
      const category = /--category (\S+)/.exec(args)?.[1];
      if (author) expect(authors).toContain(author);
      if (category) expect(categories).toContain(category);
    }
  });
});
