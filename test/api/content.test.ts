import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness } from '../helpers/api-system.ts';

type ErrorBody = { error: { code: string; message: string; details?: Array<{ path: string; message: string }> } };

function paths(body: ErrorBody): string[] {
  return (body.error.details ?? []).map((d) => d.path);
}

const item = (over: Record<string, unknown> = {}) => ({ category: 'article', author: 'Alice', content: 'Kafka keeps records in partitions.', ...over });

describe('content API', () => {
  let h: ApiHarness;
  beforeEach(async () => { h = await startApiHarness({ config: { bodyLimitBytes: 64 * 1024 } }); });
  afterEach(async () => { await h.close(); });

  const post = (payload: unknown) => h.app.inject({ method: 'POST', url: '/v1/content', payload: payload as object });

  it('stores one document and returns its id; the raw document reads back as sent', async () => {
    const res = await post(item({ title: 'Partitions', url: 'https://example.com/p', metadata: { lang: 'en' } }));
    expect(res.statusCode).toBe(202);
    const { ids } = res.json() as { ids: string[] };
    expect(ids).toHaveLength(1);
    const got = await h.app.inject({ method: 'GET', url: `/v1/content/${ids[0]}` });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ _id: ids[0], category: 'article', author: 'Alice', content: 'Kafka keeps records in partitions.', title: 'Partitions', url: 'https://example.com/p', metadata: { lang: 'en' } });
  });

  it('gives the same id for the same source + externalId', async () => {
    const a = (await post(item({ source: 'blog', externalId: 'p-1' }))).json() as { ids: string[] };
    const b = (await post(item({ source: 'blog', externalId: 'p-1', content: 'edited' }))).json() as { ids: string[] };
    const c = (await post(item({ source: 'blog', externalId: 'p-2' }))).json() as { ids: string[] };
    expect(a.ids[0]).toBe(b.ids[0]);
    expect(c.ids[0]).not.toBe(a.ids[0]);
    expect(await h.system.store.count()).toBe(2);
  });

  it('stores a batch and returns ids in order', async () => {
    const res = await post({ items: [item({ externalId: 'a', source: 's' }), item({ author: 'Bob', category: 'post' }), item({ category: 'recipe' })] });
    expect(res.statusCode).toBe(202);
    const { ids } = res.json() as { ids: string[] };
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    expect(await h.system.store.count()).toBe(3);
    expect(((await h.app.inject({ method: 'GET', url: `/v1/content/${ids[1]}` })).json() as { author: string }).author).toBe('Bob');
  });

  it('writes nothing when one item of a batch is bad, and names the bad fields of that item', async () => {
    await post(item());
    const before = await h.system.store.count();
    const res = await post({ items: [item(), item({ author: 42, content: '' }), item()] });
    expect(res.statusCode).toBe(400);
    const body = res.json() as ErrorBody;
    expect(body.error.code).toBe('INVALID_INPUT');
    expect(paths(body)).toEqual(expect.arrayContaining(['items.1.author', 'items.1.content']));
    expect(paths(body).every((p) => p.startsWith('items.1.'))).toBe(true);
    expect(await h.system.store.count()).toBe(before);
  });

  it('names every missing field', async () => {
    const res = await post({});
    expect(res.statusCode).toBe(400);
    const body = res.json() as ErrorBody;
    expect(body.error.code).toBe('INVALID_INPUT');
    expect(paths(body).sort()).toEqual(['author', 'category', 'content']);
    expect(body.error.details!.every((d) => d.message === 'is required')).toBe(true);
  });

  it('names every field of the wrong type, and unknown fields', async () => {
    const res = await post({ category: 7, author: ['x'], content: true, title: 5, colour: 'red' });
    expect(res.statusCode).toBe(400);
    const body = res.json() as ErrorBody;
    expect(paths(body).sort()).toEqual(['author', 'category', 'colour', 'content', 'title']);
    expect(body.error.details!.find((d) => d.path === 'colour')!.message).toBe('unknown field');
  });

  it('rejects a bad url and an empty batch, naming the field', async () => {
    const bad = await post(item({ url: 'not a url' }));
    expect(bad.statusCode).toBe(400);
    expect(paths(bad.json() as ErrorBody)).toEqual(['url']);
    const empty = await post({ items: [] });
    expect(empty.statusCode).toBe(400);
    expect(paths(empty.json() as ErrorBody)).toEqual(['items']);
  });

  it('accepts a well-formed unknown category and rejects ill-formed ones naming `category`', async () => {
    const ok = await post(item({ category: 'podcast-transcript' }));
    expect(ok.statusCode).toBe(202);
    for (const category of ['Art icle!', '', 'Article', '9lives']) {
      const res = await post(item({ category }));
      expect(res.statusCode, category).toBe(400);
      expect(paths(res.json() as ErrorBody), category).toEqual(['category']);
    }
    expect(await h.system.store.count()).toBe(1);
  });

  it('refuses a body over the limit with 413 and writes nothing', async () => {
    const res = await post(item({ content: 'x'.repeat(100 * 1024) }));
    expect(res.statusCode).toBe(413);
    const body = res.json() as ErrorBody;
    expect(body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(body.error.message).toMatch(/65536-byte limit/);
    expect(await h.system.store.count()).toBe(0);
  });

  it('refuses invalid UTF-8 with 400 INVALID_UTF8 instead of storing replacement characters', async () => {
    const json = Buffer.from(JSON.stringify(item({ content: 'caf__' })));
    const at = json.indexOf('__');
    json[at] = 0xc3; // a lead byte…
    json[at + 1] = 0x28; // …followed by a non-continuation byte
    const res = await h.app.inject({ method: 'POST', url: '/v1/content', payload: json, headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(400);
    const body = res.json() as ErrorBody & { error: { details: { byteOffset: number } } };
    expect(body.error.code).toBe('INVALID_UTF8');
    expect(body.error.details.byteOffset).toBe(at);
    expect(await h.system.store.count()).toBe(0);
  });

  it('stores valid multi-byte UTF-8 unchanged', async () => {
    const content = 'Grüße, 東京, emoji 🚀';
    const res = await h.app.inject({ method: 'POST', url: '/v1/content', payload: Buffer.from(JSON.stringify(item({ content }))), headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(res.statusCode).toBe(202);
    const id = (res.json() as { ids: string[] }).ids[0];
    expect(((await h.app.inject({ method: 'GET', url: `/v1/content/${id}` })).json() as { content: string }).content).toBe(content);
  });

  it('refuses malformed JSON with 400', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/v1/content', payload: '{"category": "article",', headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(400);
    const body = res.json() as ErrorBody;
    expect(body.error.code).toBe('INVALID_INPUT');
    expect(body.error.message).toMatch(/not valid JSON/);
  });

  it('refuses other content types with 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1']) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/content', payload: 'category=article', headers: { 'content-type': type } });
      expect(res.statusCode, type).toBe(415);
      expect((res.json() as ErrorBody).error.code, type).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('refuses prototype-polluting keys', async () => {
    const payload = '{"category":"article","author":"a","content":"x","metadata":{"__proto__":{"polluted":true}}}';
    const res = await h.app.inject({ method: 'POST', url: '/v1/content', payload, headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(400);
    expect((res.json() as ErrorBody).error.message).toMatch(/__proto__/);
    expect(await h.system.store.count()).toBe(0);
  });

  it('refuses a missing body naming it', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/v1/content' });
    expect(res.statusCode).toBe(400);
    expect(paths(res.json() as ErrorBody)).toEqual(['body']);
  });

  it('reads, deletes and 404s', async () => {
    const missing = await h.app.inject({ method: 'GET', url: '/v1/content/nope' });
    expect(missing.statusCode).toBe(404);
    expect((missing.json() as ErrorBody).error.code).toBe('NOT_FOUND');
    const delMissing = await h.app.inject({ method: 'DELETE', url: '/v1/content/nope' });
    expect(delMissing.statusCode).toBe(404);
    expect((delMissing.json() as ErrorBody).error.code).toBe('NOT_FOUND');

    const id = ((await post(item())).json() as { ids: string[] }).ids[0]!;
    const del = await h.app.inject({ method: 'DELETE', url: `/v1/content/${id}` });
    expect(del.statusCode).toBe(202);
    expect(del.json()).toEqual({ id, deleted: true });
    expect((await h.app.inject({ method: 'GET', url: `/v1/content/${id}` })).statusCode).toBe(404);
    expect((await h.app.inject({ method: 'DELETE', url: `/v1/content/${id}` })).statusCode).toBe(404);
  });

  it('answers unknown routes with the error shape', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v1/nothing-here' });
    expect(res.statusCode).toBe(404);
    expect((res.json() as ErrorBody).error.code).toBe('NOT_FOUND');
  });

  it('a path parameter too long is a 400 naming it; one past the router\'s limit a 414; bad percent-encoding a 400; all in the error shape', async () => {
    const long = await h.app.inject({ method: 'GET', url: `/v1/content/${'x'.repeat(201)}` });
    expect(long.statusCode).toBe(400);
    expect(paths(long.json() as ErrorBody)).toEqual(['id']);
    const tooLong = await h.app.inject({ method: 'GET', url: `/v1/content/${'x'.repeat(3000)}` });
    expect(tooLong.statusCode).toBe(414);
    expect(tooLong.json()).toMatchObject({ error: { code: 'INVALID_INPUT', message: expect.stringContaining('longer than 2048 characters') } });
    const badEncoding = await h.app.inject({ method: 'GET', url: '/v1/content/%E0%A4' });
    expect(badEncoding.statusCode).toBe(400);
    expect((badEncoding.json() as ErrorBody).error.code).toBe('INVALID_INPUT');
  });

  it('a method a path does not answer is a 405 listing those it does', async () => {
    const res = await h.app.inject({ method: 'PUT', url: '/v1/content/some-id', payload: item() });
    expect(res.statusCode).toBe(405);
    expect(res.headers['allow']).toBe('DELETE, GET, HEAD');
    expect(res.json()).toMatchObject({ error: { code: 'NOT_FOUND', details: { allowed: ['DELETE', 'GET', 'HEAD'] } } });
    expect((await h.app.inject({ method: 'PATCH', url: '/v1/nothing-here' })).statusCode).toBe(404);
  });
});
