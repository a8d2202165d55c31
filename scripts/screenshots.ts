/**
 * `npm run screenshots`: a screenshot of each dashboard view into docs/
 * (dashboard-<view>.png), from a real `watch` over a seeded database
 * (2,000 sessions over 60 days), a live file written now, and a file the
 * test fault hook quarantines, in Debian's Chromium. Run it again whenever
 * the UI changes; README shows the pictures.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { seedDashboardDb } from '../bench/lib/seed-dashboard.js';
import { launchChromium } from './lib/chromium.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const VIEWS = ['overview', 'live', 'sessions', 'tools', 'secrets', 'pipeline'] as const;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const line = (o: unknown) => JSON.stringify(o) + '\n';

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-shots-'));
  const db = path.join(dir, 'shots.duckdb');
  const root = path.join(dir, 'root');
  await seedDashboardDb(db, { sessions: 2_000, messagesPerSession: 20, owners: 6, days: 60, findings: 40 });
  const at = (ago: number) => new Date(Date.now() - ago).toISOString();
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };
  const assistant = (id: string, ago: number, usage: Record<string, number>, content: unknown[] = [{ type: 'text', text: 'ok' }]) =>
    line({ type: 'assistant', timestamp: at(ago), sessionId: 'feature-work', message: { id, role: 'assistant', model: 'claude-sonnet-4-5-20250929', content, usage } });
  write(
    'owner-002/feature-work.jsonl',
    line({ type: 'user', timestamp: at(300_000), sessionId: 'feature-work', cwd: '/home/owner-002/app', gitBranch: 'feature', message: { role: 'user', content: 'add the export button' } }) +
      assistant('msg_a', 280_000, { input_tokens: 1800, output_tokens: 950, cache_read_input_tokens: 42_000 }, [{ type: 'tool_use', id: 'toolu_a', name: 'Read', input: {} }]) +
      line({ type: 'user', timestamp: at(270_000), sessionId: 'feature-work', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_a', content: 'r' }] } }) +
      assistant('msg_b', 60_000, { input_tokens: 2200, output_tokens: 1400, cache_read_input_tokens: 51_000 }, [{ type: 'tool_use', id: 'toolu_b', name: 'Bash', input: {} }]),
  );
  write('owner-004/broken.jsonl', line({ type: 'user', ok: true }) + line({ type: 'user', __test_fault: 'throw' }));

  const port = await freePort();
  const child = spawn(process.execPath, [path.join(REPO, 'dist', 'src', 'cli', 'main.js'), 'watch', '--root', root, '--db', db, '--admin-port', String(port), '--max-attempts', '1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, SESSION_PIPELINE_TEST_FAULTS: '1', SESSION_PIPELINE_LOG_LEVEL: 'warn' },
  });
  const base = `http://127.0.0.1:${port}`;
  const chrome = await launchChromium({ viewport: { width: 1280, height: 1000 }, timezoneId: 'Europe/Prague' });
  try {
    for (let i = 0; ; i++) {
      const q = await fetch(`${base}/quarantine`).then((r) => r.json() as Promise<{ quarantined: unknown[] }>).catch(() => null);
      if (q && q.quarantined.length > 0) break;
      if (i > 600) throw new Error('the daemon did not come up');
      await new Promise((r) => setTimeout(r, 100));
    }
    const page = await chrome.browser.newPage();
    const shoot = async (url: string, name: string) => {
      await page.goto(`${base}${url}`);
      await page.waitForFunction(() => Number(document.body.dataset.renders ?? 0) >= 1 && document.body.dataset.state === 'ready', null, { timeout: 60_000 });
      await page.waitForTimeout(400); // charts draw on the next frame
      const file = path.join(REPO, 'docs', `dashboard-${name}.png`);
      await page.screenshot({ path: file });
      process.stdout.write(`${path.relative(REPO, file)}\n`);
    };
    for (const v of VIEWS) await shoot(`/?view=${v}`, v);
    await shoot(`/?view=sessions&session=${encodeURIComponent('owner-002/feature-work.jsonl')}`, 'session');
    const dark = await launchChromium({ viewport: { width: 1280, height: 1000 }, colorScheme: 'dark', timezoneId: 'Europe/Prague' });
    try {
      const p = await dark.browser.newPage();
      await p.goto(`${base}/?view=overview`);
      await p.waitForFunction(() => Number(document.body.dataset.renders ?? 0) >= 1, null, { timeout: 60_000 });
      await p.waitForTimeout(400);
      await p.screenshot({ path: path.join(REPO, 'docs', 'dashboard-overview-dark.png') });
      process.stdout.write('docs/dashboard-overview-dark.png\n');
    } finally {
      await dark.close();
    }
  } finally {
    await chrome.close();
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
