/**
 * Reading while the daemon runs: a real `watch` child process on a real
 * DuckDB file, under live appends. Every read command goes through the
 * daemon's admin API (it holds the lock), and prints byte for byte what it
 * prints from the file once the daemon has stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyCorpus, REPO, runCli, sandbox, spawnCli, waitFor, type Sandbox } from '../helpers.js';
import { assistant } from '../usage/support.js';

const PRICING = path.join(REPO, 'test', 'fixtures', 'pricing', 'claude-pricing.json');

/** The child's env without the developer's own pipeline settings. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('SESSION_PIPELINE_') && k !== 'SESSION_ROOT') env[k] = v;
  return { ...env, ...extra };
}

let sb: Sandbox;
let daemon: ChildProcess | null = null;
let port = 0;
let daemonErr = '';
let seq = 0;

const message = (model: string) => {
  seq++;
  return assistant({
    id: `msg_live_${seq}`,
    req: `req_live_${seq}`,
    ts: new Date(Date.UTC(2025, 6, 1, 12, 0, seq)).toISOString(),
    model,
    usage: { input_tokens: 10 + seq, output_tokens: 5 },
  });
};

/** A read command against the test database, through whatever target the CLI finds. */
const read = (args: string[]) => runCli([...args, '--db', sb.db], cleanEnv({ SESSION_PIPELINE_ADMIN_PORT: String(port) }));

async function startDaemon(): Promise<void> {
  daemonErr = '';
  daemon = spawnCli(
    ['watch', '--root', sb.root, '--db', sb.db, '--admin-port', '0', '--quiet-ms', '50', '--max-wait-ms', '300', '--secrets-settle-ms', '200', '--pricing', PRICING],
    cleanEnv(),
  );
  daemon.stderr!.on('data', (d) => (daemonErr += d));
  daemon.stdout!.resume();
  port = await waitFor(() => {
    if (daemon!.exitCode !== null) throw new Error(`daemon exited ${daemon!.exitCode}:\n${daemonErr}`);
    for (const l of daemonErr.split('\n')) {
      if (!l.startsWith('{')) continue;
      const rec = JSON.parse(l) as { msg?: string; port?: number };
      if (rec.msg === 'admin API listening') return rec.port;
    }
    return null;
  }, 30_000);
}

async function stopDaemon(): Promise<void> {
  const d = daemon;
  daemon = null;
  if (!d || d.exitCode !== null) return;
  const exited = new Promise((res) => d.once('exit', res));
  d.kill('SIGTERM');
  await Promise.race([exited, new Promise((res) => setTimeout(res, 15_000))]);
  if (d.exitCode === null) d.kill('SIGKILL');
}

beforeAll(async () => {
  sb = sandbox('sp-live-');
  copyCorpus(sb);
  sb.write('live/feed.jsonl', message('claude-sonnet-4-20250514'));
  await startDaemon();
}, 60_000);

afterAll(async () => {
  await stopDaemon();
  sb?.cleanup();
});

const get = async (p: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${p}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('reads while the daemon runs', () => {
  it('a line appended to a transcript shows in a live report within 3 s', async () => {
    // Wait until the daemon has the first line, so the timing below is of one append.
    await waitFor(async () => {
      const r = await get('/reports/usage?by=owner');
      return (r.body.rows as { key: string }[] | undefined)?.some((x) => x.key === 'live');
    }, 30_000);
    const model = 'claude-live-probe-1';
    const t0 = Date.now();
    sb.append('live/feed.jsonl', message(model));
    await waitFor(async () => {
      const r = await get('/reports/usage?by=model');
      return (r.body.rows as { key: string }[]).some((x) => x.key === model);
    }, 10_000, 100);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(3000);
    // The CLI shows it too: it reads through the daemon, which holds the lock.
    const cli = await read(['report', 'usage', '--by', 'model', '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    expect((JSON.parse(cli.stdout) as { rows: { key: string }[] }).rows.map((r) => r.key)).toContain(model);
  }, 60_000);

  it('serves the processors report list and refuses bad parameters with 400', async () => {
    const list = await get('/reports');
    expect(list.status).toBe(200);
    expect(list.body.db).toBe(path.resolve(sb.db));
    const names = (list.body.reports as { name: string; params: { name: string }[] }[]).map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(['usage', 'events', 'secrets']));
    expect((await get('/reports/usage?by=planet')).status).toBe(400);
    expect((await get('/reports/usage?colour=red')).status).toBe(400);
    expect((await get('/reports/nope')).status).toBe(404);
    const bad = await read(['report', 'usage', '--since', 'not-a-date']);
    expect(bad.code).toBe(2);
  }, 60_000);

  describe('sql refuses everything but one reading statement, with exit 2 and one line', () => {
    const kinds: [string, string][] = [
      ['insert', `INSERT INTO usage_files (session_file) VALUES ('x/y.jsonl')`],
      ['update', `UPDATE session_processor_state SET "offset" = 0`],
      ['delete', 'DELETE FROM usage_messages'],
      ['create (DDL)', 'CREATE TABLE evil (a INTEGER)'],
      ['drop (DDL)', 'DROP VIEW usage_daily'],
      ['alter (DDL)', 'ALTER TABLE usage_files ADD COLUMN evil INTEGER'],
      ['copy', `COPY usage_messages TO '/tmp/sp-evil.csv'`],
      ['attach', `ATTACH '/tmp/sp-evil.duckdb' AS evil`],
      ['install', 'INSTALL httpfs'],
      ['load', 'LOAD httpfs'],
      ['set', 'SET threads = 1'],
      ['pragma', 'PRAGMA enable_profiling'],
      ['read_csv', `SELECT * FROM read_csv('/etc/passwd')`],
      ['read_parquet', `SELECT * FROM read_parquet('/tmp/x.parquet')`],
      ['read_json', `SELECT * FROM read_json('/etc/hostname')`],
      ['glob', `SELECT * FROM glob('/etc/*')`],
      ['read_text', `SELECT * FROM read_text('/etc/hostname')`],
      ['a URL', `SELECT * FROM read_csv('https://example.com/x.csv')`],
      ['two statements', 'SELECT 1; DELETE FROM usage_messages'],
      ['a transaction', 'BEGIN TRANSACTION'],
      ['checkpoint', 'CHECKPOINT'],
      ['a file path as a table', `SELECT * FROM '/etc/passwd'`],
    ];
    let before = '';
    const fingerprint = () =>
      read(['sql', `SELECT (SELECT count(*) FROM usage_messages) AS m, (SELECT count(*) FROM duckdb_tables()) AS t, (SELECT count(*) FROM duckdb_views() WHERE NOT internal) AS v, (SELECT sum("offset") FROM session_processor_state) AS o`, '--json']);

    beforeAll(async () => {
      const r = await fingerprint();
      expect(r.code, r.stderr).toBe(0);
      before = r.stdout;
    }, 60_000);

    it.each(kinds)('%s', async (_kind, statement) => {
      const r = await read(['sql', statement]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^session-pipeline: sql: /);
    }, 60_000);

    it('leaves the data unchanged', async () => {
      expect(fs.existsSync('/tmp/sp-evil.csv')).toBe(false);
      expect(fs.existsSync('/tmp/sp-evil.duckdb')).toBe(false);
      const after = await fingerprint();
      expect(after.stdout).toBe(before);
    }, 60_000);
  });

  it('stops a query at its row cap and its time limit with a clear message', async () => {
    const cap = await read(['sql', 'SELECT * FROM range(11)', '--max-rows', '10']);
    expect(cap.code).toBe(1);
    expect(cap.stderr).toMatch(/more than 10 rows \(--max-rows\)/);
    const t0 = Date.now();
    const slow = await read(['sql', 'SELECT count(*) FROM range(1000000) a, range(1000000) b', '--timeout-ms', '500']);
    expect(slow.code).toBe(1);
    expect(slow.stderr).toMatch(/stopped after 500 ms: the time limit \(--timeout-ms\)/);
    expect(Date.now() - t0).toBeLessThan(20_000);
    // The daemon is fine afterwards.
    expect((await get('/health')).status).toBeLessThan(500);
  }, 60_000);

  it('drops the reads of a client that went away: running ones stop, queued ones never run', async () => {
    // Two reads fill the daemon's two read slots for minutes; a third waits behind them.
    const endless = JSON.stringify({ sql: 'SELECT count(*) FROM range(1000000) a, range(1000000) b', timeoutMs: 600_000 });
    const clients = [0, 1, 2].map(() => new AbortController());
    const asked = clients.map((c) =>
      fetch(`http://127.0.0.1:${port}/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: endless, signal: c.signal }).then(
        (r) => r.status,
        (err: Error) => err.name,
      ),
    );
    await new Promise((r) => setTimeout(r, 800));
    for (const c of clients) c.abort();
    expect(await Promise.all(asked)).toEqual(['AbortError', 'AbortError', 'AbortError']);
    // The slots are free at once: a new read answers, where it would otherwise wait the 10 minutes.
    const t0 = Date.now();
    const r = await fetch(`http://127.0.0.1:${port}/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: 'SELECT 42 AS x' }) });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ rows: [{ x: 42 }] });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect((await get('/health')).status).toBeLessThan(500);
  }, 60_000);

  it("prints the same bytes live as from the file after the daemon stops, for every read command", async () => {
    // Live appends while reading: the reads work under load.
    const writer = setInterval(() => sb.append('live/feed.jsonl', message('claude-sonnet-4-20250514')), 50);
    try {
      const r = await read(['report', 'usage', '--by', 'session', '--json']);
      expect(r.code, r.stderr).toBe(0);
      JSON.parse(r.stdout);
    } finally {
      clearInterval(writer);
    }
    // Quiet, then let the daemon commit everything (secrets waits for a quiet file).
    await new Promise((r) => setTimeout(r, 600));
    const rescan = await runCli(['rescan', '--timeout-ms', '30000'], cleanEnv({ SESSION_PIPELINE_ADMIN_PORT: String(port) }));
    expect(rescan.code, rescan.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 1000));

    const commands: string[][] = [
      ['report', 'usage'],
      ['report', 'usage', '--by', 'session', '--json'],
      ['report', 'usage', '--by', 'week', '--tz', 'Europe/Prague', '--since', '2025-01-01', '--csv'],
      ['report', 'events'],
      ['report', 'secrets'],
      ['report', 'secrets', '--json'],
      ['sql', 'SELECT session_file, "offset", processed_at FROM session_processor_state ORDER BY ALL'],
      ['sql', 'SELECT * FROM usage_sessions ORDER BY ALL', '--json'],
      ['sql', 'SELECT * FROM usage_messages ORDER BY ALL', '--csv'],
    ];
    const outDir = path.join(sb.dir, 'export');
    const exportCmd = ['export', '--out', outDir];
    const snapshot = async () => {
      // Four at a time: the commands are independent reads of data that no longer changes.
      const outs: string[] = new Array(commands.length);
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < commands.length) {
            const i = next++;
            const r = await read(commands[i]);
            expect(r.code, `${commands[i].join(' ')}: ${r.stderr}`).toBe(0);
            outs[i] = r.stdout;
          }
        }),
      );
      fs.rmSync(outDir, { recursive: true, force: true });
      const e = await read(exportCmd);
      expect(e.code, e.stderr).toBe(0);
      const files = Object.fromEntries(fs.readdirSync(outDir).sort().map((f) => [f, fs.readFileSync(path.join(outDir, f)).toString('base64')]));
      return { outs, exported: e.stdout, files };
    };

    const live = await snapshot();
    // Live means through the daemon: the file is locked, so a direct open would have failed.
    expect(live.outs[1]).toContain('live/feed.jsonl');
    await stopDaemon();
    const offline = await snapshot();
    for (let i = 0; i < commands.length; i++) expect(offline.outs[i], commands[i].join(' ')).toBe(live.outs[i]);
    expect(offline.exported).toBe(live.exported);
    expect(Object.keys(offline.files).length).toBeGreaterThan(5);
    expect(offline.files).toEqual(live.files);
  }, 600_000);
});
