/**
 * The CLI on a PostgreSQL store, as real child processes against the run's throwaway
 * cluster: `--db postgres://...` selects it (before, it was taken as a path and a
 * directory `postgres:` appeared), `run --once` end to end, reads straight from
 * PostgreSQL, and one clear line when the server does not answer.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, copyCorpus, sandbox, type Sandbox } from './helpers.js';
import { freshPgDatabase } from './pg.js';

/** No daemon anywhere near: an admin port nothing listens on. */
const ENV = { SESSION_PIPELINE_ADMIN_PORT: '1' };

function cli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: { ...process.env, ...ENV, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  const port: number = await new Promise((r) => srv.listen(0, '127.0.0.1', () => r((srv.address() as net.AddressInfo).port)));
  await new Promise((r) => srv.close(r));
  return port;
}

/** The summary without its wall time, and without what only a shared store reports (files another node held). */
const summaryOf = (stdout: string) => {
  const s = JSON.parse(stdout) as { duration_ms?: number; files_leased_elsewhere?: number };
  delete s.duration_ms;
  delete s.files_leased_elsewhere;
  return s;
};

describe('CLI on PostgreSQL', () => {
  let sb: Sandbox;
  let url: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    sb = sandbox('sp-pgcli-');
    copyCorpus(sb);
    ({ url, drop } = await freshPgDatabase('cli'));
  });
  afterAll(async () => {
    await drop?.();
    sb?.cleanup();
  });

  it('unreachable at start: exit 1, one line naming the setting and the URL without its password, no `postgres:` directory', async () => {
    const port = await closedPort();
    const cwd = fs.mkdtempSync(path.join(sb.dir, 'cwd-'));
    for (const scheme of ['postgres', 'postgresql']) {
      const r = await cli(['run', '--once', '--root', sb.root, '--db', `${scheme}://bob:hunter2@127.0.0.1:${port}/team`, '--processors', 'lines'], { cwd });
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^session-pipeline: cannot reach the database ${scheme}://bob:\\*\\*\\*@127\\.0\\.0\\.1:${port}/team \\(--db / SESSION_PIPELINE_DB\\): .*ECONNREFUSED`));
      expect(r.stderr).not.toContain('hunter2');
    }
    // The same through the environment.
    const e = await cli(['run', '--once', '--root', sb.root, '--processors', 'lines'], { cwd, env: { SESSION_PIPELINE_DB: `postgres://127.0.0.1:${port}/x` } });
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/cannot reach the database postgres:\/\/127\.0\.0\.1:\d+\/x/);
    // Before: the URL was resolved as a path, and its directory created in the working directory.
    expect(fs.readdirSync(cwd)).toEqual([]);
  }, 120_000);

  it('a bad pool size is bad configuration: one line, exit 2', async () => {
    const r = await cli(['run', '--once', '--root', sb.root, '--db', url, '--pg-pool-max', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('session-pipeline: invalid pgPoolMax (--pg-pool-max / SESSION_PIPELINE_PG_POOL_MAX): "0": must be a whole number from 1 to 100');
  });

  it('run --once on PostgreSQL: the same summary and the same rows as on DuckDB; a rerun reads nothing', async () => {
    const pgRun = await cli(['run', '--once', '--json', '--root', sb.root, '--db', url, '--processors', 'lines'], { env: { SESSION_PIPELINE_SOURCE_NAME: 'src' } });
    expect(pgRun.code, pgRun.stderr).toBe(0);
    const duck = path.join(sb.dir, 'ref.duckdb');
    const duckRun = await cli(['run', '--once', '--json', '--root', sb.root, '--db', duck, '--processors', 'lines']);
    expect(duckRun.code, duckRun.stderr).toBe(0);
    expect(summaryOf(pgRun.stdout)).toEqual(summaryOf(duckRun.stdout));
    expect((summaryOf(pgRun.stdout) as { processors: { lines: { lines: number } } }).processors.lines.lines).toBeGreaterThan(700);

    const again = await cli(['run', '--once', '--json', '--root', sb.root, '--db', url, '--processors', 'lines'], { env: { SESSION_PIPELINE_SOURCE_NAME: 'src' } });
    const s = summaryOf(again.stdout) as { processors: { lines: { unchanged: number; scanned: number; bytes_read: number } } };
    expect(s.processors.lines.unchanged).toBe(s.processors.lines.scanned);
    expect(s.processors.lines.bytes_read).toBe(0);

    // Reads go to PostgreSQL directly (no daemon, no lock) and print what DuckDB prints. A shared
    // store keeps session keys qualified by the source (`src:`, docs/nodes.md): compared without it.
    for (const q of [
      'SELECT processor_name, {file}, owner, "offset", head_hash, tail_hash, size, inode, lines_processed, items_processed, bad_lines, status, attempts, last_error, carry FROM session_processor_state ORDER BY 2',
      'SELECT processor_name, {file}, "offset", length, kind, detail FROM session_bad_lines ORDER BY 2, 3',
      // sum(BIGINT) is HUGEINT in DuckDB and NUMERIC in PostgreSQL: same value, different type names.
      'SELECT count(*) AS n, CAST(sum(lines_processed) AS BIGINT) AS lines FROM session_processor_state',
    ]) {
      for (const fmt of q.includes('bad_lines') ? [['--json'], ['--csv'], []] : [['--json']]) {
        const a = await cli(['sql', q.replace('{file}', 'substr(session_file, 5) AS session_file'), ...fmt, '--db', url]);
        const b = await cli(['sql', q.replace('{file}', 'session_file'), ...fmt, '--db', duck]);
        expect(a.code, a.stderr).toBe(0);
        expect(a.stdout).toBe(b.stdout);
      }
    }
    const refused = await cli(['sql', 'DELETE FROM session_processor_state', '--db', url]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
  }, 300_000); // a dozen CLI processes: minutes on a loaded 2-core machine
});
