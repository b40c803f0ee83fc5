import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../cli/client.ts';
import { ExitCodes } from '../../cli/errors.ts';
import type { PreparedItem } from '../../cli/files.ts';
import { countOutcomes, uploadItems } from '../../cli/upload.ts';
import { startFakeApi, type FakeApi } from './fake-api.ts';
import { runCli } from './helpers.ts';

let api: FakeApi;
let dir: string;
const env = () => ({ TRIBUTARY_URL: api.url, USER: 'tester' });

beforeAll(async () => {
  api = await startFakeApi();
  dir = await mkdtemp(join(tmpdir(), 'tributary-cli-cmd-'));
});
afterAll(async () => {
  await api.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => api.reset());

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const item = (i: number, content = `content ${i}`): PreparedItem => ({
  item: { category: 'post', author: 'A', content, source: 'test', externalId: `doc-${i}` },
  label: `doc-${i}`,
  bytes: content.length,
});

describe('uploadItems', () => {
  const noSleep = async () => {};

  it('sends {items} in batches and counts what was accepted', async () => {
    const r = await uploadItems({ client: new ApiClient(api.url), items: [1, 2, 3, 4, 5].map((i) => item(i)), batch: { maxItems: 2, maxBytes: 1e6 }, sleep: noSleep });
    expect(api.requests.map((q) => (q.body as { items: unknown[] }).items.length)).toEqual([2, 2, 1]);
    expect(r).toMatchObject({ sent: 5, accepted: 5, requests: 3, failures: [], interrupted: false, outcomes: { accepted: 5 } });
    expect(api.documents.size).toBe(5);
  });

  it('retries retryable answers, waiting as long as Retry-After says', async () => {
    api.failNext('/v1/content', 503, 'STORE_UNAVAILABLE', 2, { 'retry-after': '1' });
    const waits: number[] = [];
    const r = await uploadItems({ client: new ApiClient(api.url), items: [item(1)], batch: { maxItems: 10, maxBytes: 1e6 }, sleep: async (ms) => { waits.push(ms); } });
    expect(waits).toEqual([1000, 1000]);
    expect(r).toMatchObject({ accepted: 1, requests: 3, failures: [] });
  });

  it('gives up after the attempts and reports the server message for each document', async () => {
    api.failNext('/v1/content', 503, 'STORE_UNAVAILABLE', 10);
    const r = await uploadItems({ client: new ApiClient(api.url), items: [item(1), item(2)], batch: { maxItems: 10, maxBytes: 1e6 }, sleep: noSleep, retry: { attempts: 3, baseMs: 1, maxMs: 1 } });
    expect(r.accepted).toBe(0);
    expect(r.requests).toBe(3);
    expect(r.failures.map((f) => [f.label, f.error])).toEqual([
      ['doc-1', 'STORE_UNAVAILABLE (HTTP 503): injected STORE_UNAVAILABLE'],
      ['doc-2', 'STORE_UNAVAILABLE (HTTP 503): injected STORE_UNAVAILABLE'],
    ]);
  });

  it('splits a rejected batch until the bad document is isolated, so the others get in', async () => {
    const items = [1, 2, 3, 4, 5, 6].map((i) => item(i));
    items[3] = { ...items[3]!, item: { ...items[3]!.item, content: '' } }; // the server rejects empty content
    const r = await uploadItems({ client: new ApiClient(api.url), items, batch: { maxItems: 6, maxBytes: 1e6 }, sleep: noSleep });
    expect(r.accepted).toBe(5);
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]).toMatchObject({ label: 'doc-4', error: 'INVALID_INPUT (HTTP 400): invalid request body', details: ['items.0.content: content must not be empty'] });
    expect([...api.documents.values()].map((d) => d.externalId).sort()).toEqual(['doc-1', 'doc-2', 'doc-3', 'doc-5', 'doc-6']);
  });

  it('counts per-document outcomes when the server reports them', () => {
    const into: Record<string, number> = {};
    countOutcomes({ results: [{ outcome: 'created' }, { outcome: 'unchanged' }, { outcome: 'created' }] }, 3, into);
    countOutcomes({ created: 1, updated: 2 }, 3, into);
    countOutcomes({ ids: ['a', 'b'] }, 2, into);
    expect(into).toEqual({ created: 3, unchanged: 1, updated: 2, accepted: 2 });
  });

  it('stops between batches when aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    const r = await uploadItems({ client: new ApiClient(api.url), items: [item(1)], batch: { maxItems: 1, maxBytes: 1e6 }, signal: ac.signal });
    expect(r).toMatchObject({ sent: 0, interrupted: true });
  });
});

describe('tributary ingest', () => {
  it('publishes files with inferred categories and titles, and prints a summary', async () => {
    await writeFile(join(dir, 'guide.md'), '# The Guide\nRead me.');
    await writeFile(join(dir, 'tool.py'), 'print("hi")');
    const r = await runCli(['ingest', '*.md', '*.py', '--source', 'docs', '--batch', '1'], { env: env(), cwd: dir });
    expect(r.stderr).toContain('2 files → 2 documents');
    expect(r.stdout).toMatch(/^Published 2 documents \(\d+ B\) in .*, 2 requests\n/);
    expect(r.code).toBe(ExitCodes.ok);
    const sent = api.requests.flatMap((q) => (q.body as { items: unknown[] }).items);
    expect(sent).toEqual([
      { category: 'article', author: 'tester', title: 'The Guide', content: '# The Guide\nRead me.', source: 'docs', externalId: 'guide.md' },
      { category: 'repository', author: 'tester', title: 'tool.py', content: 'print("hi")', source: 'docs', externalId: 'tool.py' },
    ]);
  });

  it('fails (exit 1) listing the documents the server rejected, with its message', async () => {
    await writeFile(join(dir, 'items.json'), JSON.stringify([{ category: 'post', author: 'A', content: 'ok', externalId: 'a' }, { category: 'post', author: 'A', content: 'big', externalId: 'b' }]));
    // the batch is too large → split; the first half goes in, the second is too large alone
    api.failNext('/v1/content', 413, 'PAYLOAD_TOO_LARGE', 1);
    const r1 = await runCli(['ingest', 'items.json'], { env: env(), cwd: dir });
    expect(r1.code).toBe(ExitCodes.ok);
    expect(api.requests.map((q) => (q.body as { items: unknown[] }).items.length)).toEqual([2, 1, 1]);

    api.reset();
    api.failNext('/v1/content', 422, 'SCHEMA_VIOLATION', 3);
    const r2 = await runCli(['ingest', 'items.json'], { env: env(), cwd: dir });
    expect(r2.code).toBe(ExitCodes.failure);
    expect(r2.stdout).toContain('2 documents failed:\n  items.json#a: SCHEMA_VIOLATION (HTTP 422): injected SCHEMA_VIOLATION\n  items.json#b: SCHEMA_VIOLATION');
  });

  it('says what to do when no file matches', async () => {
    const r = await runCli(['ingest', 'nothing-*.md'], { env: env(), cwd: dir });
    expect(r.code).toBe(ExitCodes.usage);
    expect(r.stderr).toContain('warning: nothing matches "nothing-*.md"');
    expect(r.stderr).toContain('error: no files to ingest');
  });

  it('validates options before reading anything', async () => {
    expect((await runCli(['ingest', 'x', '--category', 'Bad Name'], { env: env(), cwd: dir })).stderr).toMatch(/--category "Bad Name": category must be lower-case/);
    expect((await runCli(['ingest', 'x', '--url', 'not a url'], { env: env(), cwd: dir })).stderr).toMatch(/--url must be an absolute URL/);
    expect((await runCli(['ingest', 'x', '--batch', '5000'], { env: env(), cwd: dir })).stderr).toMatch(/--batch must be a whole number from 1 to 1000/);
  });
});

describe('HTTP commands', () => {
  it('search sends the query, k and filter, and prints numbered hits', async () => {
    await runCli(['ingest', 'guide.md'], { env: env(), cwd: dir });
    const r = await runCli(['search', 'guide', '-k', '3', '--category', 'article', '--author', 'tester', '--author', 'other'], { env: env() });
    expect(r.code).toBe(0);
    expect(api.requests.at(-1)!.body).toEqual({ query: 'guide', k: 3, filter: { category: 'article', author: ['tester', 'other'] } });
    expect(r.stdout).toMatch(/^1 result for "guide"\s+\(category=article author=tester\|other\)/);
    expect(r.stdout).toMatch(/ {2}1 {2}The Guide {2}article · tester · 1\.0000/);
  });

  it('search --json prints the response as is', async () => {
    const r = await runCli(['search', 'nothing here', '--json'], { env: env() });
    expect(JSON.parse(r.stdout)).toEqual({ hits: [] });
  });

  it('ask prints the answer, its sources, and says when it is extractive', async () => {
    await runCli(['ingest', 'guide.md'], { env: env(), cwd: dir });
    const r = await runCli(['ask', 'what is in the guide?', '--no-expand'], { env: env() });
    expect(r.code).toBe(0);
    expect(api.requests.at(-1)!.body).toEqual({ query: 'what is in the guide?', expand: false });
    expect(r.stdout).toContain('Sources\n  [1] The Guide');
    expect(r.stderr).toContain('Extractive answer: no LLM is configured');
    expect(r.stderr).toContain('steps: selfQuery – (no LLM)');
  });

  it('ask --stream writes the deltas as they come, then the sources', async () => {
    await runCli(['ingest', 'guide.md'], { env: env(), cwd: dir });
    const r = await runCli(['ask', 'guide', '--stream'], { env: env() });
    expect(r.code).toBe(0);
    expect(api.requests.at(-1)!.body).toEqual({ query: 'guide', stream: true });
    expect(r.stdout).toMatch(/^Extractive answer: # The Guide\nRead me\. \[1\]\n\nSources\n {2}\[1\] The Guide/);
  });

  it('ask --stream fails (exit 1) when the server reports an error mid-stream', async () => {
    await runCli(['ingest', 'guide.md'], { env: env(), cwd: dir });
    const r = await runCli(['ask', 'guide fail mid-stream', '--stream'], { env: env() });
    expect(r.code).toBe(ExitCodes.failure);
    expect(r.stderr).toContain('error: the answer failed mid-stream: LLM_UNAVAILABLE: upstream went away');
  });

  it('lag prints a table per group, topic and partition', async () => {
    const r = await runCli(['lag'], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^GROUP\s+TOPIC\s+PART\s+COMMITTED\s+END\s+LAG$/);
    expect(r.stdout).toContain('total lag 2 records across 3 partitions');
  });

  it('lag --watch refreshes until interrupted', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 350);
    const r = await runCli(['lag', '--watch', '--interval', '100'], { env: env(), signal: ac.signal });
    expect(r.code).toBe(0);
    expect(r.stdout.match(/total lag/g)!.length).toBeGreaterThanOrEqual(2);
  });

  it('dlq list passes stage and limit, and dlq replay sends sinceMs', async () => {
    const list = await runCli(['dlq', 'list', '--stage', 'clean', '--limit', '5'], { env: env() });
    expect(list.code).toBe(0);
    expect(Object.fromEntries(api.requests.at(-1)!.query)).toEqual({ stage: 'clean', limit: '5' });
    expect(list.stdout).toMatch(/MALFORMED_EVENT/);
    expect(list.stdout).toContain('1 entry, 1 not replayed yet. After fixing the cause, replay them: tributary dlq replay --stage clean');

    const replay = await runCli(['dlq', 'replay', '--stage', 'clean', '--since', '2025-01-01T00:00:00Z'], { env: env() });
    expect(replay.code).toBe(0);
    expect(api.requests.at(-1)!.body).toEqual({ stage: 'clean', sinceMs: Date.UTC(2025, 0, 1) });
    expect(replay.stdout).toMatch(/^Replayed 1 record \(stage clean, since 2025-01-01T00:00:00\.000Z\)\./);
  });

  it('prints the server\'s error body on failure (exit 1)', async () => {
    api.failNext('/v1/search', 503, 'INDEX_UNAVAILABLE');
    const r = await runCli(['search', 'x'], { env: env() });
    expect(r.code).toBe(ExitCodes.failure);
    expect(r.stderr).toBe('error: INDEX_UNAVAILABLE (HTTP 503): injected INDEX_UNAVAILABLE\n');
  });

  it('says Tributary is not running when nothing listens (exit 3)', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await runCli(['lag'], { env: { TRIBUTARY_URL: url } });
    expect(r.code).toBe(ExitCodes.unavailable);
    expect(r.stderr).toBe(`error: Tributary is not running at ${url}; start it with \`npm start\`\n  (or point TRIBUTARY_URL at a running server)\n`);
  });
});

describe('command groups', () => {
  it('`dlq` alone prints its commands on stderr (exit 2); `dlq --help` on stdout (exit 0)', async () => {
    const bare = await runCli(['dlq']);
    expect(bare.code).toBe(ExitCodes.usage);
    expect(bare.stderr).toMatch(/^Usage: tributary dlq <list\|replay>/);
    const help = await runCli(['dlq', '--help']);
    expect(help.code).toBe(ExitCodes.ok);
    expect(help.stdout).toMatch(/^Usage: tributary dlq <list\|replay>/);
    const typo = await runCli(['dlq', 'lst']);
    expect(typo.code).toBe(ExitCodes.usage);
    expect(typo.stderr).toContain('Did you mean `tributary dlq list`?');
  });

  it('`help <command>` shows the command\'s help', async () => {
    const r = await runCli(['help', 'ingest']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: tributary ingest <files or globs\.\.\.> \[options\]/);
  });
});

describe('tributary demo', () => {
  it('loads the corpus, waits until every document is searchable, then prints what to try', async () => {
    api.searchableAfterCalls = 30; // the first rounds of searches find nothing yet
    const r = await runCli(['demo', '--timeout', '30'], { env: env() });
    expect(r.stderr).toMatch(/^Loading 24 documents by 4 authors \(/);
    expect(r.code).toBe(0);
    expect(api.documents.size).toBe(24);
    expect(r.stdout).toMatch(/24 documents by 4 authors searchable/);
    expect(r.stdout).toContain('tributary search "approximate nearest neighbour recall" --category paper');
    const searches = api.requests.filter((q) => q.path === '/v1/search');
    expect(searches.length).toBeGreaterThan(24);
    expect(searches[0]!.body).toMatchObject({ k: 10, filter: { author: expect.any(String), category: expect.any(String) } });
  });

  it('fails with the documents it could not find, and where to look', async () => {
    api.searchableAfterCalls = Number.POSITIVE_INFINITY;
    const r = await runCli(['demo', '--timeout', '1'], { env: env() });
    expect(r.code).toBe(ExitCodes.failure);
    expect(r.stderr).toMatch(/error: 24 documents not searchable after 1\.0 s/);
    expect(r.stderr).toContain('Check the pipeline: tributary lag   and   tributary dlq list');
  });
});
