/**
 * Data that was silently wrong or lost (issue 12, section 2), on real files and real
 * DuckDB: a rewrite that keeps size, mtime and inode; names that are not valid UTF-8; a
 * UTF-8 byte order mark; the database file deleted under a running daemon; and
 * usage_files.last_ts depending on how a file was cut into batches.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { line, query, runOnceIn, sandbox, silentLog, spawnCli, waitFor, type Sandbox } from '../helpers.js';
import { linesProcessor } from '../../pipelines/lines/index.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { startDaemon, type Daemon } from '../../src/watch/daemon.js';
import { OpsMonitor, thresholdsFrom } from '../../src/ops/monitor.js';
import { bytesOfKey, pathOfKey, segmentOfBytes, segmentOfName } from '../../src/discover/names.js';

let sb: Sandbox;
let daemon: Daemon | null = null;
const children: ChildProcess[] = [];
beforeEach(() => {
  sb = sandbox('sp-silent-');
});
afterEach(async () => {
  await daemon?.stop();
  daemon = null;
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  sb.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fileStats(db: string) {
  return query<{ session_file: string; lines: number; bytes: number }>(db, 'SELECT session_file, lines, bytes FROM lines_file_stats ORDER BY session_file');
}

function config(over: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}, { SESSION_ROOT: sb.root, SESSION_PIPELINE_DB: sb.db }),
    quietMs: 50,
    maxWaitMs: 300,
    rescanIntervalMs: 200,
    watcher: 'off',
    adminPort: 0,
    ...over,
  };
}

/** Rewrite a file in place with other bytes of the same size, and put its mtime back. */
function rewriteKeepingStat(file: string, content: string): void {
  const before = fs.statSync(file);
  expect(Buffer.byteLength(content)).toBe(before.size);
  // `touch -r` keeps the nanoseconds (utimes from JS rounds them), as restores and rsync do.
  const ref = `${file}.ref`;
  execFileSync('touch', ['-r', file, ref]);
  fs.writeFileSync(file, content); // O_TRUNC: same inode
  execFileSync('touch', ['-r', ref, file]);
  fs.rmSync(ref);
  const after = fs.statSync(file);
  expect([after.size, after.mtimeMs, after.ino]).toEqual([before.size, before.mtimeMs, before.ino]);
}

describe('a rewrite that keeps size, mtime and inode', () => {
  // 16 bytes each: two lines, then one.
  const two = '{"n":1}\n{"n":2}\n';
  const one = '{"n":123456789}\n';

  it('is caught by run --once (the ctime moved)', async () => {
    const f = sb.write('a/s.jsonl', two);
    await runOnceIn(sb);
    expect(await fileStats(sb.db)).toMatchObject([{ session_file: 'a/s.jsonl', lines: 2 }]);
    await sleep(20); // past the filesystem's timestamp granularity
    rewriteKeepingStat(f, one);
    const s = await runOnceIn(sb);
    expect(s.processors.lines).toMatchObject({ rewritten: 1, unchanged: 0 });
    expect(await fileStats(sb.db)).toMatchObject([{ session_file: 'a/s.jsonl', lines: 1, bytes: 16 }]);
  });

  it('is caught by the daemon rescan, whose seen-files path asks the same test', async () => {
    const f = sb.write('a/s.jsonl', two);
    daemon = await startDaemon({ config: config(), processors: [linesProcessor], log: silentLog });
    await waitFor(async () => (await daemon!.pipeline.db.all('SELECT lines FROM lines_file_stats')).length === 1 && Number((await daemon!.pipeline.db.all<{ lines: bigint }>('SELECT lines FROM lines_file_stats'))[0].lines) === 2);
    // Let rescans see the stat as caught up (the cheap path that skips checkpoints).
    await sleep(500);
    rewriteKeepingStat(f, one);
    await waitFor(async () => {
      const rows = await daemon!.pipeline.db.all<{ lines: bigint }>('SELECT lines FROM lines_file_stats');
      return Number(rows[0].lines) === 1;
    }, 10_000);
  });
});

describe('names that are not valid UTF-8', () => {
  it('key segments map one-to-one to the bytes of a name', () => {
    const latin1 = Buffer.from('caf\xe9.jsonl', 'latin1');
    expect(segmentOfBytes(latin1)).toBe('caf%E9.jsonl');
    expect(bytesOfKey('caf%E9.jsonl').equals(latin1)).toBe(true);
    expect(segmentOfBytes(Buffer.from('ok-é.jsonl'))).toBe('ok-é.jsonl');
    // A literal % is escaped, so a segment with % is always an escaped one.
    expect(segmentOfName('50%.jsonl')).toBe('50%25.jsonl');
    expect(bytesOfKey('50%25.jsonl').toString()).toBe('50%.jsonl');
    expect(bytesOfKey(segmentOfBytes(Buffer.from('x%\xff', 'latin1'))).equals(Buffer.from('x%\xff', 'latin1'))).toBe(true);
    expect(pathOfKey('/r', 'a/b.jsonl')).toBe('/r/a/b.jsonl');
    expect(Buffer.isBuffer(pathOfKey('/r', 'a%FF/b.jsonl'))).toBe(true);
  });

  it('are processed under stable escaped keys, in files and in directories, and counted', async () => {
    const root = Buffer.from(sb.root);
    const p = (...parts: (string | Buffer)[]) => Buffer.concat(parts.flatMap((x, i) => (i ? [Buffer.from('/'), Buffer.from(x)] : [Buffer.from(x)])));
    const badFile = Buffer.from('s\xe9ssion.jsonl', 'latin1');
    const badDir = Buffer.from('own\xe9r', 'latin1');
    fs.mkdirSync(p(root, 'a'), { recursive: true });
    fs.writeFileSync(p(root, 'a', badFile), line({ n: 1 }) + line({ n: 2 }));
    fs.mkdirSync(p(root, badDir));
    fs.writeFileSync(p(root, badDir, 'x.jsonl'), line({ n: 1 }));
    fs.writeFileSync(p(root, 'a', '100%.jsonl'), line({ n: 1 }) + line({ n: 2 }) + line({ n: 3 }));
    const s = await runOnceIn(sb);
    expect(s.files).toBe(3);
    expect((await fileStats(sb.db)).map((r) => [r.session_file, r.lines])).toEqual([
      ['a/100%25.jsonl', 3],
      ['a/s%E9ssion.jsonl', 2],
      ['own%E9r/x.jsonl', 1],
    ]);
    // Stable: a second run finds the same keys unchanged (nothing deleted, nothing re-read).
    fs.appendFileSync(p(root, 'a', badFile), line({ n: 3 }));
    const again = await runOnceIn(sb);
    expect(again.processors.lines).toMatchObject({ scanned: 3, unchanged: 2, appended: 1, deleted: 0 });
    expect((await fileStats(sb.db)).find((r) => r.session_file === 'a/s%E9ssion.jsonl')?.lines).toBe(3);
    // Gone for real: marked deleted under the same key.
    fs.rmSync(p(root, badDir), { recursive: true });
    const third = await runOnceIn(sb);
    expect(third.processors.lines).toMatchObject({ deleted: 1 });
  });
});

describe('a UTF-8 byte order mark', () => {
  it('does not cost the first line', async () => {
    sb.write('a/bom.jsonl', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(line({ n: 1 }) + line({ n: 2 }))]));
    const s = await runOnceIn(sb);
    expect(s.processors.lines).toMatchObject({ lines: 2, bad_lines: 0 });
    // Anywhere but at offset 0 it is content, and a JSON line does not begin with it.
    sb.append('a/bom.jsonl', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(line({ n: 3 }))]));
    const again = await runOnceIn(sb);
    expect(again.processors.lines).toMatchObject({ lines: 0, bad_lines: 1 });
  });
});

describe('the database file deleted under a running daemon', () => {
  it('is noticed and reported in /health', async () => {
    sb.write('a/s.jsonl', line({ n: 1 }));
    daemon = await startDaemon({ config: config(), processors: [linesProcessor], log: silentLog });
    const monitor = new OpsMonitor(daemon, thresholdsFrom(daemon.opts.config));
    try {
      await waitFor(async () => (await daemon!.pipeline.db.all('SELECT * FROM lines_file_stats')).length === 1);
      expect(monitor.health().reasons.join('\n')).not.toMatch(/database file/);
      const lost = new Promise<string>((res) => {
        const off = daemon!.events.listen({
          databaseLost: ({ problem }) => {
            off();
            res(problem);
          },
        });
      });
      fs.rmSync(sb.db);
      expect(await lost).toContain('was deleted');
      const h = monitor.health();
      expect(h.status).toBe('error');
      expect(h.reasons.join('\n')).toContain(`the database file ${sb.db} was deleted`);
    } finally {
      monitor.close();
    }
  });

  it('stops the daemon process with a non-zero exit, so a supervisor restarts it onto a fresh file', async () => {
    sb.write('a/s.jsonl', line({ n: 1 }));
    const d = spawnCli(['watch', '--root', sb.root, '--db', sb.db, '--admin-port', '0', '--processors', 'lines']);
    children.push(d);
    let err = '';
    d.stderr!.on('data', (b) => (err += b));
    await waitFor(() => err.includes('"committed"'), 20_000);
    const exited = new Promise<number | null>((res) => d.on('exit', (code) => res(code)));
    const t0 = Date.now();
    fs.rmSync(sb.db);
    const code = await Promise.race([exited, sleep(15_000).then(() => 'still running')]);
    expect(code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(err).toContain('was deleted while open');
  }, 60_000);
});

describe('usage_files.last_ts', () => {
  const at = (iso: string, n: number) => line({ type: 'user', timestamp: iso, uuid: `u${n}`, message: { role: 'user', content: `hi ${n}` } });
  it('is the same after a clean run and after an incremental one, when timestamps go back', async () => {
    // Later lines with earlier timestamps (clock skew, a resumed session's copied lines).
    const first = at('2025-10-01T12:00:00.000Z', 1);
    const rest = at('2025-10-01T09:00:00.000Z', 2) + at('2025-10-01T10:00:00.000Z', 3);
    const usage = () => [createUsageProcessor()];
    const lastTs = async (db: string) =>
      (await query<{ session_file: string; first_ts: unknown; last_ts: unknown }>(db, 'SELECT session_file, first_ts::VARCHAR AS first_ts, last_ts::VARCHAR AS last_ts FROM usage_files'))[0];

    sb.write('a/s.jsonl', first);
    await runOnceIn(sb, usage());
    sb.append('a/s.jsonl', rest);
    await runOnceIn(sb, usage());
    const incremental = await lastTs(sb.db);

    const clean = sandbox('sp-silent-clean-');
    try {
      clean.write('a/s.jsonl', first + rest);
      await runOnceIn(clean, usage());
      expect(await lastTs(clean.db)).toEqual(incremental);
      expect(String(incremental.last_ts)).toContain('10:00:00');
    } finally {
      clean.cleanup();
    }
  });
});
