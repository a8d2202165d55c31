/**
 * The daemon as a real process: SIGTERM mid-burst, a second daemon on the
 * same database, and pm2 start/stop with the WAL checkpointed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { query, REPO, runCli, sandbox, spawnCli, waitFor, type Sandbox } from '../helpers.js';
import type { ChildProcess } from 'node:child_process';

let sb: Sandbox;
const children: ChildProcess[] = [];
beforeEach(() => {
  sb = sandbox('sp-proc-');
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  sb.cleanup();
});

const rec = (f: number, i: number) => JSON.stringify({ type: 'assistant', f, i, text: 'x'.repeat(200) }) + '\n';

function daemonArgs(extra: string[] = []): string[] {
  return ['watch', '--root', sb.root, '--db', sb.db, '--processors', 'lines', '--quiet-ms', '50', '--max-wait-ms', '300', '--admin-port', '0', ...extra];
}

function exited(c: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((res) => {
    if (c.exitCode !== null || c.signalCode !== null) res({ code: c.exitCode, signal: c.signalCode });
    else c.on('exit', (code, signal) => res({ code, signal }));
  });
}

async function expectExactTotals(files: string[]): Promise<void> {
  const rows = await query<{ session_file: string; lines: number; bytes: number }>(sb.db, 'SELECT session_file, lines, bytes FROM lines_file_stats');
  const got = new Map(rows.map((r) => [r.session_file, r]));
  for (const f of files) {
    const content = fs.readFileSync(sb.file(f));
    const lines = content.toString().split('\n').length - 1;
    expect(got.get(f), f).toMatchObject({ lines, bytes: content.length });
  }
}

describe('daemon process', () => {
  it('SIGTERM during a burst loses nothing and doubles nothing', async () => {
    const files = Array.from({ length: 20 }, (_, f) => `o${f % 4}/s${f}.jsonl`);
    for (const f of files) sb.write(f, '');
    const d = spawnCli(daemonArgs());
    children.push(d);
    let stderr = '';
    d.stderr!.on('data', (b) => (stderr += b));
    await waitFor(() => stderr.includes('"watching"'), 30_000); // start-up took 3.9-5.5 s at load 11
    // A writer appends to every file while the daemon is stopped mid-burst.
    let i = 0;
    const writer = setInterval(() => {
      for (let k = 0; k < files.length; k++) sb.append(files[k], rec(k, i));
      i++;
    }, 20);
    await new Promise((r) => setTimeout(r, 800));
    d.kill('SIGTERM');
    const { code } = await exited(d);
    clearInterval(writer);
    expect(code).toBe(0);
    expect(stderr).toContain('"stopped"');
    // Restart and let it catch up: totals equal the files exactly.
    const again = await runCli(['run', '--once', '--json', '--root', sb.root, '--db', sb.db, '--processors', 'lines']);
    expect(again.code).toBe(0);
    await expectExactTotals(files);
  });

  it('a second SIGINT exits at once and still loses nothing', async () => {
    const files = ['a/1.jsonl', 'a/2.jsonl'];
    for (const f of files) sb.write(f, rec(0, 0));
    const d = spawnCli(daemonArgs());
    children.push(d);
    let stderr = '';
    d.stderr!.on('data', (b) => (stderr += b));
    await waitFor(() => stderr.includes('"watching"'), 30_000); // start-up took 3.9-5.5 s at load 11
    for (let i = 1; i < 200; i++) for (const f of files) sb.append(f, rec(0, i));
    d.kill('SIGINT');
    d.kill('SIGINT');
    const { code } = await exited(d);
    expect([0, 130]).toContain(code);
    const again = await runCli(['run', '--once', '--json', '--root', sb.root, '--db', sb.db, '--processors', 'lines']);
    expect(again.code).toBe(0);
    await expectExactTotals(files);
  });

  it('a second daemon on the same database exits non-zero at once, naming the lock', async () => {
    const d = spawnCli(daemonArgs());
    children.push(d);
    let stderr = '';
    d.stderr!.on('data', (b) => (stderr += b));
    await waitFor(() => stderr.includes('"watching"'), 30_000); // start-up took 3.9-5.5 s at load 11
    const t0 = Date.now();
    const second = await runCli(daemonArgs());
    expect(second.code).toBe(3);
    expect(second.stderr).toMatch(/locked by another process/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('pm2 start brings it online and pm2 stop stops it cleanly with the WAL checkpointed', async () => {
    const pm2 = path.join(REPO, 'node_modules', '.bin', 'pm2');
    const env = {
      ...process.env,
      PM2_HOME: path.join(sb.dir, 'pm2'),
      SESSION_ROOT: sb.root,
      SESSION_PIPELINE_DB: sb.db,
      SESSION_PIPELINE_PROCESSORS: 'lines',
      SESSION_PIPELINE_ADMIN_PORT: '0',
    };
    const pm = (...args: string[]) => execFileSync(pm2, args, { cwd: REPO, env, encoding: 'utf8', timeout: 60_000 });
    sb.write('a/s.jsonl', rec(0, 0) + rec(0, 1));
    try {
      pm('start', 'ecosystem.config.cjs', '--update-env');
      const list = JSON.parse(pm('jlist')) as { name: string; pm2_env: { status: string } }[];
      expect(list.find((p) => p.name === 'session-pipeline')?.pm2_env.status).toBe('online');
      sb.append('a/s.jsonl', rec(0, 2));
      await new Promise((r) => setTimeout(r, 1500));
      pm('stop', 'session-pipeline');
      const after = JSON.parse(pm('jlist')) as { name: string; pm2_env: { status: string } }[];
      expect(after.find((p) => p.name === 'session-pipeline')?.pm2_env.status).toBe('stopped');
      // A clean close checkpoints the WAL into the database file.
      const wal = `${sb.db}.wal`;
      expect(!fs.existsSync(wal) || fs.statSync(wal).size === 0).toBe(true);
      const logs = fs.readdirSync(path.join(sb.dir, 'pm2', 'logs')).map((f) => fs.readFileSync(path.join(sb.dir, 'pm2', 'logs', f), 'utf8')).join('');
      expect(logs).toContain('"stopped"');
      await expectExactTotals(['a/s.jsonl']);
    } finally {
      try {
        pm('kill');
      } catch {
        // already gone
      }
    }
  }, 90_000);
});
