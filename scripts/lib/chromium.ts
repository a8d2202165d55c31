/**
 * Debian's Chromium (/usr/bin/chromium, `apt-get install -y chromium`) driven
 * by playwright-core, headless, with a fresh profile per launch and no
 * background traffic (no updates, sync or QUIC).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface Launched {
  browser: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(opts: { colorScheme?: 'light' | 'dark'; viewport?: { width: number; height: number }; timezoneId?: string } = {}): Promise<Launched> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    colorScheme: opts.colorScheme ?? 'light',
    viewport: opts.viewport ?? { width: 1280, height: 900 },
    timezoneId: opts.timezoneId ?? 'UTC',
    locale: 'en-US',
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => undefined);
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Console errors and page errors of a page, collected from its creation. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => {
    // An EventSource torn down with the page, or a fetch cut by a navigation, is not an error of the page.
    if (!r.url().endsWith('/dashboard/events') && r.failure()?.errorText !== 'net::ERR_ABORTED') errors.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`);
  });
  return errors;
}

/** Wait until the open view has rendered at least `renders` times and is idle. */
export async function rendered(page: Page, renders = 1, timeout = 15_000): Promise<void> {
  await page.waitForFunction((n) => Number(document.body.dataset.renders ?? 0) >= n && document.body.dataset.state === 'ready', renders, { timeout });
}

export type { Browser, Page };
