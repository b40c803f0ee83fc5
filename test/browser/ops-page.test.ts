import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { hashApiKey } from '../../api/auth/api-key-config.ts';
import { toDlqRecord } from '../../consumers/runtime/dlq.ts';
import type { LogRecord } from '../../ports/event-log.ts';
import { CDC_TOPIC, Groups, Topics } from '../../schemas/topics.ts';
import { startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';
import { describeWith } from '../helpers/ci.ts';
import { CHROMIUM_TO_RUN, findChromium } from '../setup/chromium.ts';

/**
 * The operators' page, /ops, in a real browser: Debian's Chromium driven by playwright-core, against
 * the real embedded API listening on a port (API keys on). The page must tell a refused key apart
 * from data, show lag rows turning red when a consumer stalls, replay a DLQ entry from its button,
 * and write every value as text (HTML in a document title and in a DLQ entry runs nothing).
 * Screenshots go to test-results/ops/.
 *
 * Chromium comes from apt: `bash test/setup/fetch-chromium.sh` (.ci/run does it), or
 * TRIBUTARY_TEST_CHROMIUM names a binary (test/setup/chromium.ts). Without one every test is
 * reported as skipped, naming that command; in CI the file fails.
 */

// what the functions evaluated in the page see (the tests are type-checked without the DOM library)
declare const window: { __pwned?: unknown; __csp: string[] };
declare const document: {
  scripts: { length: number };
  addEventListener(type: 'securitypolicyviolation', listener: (e: { violatedDirective: string; blockedURI: string }) => void): void;
};
declare function getComputedStyle(e: unknown): { color: string };
type DomRow = { dataset: Record<string, string | undefined> };

const CHROMIUM = findChromium();

const SHOTS = fileURLToPath(new URL('../../test-results/ops/', import.meta.url));

const KEYS = { admin: 'trb_ops_admin_0123456789abcdef', query: 'trb_ops_query_0123456789abcdef' };
const apiKeys = [
  { name: 'operator', sha256: hashApiKey(KEYS.admin), scopes: ['admin'] },
  { name: 'reader', sha256: hashApiKey(KEYS.query), scopes: ['query'] },
];
const auth = { authorization: `Bearer ${KEYS.admin}` };

/** HTML that runs script if anything on the page writes it as markup. */
const XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';

type DlqEntry = { offset: number; stage: string; code: string; message: string; key: string | null; valuePreview: string | null; pending: boolean; sourceTopic: string };

describeWith({ toRun: CHROMIUM ? null : CHROMIUM_TO_RUN, inCi: 'fail' }, 'the operators\' page /ops in Chromium', () => {
  let browser: Browser;
  let h: ApiHarness | null = null;
  let context: BrowserContext | null = null;
  let problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const started = Date.now();
    // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start
    browser = await chromium.launch({ executablePath: CHROMIUM!, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    console.log(`${execFileSync(CHROMIUM!, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()} started in ${Date.now() - started} ms`);
  });
  afterAll(async () => { await browser?.close(); });
  afterEach(async () => {
    await context?.close();
    context = null;
    await h?.close();
    h = null;
  });

  /** The real embedded API, listening; a fast lag monitor and history sampler so that the page sees changes within seconds. */
  async function serve(opts: { keys?: boolean } = {}): Promise<{ h: ApiHarness; url: string }> {
    h = await startApiHarness({
      config: opts.keys === false ? {} : { apiKeys },
      system: { lagMonitor: { intervalMs: 250, windowSize: 4 } },
      app: { opsHistory: { intervalMs: 500 } },
    });
    const url = await h.app.listen({ host: '127.0.0.1', port: 0 });
    return { h, url };
  }

  /** A page that records uncaught errors, console errors and Content-Security-Policy violations. */
  async function openPage(url: string): Promise<Page> {
    context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) problems.push(`console: ${m.text()}`); });
    await page.addInitScript(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => { window.__csp.push(`${e.violatedDirective}: ${e.blockedURI}`); });
    });
    await page.goto(`${url}/ops`);
    return page;
  }

  async function useKey(page: Page, key: string): Promise<void> {
    await page.fill('#key-input', key);
    await page.click('#key-use');
  }

  async function shot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
  }

  async function publish(items: Array<{ title?: string; content: string }>): Promise<string[]> {
    const res = await h!.app.inject({ method: 'POST', url: '/v1/content', headers: auth, payload: { items: items.map((i) => ({ category: 'post', author: 'ops-test', ...i })) } });
    expect(res.statusCode, res.body).toBe(202);
    return (res.json() as { ids: string[] }).ids;
  }

  async function dlq(): Promise<DlqEntry[]> {
    const res = await h!.app.inject({ method: 'GET', url: '/v1/ops/dlq', headers: auth });
    expect(res.statusCode).toBe(200);
    return (res.json() as { entries: DlqEntry[] }).entries;
  }

  it('serves its shell and assets without a key, with their content types, and charts from uPlot', async () => {
    const { url } = await serve();
    for (const [path, type] of [['/ops', 'text/html'], ['/ops/ops.js', 'text/javascript'], ['/ops/time-axis.js', 'text/javascript'], ['/ops/ops.css', 'text/css'], ['/ops/uplot.js', 'text/javascript'], ['/ops/uplot.css', 'text/css']] as const) {
      const res = await fetch(`${url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(`${type}; charset=utf-8`);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    expect((await fetch(`${url}/ops`)).headers.get('content-security-policy')).toContain("script-src 'self'");
    // the data is not open
    expect((await fetch(`${url}/v1/ops/history`)).status).toBe(401);
  });

  it('asks for a key, says clearly when one is refused (401, 403), and shows the data with the admin key', async () => {
    const { url } = await serve();
    const page = await openPage(url);
    const message = page.locator('#auth-message');
    await expect.poll(() => message.textContent()).toContain('This API needs an admin key (401 UNAUTHORIZED)');
    expect(await page.locator('#data').isHidden()).toBe(true);

    await useKey(page, 'trb_not_a_key_at_all');
    await expect.poll(() => message.textContent()).toBe('That key was refused (401 UNAUTHORIZED): the API key is not valid. Enter an admin key above.');
    expect(await message.isVisible()).toBe(true);
    expect(await page.locator('#data').isHidden()).toBe(true);
    await shot(page, 'key-refused-401');

    await useKey(page, KEYS.query);
    await expect.poll(() => message.textContent()).toMatch(/^That key was refused \(403 FORBIDDEN\): key "reader" lacks the "admin" scope/);
    await shot(page, 'key-refused-403');

    await useKey(page, KEYS.admin);
    await expect.poll(() => message.isHidden()).toBe(true);
    // before the consumers run: one row per group, topic and partition, nothing evaluated yet
    const rows = page.locator('#lag-table tbody tr[data-group]');
    await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(4);
    expect(await page.locator(`#lag-table tbody tr[data-group="${Groups.clean}"][data-topic="${CDC_TOPIC}"]`).count()).toBe(2);
    expect(await page.locator(`#lag-table tbody tr[data-group="${Groups.embed}"] .status-none`).count()).toBeGreaterThan(0);
    expect(await page.locator('#key-state').textContent()).toBe('a key is set for this tab');

    // the key is kept for the tab (sessionStorage), not shown
    await page.reload();
    await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(4);
    expect(await page.locator('#auth-message').isHidden()).toBe(true);
    expect(await page.locator('#key-input').inputValue()).toBe('');
    await shot(page, 'key-accepted');
    expect(problems).toEqual([]);
  });

  it('needs no key when the server runs without keys (loopback only)', async () => {
    const { url } = await serve({ keys: false });
    const page = await openPage(url);
    await expect.poll(() => page.locator('#lag-table tbody tr[data-group]').count()).toBeGreaterThanOrEqual(4);
    expect(await page.locator('#auth-message').isHidden()).toBe(true);
    expect(problems).toEqual([]);
  });

  it('draws its charts over the last hour, ending now, from its first sample (not over years)', async () => {
    // a sample every 3 s: the page opens with the first one only (uPlot alone would stretch one sample over ~2.7 years)
    h = await startApiHarness({ system: { lagMonitor: { intervalMs: 250, windowSize: 4 } }, app: { opsHistory: { intervalMs: 3000 } } });
    const url = await h.app.listen({ host: '127.0.0.1', port: 0 });
    const samples = async () => ((await h!.app.inject({ method: 'GET', url: '/v1/ops/history' })).json() as { samples: unknown[] }).samples.length;
    await waitFor('the first history sample', async () => (await samples()) >= 1);
    const page = await openPage(url);
    // the x scale each chart drew, as the page puts it on the chart's element (ms since the epoch)
    const xScale = (id: string) => page.locator(id).evaluate((e) => {
      const d = (e as unknown as DomRow).dataset;
      return d['xMinMs'] === undefined || d['xMaxMs'] === undefined ? null : { min: Number(d['xMinMs']), max: Number(d['xMaxMs']) };
    });
    await expect.poll(() => page.locator('#lag-chart .u-legend').textContent(), { timeout: 15_000 }).toContain(Groups.embed);
    for (const id of ['#lag-chart', '#freshness-chart']) {
      await expect.poll(() => xScale(id), { timeout: 15_000 }).not.toBeNull();
      const { min, max } = (await xScale(id))!;
      expect(max - min, id).toBe(3_600_000);
      expect(Math.abs(max - Date.now()), id).toBeLessThan(60_000);
    }
    expect(problems).toEqual([]);
  });

  it('shows lag per group, topic and partition with the Burrow status, and turns the row red when a consumer stalls', async () => {
    const { h, url } = await serve();
    await h.system.start();
    await publish([1, 2, 3, 4].map((i) => ({ title: `Warm-up ${i}`, content: `warm-up post number ${i} about partitions` })));
    await waitFor('the warm-up to be indexed', async () => (await h.system.index.count()) >= 4);

    const page = await openPage(url);
    await useKey(page, KEYS.admin);
    await page.selectOption('#refresh-every', '2');
    const embedRows = page.locator(`#lag-table tbody tr[data-group="${Groups.embed}"][data-topic="${Topics.cleaned}"]`);
    await expect.poll(() => embedRows.count()).toBe(2);
    // evaluated by the lag monitor: OK, green
    await expect.poll(() => embedRows.evaluateAll((trs) => trs.map((tr) => (tr as unknown as DomRow).dataset['status'])), { timeout: 15_000 }).toEqual(['OK', 'OK']);
    const ok = page.locator(`#lag-table tbody tr[data-group="${Groups.embed}"] .status`).first();
    expect(await ok.textContent()).toBe('OK');
    expect(await ok.evaluate((e) => getComputedStyle(e).color)).toBe('rgb(26, 127, 55)');
    // the chart: one series per group, from /v1/ops/history
    await expect.poll(() => page.locator('#lag-chart .u-legend').textContent(), { timeout: 15_000 }).toContain(Groups.embed);
    await shot(page, 'lag-ok');

    // the embed consumer stops; content keeps coming: its records wait, its offset does not move
    await h.system.consumers.find((c) => c.name === 'embed')!.stop();
    await publish([1, 2, 3, 4, 5, 6].map((i) => ({ title: `While stalled ${i}`, content: `post ${i} published while the embed consumer is stopped` })));

    // the page refreshes by itself (no click): the embed rows with waiting records turn STOP or STALL, red
    const stalled = page.locator(`#lag-table tbody tr[data-group="${Groups.embed}"]:is([data-status="STOP"], [data-status="STALL"])`);
    await expect.poll(() => stalled.count(), { timeout: 20_000 }).toBeGreaterThan(0);
    const badge = stalled.first().locator('.status');
    expect(['STOP', 'STALL']).toContain(await badge.textContent());
    expect(await badge.evaluate((e) => getComputedStyle(e).color)).toBe('rgb(180, 35, 24)');
    expect(Number(await stalled.first().locator('td').nth(5).textContent())).toBeGreaterThan(0);
    // clean keeps up: OK
    const cleanRows = page.locator(`#lag-table tbody tr[data-group="${Groups.clean}"]`);
    await expect.poll(() => cleanRows.evaluateAll((trs) => trs.map((tr) => (tr as unknown as DomRow).dataset['status'])), { timeout: 15_000 }).toEqual(['OK', 'OK']);
    // freshness: the warm-up's documents were measured in this process, the probe is off in this harness
    expect(await page.locator('#freshness-now').textContent()).toMatch(/^Pipeline \(source write → searchable\): p50 [\d.]+ s, p99 [\d.]+ s over \d+ observations? .*Probe: nothing measured/);
    expect(await page.locator('#freshness-chart canvas').count()).toBe(1);
    await shot(page, 'lag-stalled');
    expect(problems).toEqual([]);
  });

  it('lists a dead-lettered event with its headers and replays it from the button', async () => {
    const { h, url } = await serve();
    // a change event the clean stage cannot parse: it goes to the DLQ
    await h.system.log.append(CDC_TOPIC, [{ key: 'broken-doc', value: Buffer.from('{not json at all'), headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } }]);
    await h.system.start();
    const [entry] = await waitFor('the event to be dead-lettered', async () => {
      const e = await dlq();
      return e.length > 0 ? e : null;
    });
    expect(entry).toMatchObject({ stage: 'clean', key: 'broken-doc', sourceTopic: CDC_TOPIC, pending: true });

    const page = await openPage(url);
    await useKey(page, KEYS.admin);
    const row = page.locator(`#dlq-table tbody tr[data-offset="${entry!.offset}"]`);
    await expect.poll(() => row.count()).toBe(1);
    const cells = await row.locator('td').allTextContents();
    expect(cells[2]).toBe('clean'); // stage
    expect(cells[3]).toBe(entry!.code); // error code
    expect(cells[4]).toBe(entry!.message);
    expect(cells[5]).toMatch(new RegExp(`^${CDC_TOPIC.replaceAll('.', '\\.')} / \\d+ / 0$`));
    expect(cells[7]).toBe('broken-doc');
    expect(cells[8]).toContain('{not json at all');
    expect(cells[9]).toBe('pending');

    // filter by stage, then replay that stage's pending entries (after a confirmation)
    await page.selectOption('#dlq-stage', 'clean');
    const button = page.locator('#dlq-replay');
    await expect.poll(() => button.textContent()).toBe('Replay pending entries of stage clean');
    expect(await button.isEnabled()).toBe(true);
    await shot(page, 'dlq-pending');
    let asked = '';
    page.once('dialog', (d) => { asked = d.message(); void d.accept(); });
    const cdcBefore = (await h.system.log.offsets(CDC_TOPIC)).reduce((n, p) => n + p.end, 0);
    await button.click();
    await expect.poll(() => page.locator('#dlq-result').textContent()).toBe('Replayed 1, skipped 0 (source topic unknown).');
    expect(asked).toContain('stage "clean"');
    await expect.poll(() => row.locator('td').nth(9).textContent()).toBe('replayed');

    // the API agrees: not pending any more, and the event is back on its topic
    const after = await dlq();
    expect(after.find((e) => e.offset === entry!.offset)!.pending).toBe(false);
    expect((await h.system.log.offsets(CDC_TOPIC)).reduce((n, p) => n + p.end, 0)).toBe(cdcBefore + 1);
    // (it fails again, of course: a new pending entry; "pending only" hides the replayed one)
    await page.check('#dlq-pending-only');
    expect(await row.count()).toBe(0);
    await shot(page, 'dlq-replayed');
    expect(problems).toEqual([]);
  });

  it('writes every value as text: HTML in a document title and in a DLQ entry shows as text and runs nothing', async () => {
    const { h, url } = await serve();
    const [docId] = await publish([{ title: XSS, content: 'Escaping matters: the operators page shows every title as plain text, never as markup.' }]);
    await h.system.start();
    await waitFor('the document to be indexed', async () => (await h.system.index.count()) >= 1);
    const rag = await h.app.inject({ method: 'POST', url: '/v1/rag/query', headers: auth, payload: { query: 'How does the operators page show titles?' } });
    expect(rag.statusCode, rag.body).toBe(200);
    // a DLQ entry whose message, key and value are HTML
    const original: LogRecord = { topic: CDC_TOPIC, partition: 0, offset: 3, key: XSS, value: Buffer.from(XSS), headers: {}, timestamp: Date.now() };
    await h.system.log.append(Topics.dlq, [toDlqRecord(original, { stage: 'clean', code: 'MALFORMED_EVENT', message: `cannot parse ${XSS}`, attempts: 1, firstSeenMs: Date.now() })]);

    const page = await openPage(url);
    await useKey(page, KEYS.admin);
    const title = page.locator(`#traces-table li[data-doc="${docId}"] .source-title`);
    await expect.poll(() => title.textContent(), { timeout: 15_000 }).toBe(XSS);
    const dlqRow = page.locator('#dlq-table tbody tr[data-offset]').first();
    await expect.poll(() => dlqRow.locator('td').nth(4).textContent()).toBe(`cannot parse ${XSS}`);
    expect(await dlqRow.locator('td').nth(7).textContent()).toBe(XSS);
    expect(await dlqRow.locator('td').nth(8).textContent()).toContain(XSS);
    await page.locator('#traces-table').scrollIntoViewIfNeeded();
    await shot(page, 'escaping');

    // nothing ran, no element came from the data, and nothing even tried (no CSP violation)
    expect(await page.evaluate(() => window.__pwned)).toBeUndefined();
    expect(await page.locator('main script, main img, #auth-message *').count()).toBe(0);
    // the page's own three scripts (uPlot, the time axis, ops.js) and no other
    const scripts = page.locator('script');
    expect(await scripts.count()).toBe(3);
    expect(await Promise.all([0, 1, 2].map((i) => scripts.nth(i).getAttribute('src')))).toEqual(['/ops/uplot.js', '/ops/time-axis.js', '/ops/ops.js']);
    expect(await page.evaluate(() => window.__csp)).toEqual([]);
    expect(problems).toEqual([]);
  });
});
