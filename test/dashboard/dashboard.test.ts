/**
 * The dashboard in a real browser: Debian's Chromium driven by
 * playwright-core, against a real `watch` child process over the vendored
 * corpus, a live file written with today's timestamps, a poison file the
 * test fault hook quarantines (SESSION_PIPELINE_TEST_FAULTS=1), and a line
 * holding a (fake) GitHub token for the secrets view.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyCorpus, line, runCli, sandbox, waitFor, type Sandbox } from '../helpers.js';
import { startDaemon, stop } from '../ops/daemon.js';
import { assistant, toolUse, user } from '../usage/support.js';
import { launchChromium, rendered, watchErrors, type Launched, type Page } from '../../scripts/lib/chromium.js';

const TZ = 'America/New_York';
const VIEWS = ['overview', 'live', 'sessions', 'tools', 'secrets', 'pipeline'] as const;
const FAKE_TOKEN = `ghp_${'Z9y8X7w6V5u4T3s2R1q0'.repeat(2).slice(0, 36)}`;
const POISON = 'ops/poison.jsonl';
const LIVE = 'team/live-session.jsonl';

interface Running {
  port: number;
  base: string;
  stop(): Promise<void>;
}

async function startWatch(sb: Sandbox, args: string[] = [], env: Record<string, string> = {}): Promise<Running> {
  // Chromium and the daemon share two cores with the rest of the suite: a slow start is not a failure here.
  const r = await startDaemon(sb, args, env, 60_000);
  return { port: r.port, base: `http://127.0.0.1:${r.port}`, stop: () => stop(r) };
}

const nowIso = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString();

/** A table's body cells as text, row by row. */
async function cells(page: Page, testid: string): Promise<string[][]> {
  return page.$$eval(`[data-testid="${testid}"] tbody tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
}

/** A raw HTTP request, so the test sets Host and Origin itself (fetch will not set Host). */
function raw(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('dashboard (real daemon, real Chromium)', () => {
  const sb = sandbox('sp-dash-');
  let d: Running;
  let chrome: Launched;

  beforeAll(async () => {
    copyCorpus(sb);
    sb.write(
      LIVE,
      user({ ts: nowIso(-60_000), content: 'start', sessionId: 'live-session' }) +
        assistant({ id: 'msg_live_1', req: 'req_live_1', ts: nowIso(-50_000), sessionId: 'live-session', usage: { input_tokens: 1200, output_tokens: 340 }, content: [toolUse('toolu_live_1', 'Bash', { command: 'ls' })] }) +
        user({ ts: nowIso(-40_000), content: `here is my token ${FAKE_TOKEN} oops`, sessionId: 'live-session' }),
    );
    sb.write(POISON, line({ type: 'user', ok: true }) + line({ type: 'user', __test_fault: 'throw' }));
    d = await startWatch(sb, ['--max-attempts', '1', '--secrets-settle-ms', '0', '--processors', 'lines,usage,secrets'], { SESSION_PIPELINE_TEST_FAULTS: '1' });
    chrome = await launchChromium({ timezoneId: TZ });
    // Settled: the poison file quarantined, the secret found.
    await waitFor(async () => {
      const q = (await (await fetch(`${d.base}/quarantine`)).json()) as { quarantined: { sessionFile: string }[] };
      const s = (await (await fetch(`${d.base}/reports/secrets-summary`)).json()) as { total: { findings: number } };
      return q.quarantined.length > 0 && s.total.findings > 0;
    }, 30_000);
  });

  afterAll(async () => {
    await chrome?.close();
    await d?.stop();
    sb.cleanup();
  });

  it('every view (and a session detail) loads with no console errors', async () => {
    const page = await chrome.browser.newPage();
    const errors = watchErrors(page);
    for (const v of VIEWS) {
      await page.goto(`${d.base}/?view=${v}`);
      await rendered(page);
      expect(await page.locator('#view table').count(), v).toBeGreaterThan(0);
      expect(await page.locator('#view [role=alert]').count(), v).toBe(0);
    }
    await page.goto(`${d.base}/?view=sessions`);
    await rendered(page);
    await page.locator('[data-testid="sessions"] a[data-session]').first().click();
    await page.waitForSelector('[data-testid="timeline"]');
    expect(new URL(page.url()).searchParams.get('session')).toMatch(/\.jsonl$/);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('the overview per day equals `report usage --by day --json` in the browser time zone', async () => {
    const page = await chrome.browser.newPage();
    await page.goto(`${d.base}/?view=overview`);
    await rendered(page);
    const shown = await cells(page, 'overview-daily');
    // Through the running daemon (live reads): the same report the page shows.
    const r = await runCli(['report', 'usage', '--by', 'day', '--tz', TZ, '--json', '--db', sb.db, '--admin-port', String(d.port)]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { rows: { key: string; messages: number; input_tokens: number; output_tokens: number; cache_creation_tokens: number; cache_read_tokens: number; cost_usd: number | null }[] };
    const int = (n: number) => n.toLocaleString('en-US');
    const usd = (n: number | null) => (n === null ? 'unpriced' : `$${n.toLocaleString('en-US', { minimumFractionDigits: n === 0 || n >= 0.01 ? 2 : 4, maximumFractionDigits: n === 0 || n >= 0.01 ? 2 : 4 })}`);
    expect(report.rows.length).toBeGreaterThan(3);
    expect(shown.map((c) => c.slice(0, 6))).toEqual(
      report.rows.map((x) => [x.key, int(x.messages), int(x.input_tokens), int(x.output_tokens), int(x.cache_creation_tokens), int(x.cache_read_tokens)]),
    );
    expect(shown.map((c) => c[6].replace(' *', ''))).toEqual(report.rows.map((x) => usd(x.cost_usd)));
    // The live file's messages make a 5-hour block that is active now: the overview shows it, with its burn rate.
    const block = await cells(page, 'block');
    expect(block.length).toBe(1);
    expect(block[0].join(' ')).toMatch(/\$\d/);
    // Today's row (the live file) is among them, in New York's calendar.
    expect(shown.map((c) => c[0])).toContain(new Date().toLocaleDateString('en-CA', { timeZone: TZ }));
    await page.close();
  }, 180_000);

  it('an append shows on an open page within 2 s, without a reload', async () => {
    const page = await chrome.browser.newPage();
    const errors = watchErrors(page);
    await page.goto(`${d.base}/?view=live`);
    await rendered(page);
    const liveRow = page.locator('[data-testid="live"] tbody tr', { hasText: LIVE });
    await expect.poll(() => liveRow.count()).toBe(1);
    expect(await liveRow.textContent()).toContain('Bash'); // the tool call has no result yet: running
    const navigations: string[] = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));

    const t0 = Date.now();
    sb.append(LIVE, assistant({ id: 'msg_live_2', req: 'req_live_2', ts: nowIso(), sessionId: 'live-session', usage: { input_tokens: 5, output_tokens: 777_777 } }));
    await page.waitForFunction(
      (f) => [...document.querySelectorAll('[data-testid="live"] tbody tr')].some((tr) => tr.textContent!.includes(f) && tr.textContent!.includes('778,117')),
      LIVE,
      { timeout: 5_000, polling: 20 },
    );
    const ms = Date.now() - t0;
    expect(ms).toBeLessThanOrEqual(2_000);
    expect(navigations).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('an open page on an idle daemon sends no report request while nothing commits', async () => {
    const page = await chrome.browser.newPage();
    await page.goto(`${d.base}/?view=overview`);
    await rendered(page);
    // Wait for a quiet second (the secrets processor may still commit the append's line).
    let gen = '';
    await waitFor(async () => {
      const g = await page.evaluate(() => document.body.dataset.generation ?? '');
      const quiet = g === gen;
      gen = g;
      return quiet;
    }, 20_000, 1_500);
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.waitForTimeout(3_000);
    const after = await page.evaluate(() => document.body.dataset.generation ?? '');
    expect(after).toBe(gen);
    expect(requests).toEqual([]);
    await page.close();
  });

  it('the secrets view shows the redacted excerpt, never the value', async () => {
    const page = await chrome.browser.newPage();
    const bodies: string[] = [];
    page.on('response', async (r) => {
      if (r.url().includes('/reports/')) bodies.push(await r.text().catch(() => ''));
    });
    await page.goto(`${d.base}/?view=secrets`);
    await rendered(page);
    const rows = await cells(page, 'secrets-list');
    expect(rows.some((c) => c[0] === LIVE && c[2] === 'github-token')).toBe(true);
    const html = await page.content();
    expect(html).not.toContain(FAKE_TOKEN);
    expect(html).not.toContain(FAKE_TOKEN.slice(4, 20));
    expect(bodies.join('\n')).not.toContain(FAKE_TOKEN.slice(4, 20));
    expect(await cells(page, 'secrets-by-owner')).toContainEqual(['team', '1', '1']);
    await page.close();
  });

  it('the requeue button requeues a quarantined file', async () => {
    const page = await chrome.browser.newPage();
    const errors = watchErrors(page);
    await page.goto(`${d.base}/?view=pipeline`);
    await rendered(page);
    const buttons = page.locator(`[data-testid="quarantined"] button.requeue[data-file="${POISON}"]`);
    await expect.poll(() => buttons.count()).toBeGreaterThan(0);
    // Quarantined once per processor that failed on it.
    const processors = await buttons.evaluateAll((bs) => bs.map((b) => (b as HTMLElement).dataset.processor!));
    expect(processors.length).toBeGreaterThanOrEqual(2);
    // The operator mends the file, then requeues it from the page, one row per processor.
    sb.write(POISON, line({ type: 'user', ok: true }) + line({ type: 'user', mended: true }));
    for (const p of processors) {
      await page.locator(`[data-testid="quarantined"] button.requeue[data-file="${POISON}"][data-processor="${p}"]`).click();
      await page.waitForFunction((want) => (document.getElementById('requeue-status')?.textContent ?? '').startsWith(want), `requeued 1: ${p} ${POISON}`, { timeout: 10_000 });
    }
    await waitFor(async () => {
      const q = (await (await fetch(`${d.base}/quarantine`)).json()) as { quarantined: unknown[]; retrying: unknown[] };
      return q.quarantined.length === 0 && q.retrying.length === 0;
    }, 20_000);
    // The page follows by itself: the file leaves the quarantined table.
    await page.waitForFunction((f) => !document.querySelector(`[data-testid="quarantined"] button[data-file="${f}"]`), POISON, { timeout: 5_000 });
    const audit = (await (await fetch(`${d.base}/audit?limit=20`)).json()) as { rows: { action: string; actor: string; status: number }[] };
    expect(audit.rows).toContainEqual(expect.objectContaining({ action: 'POST /quarantine/requeue', actor: 'dashboard', status: 200 }));
    expect(errors).toEqual([]);
    await page.close();
  });

  it('refuses a POST with a foreign Origin, and a request for a foreign Host', async () => {
    const path = '/quarantine/requeue';
    const body = JSON.stringify({ all: true });
    const json = { 'content-type': 'application/json' };
    const foreign = await raw(d.port, 'POST', path, { ...json, host: `127.0.0.1:${d.port}`, origin: 'http://evil.example' }, body);
    expect(foreign.status).toBe(403);
    expect(foreign.body).toMatch(/cross-origin/);
    const crossSite = await raw(d.port, 'POST', path, { ...json, host: `127.0.0.1:${d.port}`, 'sec-fetch-site': 'cross-site' }, body);
    expect(crossSite.status).toBe(403);
    // DNS rebinding: the attacker's name as Host, even for a read.
    const rebound = await raw(d.port, 'GET', '/reports/usage', { host: `evil.example:${d.port}` });
    expect(rebound.status).toBe(421);
    // The same request from the daemon's own origin is served.
    const own = await raw(d.port, 'POST', path, { ...json, host: `127.0.0.1:${d.port}`, origin: `http://127.0.0.1:${d.port}` }, body);
    expect(own.status).toBe(200);
    // And a page on another origin (localhost is not 127.0.0.1 to a browser) that POSTs: refused too.
    // Refusals are counted, never audited (guard.ts).
    const refusals = async () => {
      const text = await (await fetch(`${d.base}/metrics`)).text();
      const m = /session_pipeline_admin_refused_total\{reason="origin"\} (\d+)/.exec(text);
      return m ? Number(m[1]) : 0;
    };
    const before = await refusals();
    expect(before).toBeGreaterThanOrEqual(2);
    const page = await chrome.browser.newPage();
    await page.goto(`http://localhost:${d.port}/?view=pipeline`);
    await page.evaluate(
      async ([url, b]) => {
        await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: b, mode: 'no-cors' }).catch(() => undefined);
      },
      [`http://127.0.0.1:${d.port}${path}`, body],
    );
    await waitFor(async () => (await refusals()) === before + 1, 5_000);
    const audit = (await (await fetch(`${d.base}/audit?limit=100`)).json()) as { rows: { action: string; status: number }[] };
    expect(audit.rows.filter((r) => r.status === 403)).toEqual([]);
    await page.close();
  });
});

describe('dashboard with an admin token', () => {
  const sb = sandbox('sp-dash-token-');
  const TOKEN = 'dash-token-4f1c';
  let d: Running;
  let chrome: Launched;

  beforeAll(async () => {
    copyCorpus(sb);
    d = await startWatch(sb, ['--admin-token', TOKEN, '--processors', 'usage']);
    chrome = await launchChromium();
  });
  afterAll(async () => {
    await chrome?.close();
    await d?.stop();
    sb.cleanup();
  });

  it('needs the token for data, takes it once from ?token= into an HttpOnly cookie', async () => {
    expect((await fetch(`${d.base}/reports/usage`)).status).toBe(401);
    expect((await fetch(`${d.base}/`)).status).toBe(200); // the page itself holds no data
    const page = await chrome.browser.newPage();
    const errors = watchErrors(page);
    await page.goto(`${d.base}/?view=overview`);
    await page.waitForSelector('form.login');
    const wrong = await page.goto(`${d.base}/?token=nope`);
    expect(wrong?.status()).toBe(403);
    await page.goto(`${d.base}/?view=sessions&token=${TOKEN}`);
    await rendered(page);
    expect(new URL(page.url()).searchParams.get('token')).toBeNull();
    expect(new URL(page.url()).searchParams.get('view')).toBe('sessions');
    expect(await page.evaluate(() => document.cookie)).toBe(''); // HttpOnly
    const cookies = await chrome.browser.cookies(d.base);
    expect(cookies).toContainEqual(expect.objectContaining({ httpOnly: true, sameSite: 'Strict' }));
    expect((await cells(page, 'sessions')).length).toBeGreaterThan(5);
    // Errors here are the expected 401/403 answers before the token was given.
    expect(errors.filter((e) => !/status of 40[13]/.test(e))).toEqual([]);
    await page.close();
  });
});
