/**
 * The bad input set. For each case: a clear, rate-limited log line naming the
 * file and offset, a metric (counters, the run summary, session_bad_lines),
 * the rest of the file and every other file processed, and nothing lost
 * once the problem is fixed.
 *
 * chmod 000 does not stop root, so the permission cases run the CLI as
 * nobody (uid 65534) with the sandbox handed over to it.
 *
 * Every case runs on each store (STORES). Two are about the database being a
 * file, and run on DuckDB only: a database path nobody may write, and a full
 * disk under the database file (PostgreSQL's files are its server's).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STORES, escapingSymlinks, line, query, sandboxOn, spawnCli, waitFor, type Sandbox, type StoreName } from '../helpers.js';
import { freshPgDatabase } from '../pg.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { runOnce, type RunSummary } from '../../src/pipeline/once.js';
import { linesProcessor } from '../../pipelines/lines/index.js';
import { loadConfig } from '../../src/config/config.js';
import { startDaemon } from '../../src/watch/daemon.js';
import type { Processor } from '../../src/pipeline/processor.js';
import { makeRng } from '../../bench/lib/corpus.js';
import { captureLog, cli, fillUp, isRoot, logLines, mountTmpfs, shareWithNobody, type LogEntry } from './util.js';
// @ts-expect-error plain JS module shared with the crash child
import { recorder } from './recorder.mjs';

let sb: Sandbox;
/** Databases made by `anotherDb()` for the current case, dropped after it. */
let extraDbs: (() => Promise<void>)[] = [];

/** A second empty store of the sandbox's kind (a reference run beside the case's own). */
async function anotherDb(name: string): Promise<string> {
  if (sb.store === 'duckdb') return path.join(sb.dir, `${name}.duckdb`);
  const pg = await freshPgDatabase(name);
  extraDbs.push(pg.drop);
  return pg.url;
}

function walkAll(dir: string): string[] {
  const out: string[] = [];
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...walkAll(p));
  }
  return out;
}

const rec = (i: number) => line({ type: 'user', i, text: 'hello' });
const bytes = (s: string | Buffer) => (typeof s === 'string' ? Buffer.byteLength(s) : s.length);

interface Harness {
  pipeline: Pipeline;
  logs: ReturnType<typeof captureLog>;
  run(): Promise<RunSummary>;
  close(): Promise<void>;
}

async function open(extra: { maxLineBytes?: number } = {}): Promise<Harness> {
  const logs = captureLog('info');
  const pipeline = await Pipeline.open({
    root: sb.root,
    dbPath: sb.db,
    processors: [linesProcessor, recorder() as Processor],
    log: logs.log,
    retry: { maxAttempts: 5, baseDelayMs: 0, maxDelayMs: 0 },
    maxLineBytes: extra.maxLineBytes ?? 32 << 20,
  });
  return { pipeline, logs, run: () => runOnce(pipeline), close: () => pipeline.close() };
}

async function stats(file: string): Promise<{ lines: number; bytes: number } | undefined> {
  return (await query<{ lines: number; bytes: number }>(sb.db, 'SELECT lines, bytes FROM lines_file_stats WHERE session_file = $1', [sb.keys.stored(file)]))[0];
}

async function stateOf(file: string, proc = 'lines'): Promise<Record<string, unknown> | undefined> {
  return (await query(sb.db, 'SELECT * FROM session_processor_state WHERE processor_name = $1 AND session_file = $2', [proc, sb.keys.stored(file)]))[0];
}

async function badRows(file: string) {
  return query<{ processor_name: string; offset: number; length: number; kind: string }>(
    sb.db,
    'SELECT processor_name, "offset", length, kind FROM session_bad_lines WHERE session_file = $1 ORDER BY processor_name, "offset"',
    [sb.keys.stored(file)],
  );
}

async function recRows(file: string) {
  return query<{ offset: number; n: number }>(sb.db, 'SELECT "offset", count(*) AS n FROM rec_lines WHERE session_file = $1 GROUP BY 1 ORDER BY 1', [sb.keys.stored(file)]);
}

const badLineLogs = (logs: LogEntry[], file: string) => logs.filter((e) => e.msg === 'bad line skipped' && e.sessionFile === file);

/**
 * One bad line between good ones, next to a clean file: logged once (not once
 * per processor, not again on the next run), counted, skipped exactly; then the
 * line is fixed in place and the file is reprocessed with nothing lost.
 */
async function badLineCase(bad: Buffer, kind: string, fixed: Buffer): Promise<void> {
  const f = 'alice/bad.jsonl';
  const before = Buffer.from(rec(1));
  sb.write(f, Buffer.concat([before, bad, Buffer.from(rec(2))]));
  sb.write('bob/good.jsonl', rec(10) + rec(11));
  let h = await open();
  try {
    const s = await h.run();
    for (const p of ['lines', 'rec']) expect(s.processors[p]).toMatchObject({ errors: 0, bad_lines: 1, lines: 4 });
    const logged = badLineLogs(h.logs.entries, f);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 40, sessionFile: f, offset: before.length, length: bad.length, kind });
    expect(h.pipeline.counters.badLines).toBe(1);
    // Rate-limited: the next pass over the same bytes (a new processor version would do it) logs nothing new.
    await h.run();
    expect(badLineLogs(h.logs.entries, f)).toHaveLength(1);
  } finally {
    await h.close();
  }
  expect(await badRows(f)).toEqual([
    { processor_name: 'lines', offset: before.length, length: bad.length, kind },
    { processor_name: 'rec', offset: before.length, length: bad.length, kind },
  ]);
  const size = fs.statSync(sb.file(f)).size;
  expect(await stats(f)).toEqual({ lines: 2, bytes: size - bad.length });
  expect(await stats('bob/good.jsonl')).toEqual({ lines: 2, bytes: bytes(rec(10) + rec(11)) });
  expect(await stateOf(f)).toMatchObject({ offset: size, bad_lines: 1, lines_processed: 2, status: 'ok' });
  expect((await recRows(f)).map((r) => r.n)).toEqual([1, 1]);

  // Fixed: the line is corrected in place; the file is retracted and reprocessed, nothing lost or doubled.
  sb.write(f, Buffer.concat([before, fixed, Buffer.from(rec(2))]));
  h = await open();
  try {
    const s = await h.run();
    expect(s.processors.lines).toMatchObject({ rewritten: 1, bad_lines: 0, lines: 3 });
  } finally {
    await h.close();
  }
  expect(await badRows(f)).toEqual([]);
  expect(await stats(f)).toEqual({ lines: 3, bytes: fs.statSync(sb.file(f)).size });
  expect((await recRows(f)).map((r) => r.n)).toEqual([1, 1, 1]);
}

describe.each(STORES)('bad input on %s', (store: StoreName) => {
  beforeEach(async () => {
    sb = await sandboxOn(store, 'sp-bad-');
  });
  afterEach(async () => {
    // Undo whatever a case made unreadable, so cleanup works.
    for (const p of [sb.root, ...walkAll(sb.root)]) {
      try {
        fs.chmodSync(p, fs.lstatSync(p).isDirectory() ? 0o755 : 0o644);
      } catch {
        // symlinks, vanished files
      }
    }
    await sb.cleanup();
    for (const drop of extraDbs) await drop();
    extraDbs = [];
  });

  describe('bad lines', () => {
    it('invalid JSON', async () => {
      await badLineCase(Buffer.from('{"type":"user","text":"unterminated\n'), 'invalid_json', Buffer.from(line({ type: 'user', text: 'terminated' })));
    });

    it('a valid JSON line that is not an object', async () => {
      await badLineCase(Buffer.from('["an","array"]\n'), 'not_object', Buffer.from(line({ an: 'object' })));
    });

    it('invalid UTF-8', async () => {
      await badLineCase(
        Buffer.concat([Buffer.from('{"type":"user","text":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}\n')]),
        'invalid_utf8',
        Buffer.from(line({ type: 'user', text: 'é(ÿ' })),
      );
    });

    it('NUL bytes (a crash-recovered tail of zeros, then the writer went on)', async () => {
      await badLineCase(
        Buffer.concat([Buffer.alloc(300), Buffer.from('{"type":"user","i":3}\n')]),
        'invalid_json',
        Buffer.from('{"type":"user","i":3}\n'),
      );
    });

    it('a 40 MiB single line is skipped without buffering it, and logged with its offset', async () => {
      const f = 'alice/huge.jsonl';
      const huge = Buffer.from('{"big":"' + 'y'.repeat(40 << 20) + '"}\n');
      sb.write(f, Buffer.concat([Buffer.from(rec(1)), huge, Buffer.from(rec(2))]));
      sb.write('bob/good.jsonl', rec(10));
      const h = await open();
      try {
        const s = await h.run();
        expect(s.processors.lines).toMatchObject({ lines: 3, bad_lines: 1, errors: 0 });
        expect(badLineLogs(h.logs.entries, f)).toEqual([
          expect.objectContaining({ offset: bytes(rec(1)), length: huge.length, kind: 'oversize' }),
        ]);
      } finally {
        await h.close();
      }
      expect(await stats('bob/good.jsonl')).toMatchObject({ lines: 1 });
      expect(await stateOf(f)).toMatchObject({ offset: fs.statSync(sb.file(f)).size, bad_lines: 1 });
      // Fixed: the file is rewritten without it (a re-upload): reprocessed from 0.
      sb.write(f, rec(1) + rec(2) + rec(3));
      const h2 = await open();
      try {
        expect((await h2.run()).processors.lines).toMatchObject({ rewritten: 1, lines: 3, bad_lines: 0 });
      } finally {
        await h2.close();
      }
      expect(await badRows(f)).toEqual([]);
    });
  });

  describe('bad files', () => {
    it('a 100 MiB file with no newline: nothing processed, offset 0, memory bounded, logged; the rest once it ends', async () => {
      const f = 'alice/endless.jsonl';
      // 100 MiB of one unterminated line, written in chunks.
      const p = sb.write(f, '{"type":"assistant","text":"');
      const chunk = Buffer.alloc(4 << 20, 'z');
      for (let i = 0; i < 25; i++) fs.appendFileSync(p, chunk);
      sb.write('bob/good.jsonl', rec(1));
      // Baseline: the same command on a root holding one small file.
      const small = path.join(sb.dir, 'small-root');
      fs.mkdirSync(path.join(small, 'bob'), { recursive: true });
      fs.writeFileSync(path.join(small, 'bob', 'good.jsonl'), rec(1));
      const base = await cli(['run', '--once', '--json', '--root', small, '--db', await anotherDb('base'), '--processors', 'lines', '--max-line-bytes', String(1 << 20)]);
      const r = await cli(['run', '--once', '--json', '--root', sb.root, '--db', sb.db, '--processors', 'lines', '--max-line-bytes', String(1 << 20), '--log-level', 'warn']);
      expect(r.code).toBe(0);
      const s = JSON.parse(r.stdout) as RunSummary;
      expect(s.processors.lines).toMatchObject({ lines: 1, bad_lines: 0, errors: 0, bytes_read: bytes(rec(1)) });
      expect(await stateOf(f)).toMatchObject({ offset: 0, status: 'ok' });
      const warn = logLines(r.stderr).filter((e) => e.sessionFile === f);
      expect(warn).toEqual([expect.objectContaining({ level: 40, offset: 0, msg: expect.stringMatching(/longer than max-line-bytes/) })]);
      // The framer stops buffering past max-line-bytes: the run's peak RSS is far below the file size.
      if (base.peakRss > 0 && r.peakRss > 0) expect(r.peakRss - base.peakRss).toBeLessThan(40 << 20);
      // The line ends, more follows: the 100 MiB line is one oversize bad line at offset 0, the rest is processed.
      fs.appendFileSync(p, '"}\n' + rec(2));
      const r2 = await cli(['run', '--once', '--json', '--root', sb.root, '--db', sb.db, '--processors', 'lines', '--max-line-bytes', String(1 << 20), '--log-level', 'warn']);
      expect(JSON.parse(r2.stdout).processors.lines).toMatchObject({ lines: 1, bad_lines: 1 });
      expect(logLines(r2.stderr).filter((e) => e.msg === 'bad line skipped')).toEqual([
        expect.objectContaining({ sessionFile: f, offset: 0, kind: 'oversize' }),
      ]);
      expect(await stateOf(f)).toMatchObject({ offset: fs.statSync(p).size, lines_processed: 1, bad_lines: 1 });
    }, 120_000);

    it('an empty file is tracked quietly at offset 0 and processed once it grows', async () => {
      sb.write('alice/empty.jsonl', '');
      sb.write('bob/good.jsonl', rec(1));
      let h = await open();
      try {
        const s = await h.run();
        expect(s.processors.lines).toMatchObject({ scanned: 2, errors: 0, bad_lines: 0, lines: 1 });
        expect(h.logs.warnings()).toEqual([]);
      } finally {
        await h.close();
      }
      expect(await stateOf('alice/empty.jsonl')).toMatchObject({ offset: 0, size: 0, status: 'ok' });
      sb.append('alice/empty.jsonl', rec(2));
      h = await open();
      try {
        expect((await h.run()).processors.lines).toMatchObject({ appended: 1, lines: 1 });
      } finally {
        await h.close();
      }
      expect(await stats('alice/empty.jsonl')).toEqual({ lines: 1, bytes: bytes(rec(2)) });
    });

    it('a binary file named .jsonl: every line counted, a few log lines (not one per line), others processed', async () => {
      const f = 'alice/binary.jsonl';
      const rnd = makeRng(42);
      const bin = Buffer.alloc(256 * 1024);
      for (let i = 0; i < bin.length; i++) bin[i] = Math.floor(rnd() * 256);
      const complete = bin.lastIndexOf(0x0a) + 1;
      let nl = 0;
      for (let i = 0; i < complete; i++) if (bin[i] === 0x0a) nl++;
      sb.write(f, bin);
      sb.write('bob/good.jsonl', rec(1));
      const h = await open();
      try {
        const s = await h.run();
        expect(s.processors.lines).toMatchObject({ errors: 0, lines: 1, bad_lines: nl });
        expect(h.pipeline.counters.badLines).toBe(nl);
        const logged = h.logs.entries.filter((e) => e.sessionFile === f);
        expect(nl).toBeGreaterThan(500);
        // Rate-limited per file: the first few bad lines by offset, then one line saying the rest are not logged.
        expect(logged.length).toBeLessThanOrEqual(10);
        expect(logged[0]).toMatchObject({ level: 40, msg: 'bad line skipped', offset: 0 });
        expect(logged.at(-1)).toMatchObject({ msg: expect.stringMatching(/not logged/) });
      } finally {
        await h.close();
      }
      expect(await stateOf(f)).toMatchObject({ offset: complete, bad_lines: nl, lines_processed: 0 });
      expect(await stats('bob/good.jsonl')).toMatchObject({ lines: 1 });
      // Fixed: replaced by a real transcript (temp + rename).
      const tmp = path.join(sb.root, 'alice', '.binary.tmp');
      fs.writeFileSync(tmp, rec(1) + rec(2));
      fs.renameSync(tmp, sb.file(f));
      const h2 = await open();
      try {
        expect((await h2.run()).processors.lines).toMatchObject({ rewritten: 1, lines: 2, bad_lines: 0 });
      } finally {
        await h2.close();
      }
      expect(await badRows(f)).toEqual([]);
      expect(await stats(f)).toEqual({ lines: 2, bytes: bytes(rec(1) + rec(2)) });
    });

    it('a file deleted between stat and read: unknown this time (not deleted, no processor failure); then marked deleted, outputs kept', async () => {
      const f = 'alice/vanishing.jsonl';
      sb.write(f, rec(1));
      sb.write('bob/good.jsonl', rec(1));
      let h = await open();
      try {
        await h.run();
        sb.append(f, rec(2));
        const walk = await h.pipeline.scan();
        const found = walk.files.find((x) => x.ref.sessionFile === f)!;
        fs.rmSync(sb.file(f)); // between the scan's stat and the read
        const out = await (await h.pipeline.runFile(found, found.stat)).done;
        for (const o of out.values()) expect(o).toMatchObject({ kind: 'error', ioError: true, offset: bytes(rec(1)) });
        expect(h.pipeline.counters.ioErrors).toBe(1);
        expect(h.logs.warnings()).toEqual([
          expect.objectContaining({ msg: 'cannot read file; will retry', sessionFile: f, offset: bytes(rec(1)), err: expect.stringMatching(/ENOENT/) }),
        ]);
        expect(h.pipeline.checkpoints.get('lines', f)).toMatchObject({ status: 'ok', attempts: 0 });
        // The next scan sees it gone: marked deleted, outputs kept.
        expect((await h.run()).processors.lines).toMatchObject({ deleted: 1, errors: 0 });
      } finally {
        await h.close();
      }
      expect(await stateOf(f)).toMatchObject({ status: 'deleted', attempts: 0 });
      expect(await stats(f)).toMatchObject({ lines: 1 });
      // Back, with more: processed from where it stopped.
      sb.write(f, rec(1) + rec(2) + rec(3));
      h = await open();
      try {
        expect((await h.run()).processors.lines).toMatchObject({ appended: 1, lines: 2 });
      } finally {
        await h.close();
      }
      expect(await stats(f)).toMatchObject({ lines: 3 });
    });

    it('a symlink to outside the root is never followed, and said so', async () => {
      escapingSymlinks(sb, rec(666), rec(1));
      const h = await open();
      try {
        const s = await h.run();
        expect(s.files).toBe(1);
        expect(h.pipeline.counters.symlinksSkipped).toBe(2);
        const warned = h.logs.warnings().filter((e) => e.msg === 'symlink not followed').map((e) => e.path);
        expect(warned.sort()).toEqual(['alice/link.jsonl', 'mallory']);
        await h.run();
        expect(h.logs.warnings().filter((e) => e.msg === 'symlink not followed')).toHaveLength(2);
      } finally {
        await h.close();
      }
      expect(await query(sb.db, 'SELECT session_file FROM lines_file_stats')).toEqual([{ session_file: sb.keys.stored('alice/real.jsonl') }]);
    });

    it('symlink loops (a file to itself, a directory to its parent) do not hang the scan', async () => {
      fs.mkdirSync(path.join(sb.root, 'alice', 's1'), { recursive: true });
      fs.symlinkSync('loop.jsonl', sb.file('alice/loop.jsonl'));
      fs.symlinkSync('..', path.join(sb.root, 'alice', 's1', 'subagents'));
      fs.symlinkSync('.', path.join(sb.root, 'bob'));
      sb.write('alice/real.jsonl', rec(1));
      const h = await open();
      try {
        const s = await h.run();
        expect(s.files).toBe(1);
        expect(h.pipeline.counters.symlinksSkipped).toBe(3);
        expect(h.logs.warnings().filter((e) => e.msg === 'symlink not followed').map((e) => e.path).sort()).toEqual([
          'alice/loop.jsonl',
          'alice/s1/subagents',
          'bob',
        ]);
      } finally {
        await h.close();
      }
      expect(await stats('alice/real.jsonl')).toMatchObject({ lines: 1 });
    });

    it('names with spaces, unicode and newlines are processed under their exact keys (run --once and watch)', async () => {
      const names = ['my project/sess ion 1.jsonl', 'ünïcødé/日本語-セッション.jsonl', 'alice/new\nline.jsonl', 'alice/tab\there.jsonl'];
      for (const n of names) sb.write(n, rec(1) + '{oops\n' + rec(2));
      const h = await open();
      try {
        const s = await h.run();
        expect(s.processors.lines).toMatchObject({ scanned: 4, lines: 8, bad_lines: 4, errors: 0 });
        for (const n of names) expect(badLineLogs(h.logs.entries, n)).toEqual([expect.objectContaining({ offset: bytes(rec(1)) })]);
      } finally {
        await h.close();
      }
      const rows = await query<{ session_file: string; owner: string; lines: number }>(sb.db, 'SELECT session_file, owner, lines FROM lines_file_stats ORDER BY 1');
      expect(rows.map((r) => sb.keys.local(r.session_file)).sort()).toEqual([...names].sort());
      expect(rows.every((r) => r.lines === 2)).toBe(true);
      expect(rows.find((r) => r.session_file === sb.keys.stored(names[1]))?.owner).toBe('ünïcødé');
      // The daemon finds an append to each through events.
      const config = { ...loadConfig({}, { SESSION_ROOT: sb.root, SESSION_PIPELINE_DB: sb.db }), quietMs: 50, maxWaitMs: 300, rescanIntervalMs: 600_000 };
      const d = await startDaemon({ config, processors: [linesProcessor], log: captureLog('silent').log });
      try {
        await new Promise((r) => setTimeout(r, 400));
        for (const n of names) sb.append(n, rec(3));
        const lines = async (n: string) =>
          Number((await d.pipeline.db.all<{ lines: bigint }>('SELECT lines FROM lines_file_stats WHERE session_file = $1', [sb.keys.stored(n)]))[0]?.lines ?? 0);
        for (const n of names) await waitFor(async () => (await lines(n)) === 3, 5000);
      } finally {
        await d.stop();
      }
    });

    it('the root missing at start: one warning, and files are found once it is created', async () => {
      const root = path.join(sb.dir, 'not-yet');
      const logs = captureLog('info');
      const config = { ...loadConfig({}, { SESSION_ROOT: root, SESSION_PIPELINE_DB: sb.db }), quietMs: 50, maxWaitMs: 300, rescanIntervalMs: 200 };
      const d = await startDaemon({ config, processors: [linesProcessor], log: logs.log });
      try {
        await new Promise((r) => setTimeout(r, 1000));
        const missing = logs.entries.filter((e) => e.msg.includes('root'));
        expect(missing).toEqual([expect.objectContaining({ level: 40, root, msg: expect.stringMatching(/does not exist/) })]);
        fs.mkdirSync(path.join(root, 'alice'), { recursive: true });
        fs.writeFileSync(path.join(root, 'alice', 's.jsonl'), rec(1) + rec(2));
        const lines = async () =>
          Number((await d.pipeline.db.all<{ lines: bigint }>('SELECT lines FROM lines_file_stats WHERE session_file = $1', [sb.keys.stored('alice/s.jsonl')]))[0]?.lines ?? 0);
        await waitFor(async () => (await lines()) === 2, 5000);
        fs.appendFileSync(path.join(root, 'alice', 's.jsonl'), rec(3));
        await waitFor(async () => (await lines()) === 3, 5000);
      } finally {
        await d.stop();
      }
    });
  });

  describe.skipIf(!isRoot)('permissions (the CLI as nobody)', () => {
    // On DuckDB a file in a directory handed over to nobody; PostgreSQL is reached over TCP, whoever runs the CLI.
    const dbFile = () => (store === 'duckdb' ? path.join(sb.dir, 'db', 'state.duckdb') : sb.db);
    const args = () => ['run', '--once', '--json', '--root', sb.root, '--db', dbFile(), '--processors', 'lines', '--log-level', 'warn'];
    const lines = async (f: string) =>
      (await query<{ lines: number; bytes: number }>(dbFile(), 'SELECT lines, bytes FROM lines_file_stats WHERE session_file = $1', [sb.keys.stored(f)]))[0];
    const state = async (f: string) =>
      (await query(dbFile(), "SELECT * FROM session_processor_state WHERE processor_name = 'lines' AND session_file = $1", [sb.keys.stored(f)]))[0];
    const handOver = () => {
      fs.mkdirSync(path.join(sb.dir, 'db'), { recursive: true });
      shareWithNobody(sb.dir, [sb.root, path.join(sb.dir, 'db')]);
    };

    it('a file made unreadable (chmod 000): unknown, not deleted, not a processor failure; restored, it resumes where it stopped', async () => {
      const f = 'alice/locked.jsonl';
      sb.write(f, rec(1) + rec(2));
      sb.write('bob/good.jsonl', rec(1));
      handOver();
      expect((await cli(args(), { asNobody: true, home: sb.dir })).code).toBe(0);
      const stopped = bytes(rec(1) + rec(2));
      sb.append(f, rec(3));
      sb.append('bob/good.jsonl', rec(2));
      fs.chmodSync(sb.file(f), 0o000);
      const r = await cli(args(), { asNobody: true, home: sb.dir });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).processors.lines).toMatchObject({ errors: 1, deleted: 0, appended: 1, lines: 1 });
      expect(logLines(r.stderr).filter((e) => e.level >= 40)).toEqual([
        expect.objectContaining({ msg: 'cannot read file; will retry', sessionFile: f, offset: stopped, err: expect.stringMatching(/EACCES/) }),
      ]);
      expect(await state(f)).toMatchObject({ status: 'ok', attempts: 0, offset: stopped });
      expect(await lines('bob/good.jsonl')).toMatchObject({ lines: 2 });
      fs.chmodSync(sb.file(f), 0o644);
      const r2 = await cli(args(), { asNobody: true, home: sb.dir });
      expect(JSON.parse(r2.stdout).processors.lines).toMatchObject({ errors: 0, appended: 1, lines: 1, bytes_read: bytes(rec(3)) });
      expect(await lines(f)).toEqual({ lines: 3, bytes: fs.statSync(sb.file(f)).size });
    });

    it('a directory made unreadable: its files are unknown (not deleted), others go on; restored, nothing lost', async () => {
      sb.write('alice/a.jsonl', rec(1));
      sb.write('alice/b.jsonl', rec(1));
      sb.write('bob/good.jsonl', rec(1));
      handOver();
      expect((await cli(args(), { asNobody: true, home: sb.dir })).code).toBe(0);
      sb.append('alice/a.jsonl', rec(2));
      sb.append('bob/good.jsonl', rec(2));
      fs.chmodSync(path.join(sb.root, 'alice'), 0o000);
      const r = await cli(args(), { asNobody: true, home: sb.dir });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).processors.lines).toMatchObject({ deleted: 0, lines: 1 });
      expect(logLines(r.stderr).filter((e) => e.level >= 40)).toEqual([
        expect.objectContaining({ msg: expect.stringMatching(/cannot list directory/), dir: 'alice', code: 'EACCES' }),
      ]);
      for (const f of ['alice/a.jsonl', 'alice/b.jsonl']) expect(await state(f)).toMatchObject({ status: 'ok' });
      fs.chmodSync(path.join(sb.root, 'alice'), 0o755);
      const r2 = await cli(args(), { asNobody: true, home: sb.dir });
      expect(JSON.parse(r2.stdout).processors.lines).toMatchObject({ deleted: 0, appended: 1, lines: 1 });
      expect(await lines('alice/a.jsonl')).toMatchObject({ lines: 2 });
    });

    it.skipIf(store !== 'duckdb')('a read-only database path: a clear error at start, nothing recorded; fixed, everything is processed', async () => {
      sb.write('alice/s.jsonl', rec(1) + rec(2));
      handOver();
      // A directory nobody may write to.
      const roDir = path.join(sb.dir, 'ro');
      fs.mkdirSync(roDir, { mode: 0o755 });
      const ro = ['run', '--once', '--json', '--root', sb.root, '--db', path.join(roDir, 'state.duckdb'), '--processors', 'lines'];
      let r = await cli(ro, { asNobody: true, home: sb.dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot open database .*ro\/state\.duckdb/);
      expect(r.stdout).toBe('');
      // An existing database file nobody may write.
      expect((await cli(args(), { asNobody: true, home: sb.dir })).code).toBe(0);
      sb.append('alice/s.jsonl', rec(3));
      fs.chownSync(dbFile(), 0, 0);
      fs.chmodSync(dbFile(), 0o444);
      r = await cli(args(), { asNobody: true, home: sb.dir });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/cannot open database/);
      fs.chownSync(dbFile(), 65534, 65534);
      fs.chmodSync(dbFile(), 0o644);
      r = await cli(args(), { asNobody: true, home: sb.dir });
      expect(JSON.parse(r.stdout).processors.lines).toMatchObject({ appended: 1, lines: 1, errors: 0 });
      expect(await lines('alice/s.jsonl')).toMatchObject({ lines: 3 });
    });
  });

  describe.skipIf(store !== 'duckdb')('a full database directory', () => {
    const disk = () => path.join(sb.dir, 'disk');
    let unmount: (() => void) | null = null;
    afterEach(() => {
      unmount?.();
      unmount = null;
    });

    it('at start: a clear error, and once space is freed the run works (no stuck empty database file)', async (ctx) => {
      unmount = mountTmpfs(disk(), '2m');
      if (!unmount) return ctx.skip('cannot mount a tmpfs here (needs CAP_SYS_ADMIN)');
      sb.write('alice/s.jsonl', rec(1) + rec(2));
      const filler = fillUp(disk());
      const db = path.join(disk(), 'state.duckdb');
      const args = ['run', '--once', '--json', '--root', sb.root, '--db', db, '--processors', 'lines'];
      let r = await cli(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot open database .*state\.duckdb.*No space left on device/);
      fs.rmSync(filler);
      r = await cli(args);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).processors.lines).toMatchObject({ lines: 2, errors: 0 });
    });

    it('mid-run: run --once and the daemon stop with a clear error, nothing blamed on the processor; freed, nothing lost', async (ctx) => {
      unmount = mountTmpfs(disk(), '8m');
      if (!unmount) return ctx.skip('cannot mount a tmpfs here (needs CAP_SYS_ADMIN)');
      const files = Array.from({ length: 20 }, (_, i) => `o${i % 3}/s${i}.jsonl`);
      for (const f of files) sb.write(f, rec(0));
      const db = path.join(disk(), 'state.duckdb');
      const common = ['--root', sb.root, '--db', db, '--processors', 'lines', '--max-attempts', '2', '--retry-base-ms', '0', '--log-level', 'warn'];
      const once = ['run', '--once', '--json', ...common];
      expect((await cli(once)).code).toBe(0);
      // Loud either way: our clear error and exit 1, or DuckDB 1.5 aborting the process from inside a
      // commit that failed half-way (FATAL "Failed to append to PRIMARY_..."). Never a processor blamed,
      // never a file quarantined, never a half-applied commit afterwards.
      const loud = (r: { code: number | null; signal: NodeJS.Signals | null; stderr: string }, clear: RegExp) => {
        if (r.signal === 'SIGABRT') expect(r.stderr).toMatch(/FATAL|INTERNAL Error/);
        else {
          expect(r.code).toBe(1);
          expect(r.stderr).toMatch(clear);
          expect(r.stderr).toMatch(/No space left on device/);
        }
        expect(r.stderr).not.toMatch(/processor failed|could not be found|quarantined/);
      };
      // The daemon, running when the disk fills: one fatal line naming the database, exit 1 (its
      // supervisor restarts it later).
      const daemon = spawnCli(['watch', ...common, '--admin-port', '0', '--quiet-ms', '50', '--max-wait-ms', '200'], { SESSION_PIPELINE_LOG_LEVEL: 'warn' });
      let stderr = '';
      daemon.stderr!.on('data', (b) => (stderr += b));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => daemon.on('exit', (code, signal) => res({ code, signal })));
      try {
        await new Promise((r) => setTimeout(r, 2500));
        expect(daemon.exitCode).toBeNull();
        const filler = fillUp(disk());
        const big = JSON.stringify({ type: 'assistant', text: 'x'.repeat(2000) }) + '\n';
        for (const f of files) sb.append(f, big.repeat(400));
        const end = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
        expect(end, 'the daemon keeps running on a full disk').not.toBeNull();
        loud({ ...end!, stderr }, new RegExp(`"msg":"cannot write to the database; stopping"`));
        if (end!.signal !== 'SIGABRT') {
          expect(logLines(stderr).filter((e) => e.level === 60)).toEqual([expect.objectContaining({ db, err: expect.stringMatching(/No space left/) })]);
        }
        // run --once while full, more times than --max-attempts (which would quarantine a failing processor).
        for (let i = 0; i < 3; i++) loud(await cli(once), new RegExp(`cannot write to database ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
        fs.rmSync(filler);
      } finally {
        if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
      }
      const r = await cli(once);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).processors.lines).toMatchObject({ errors: 0, quarantined: 0 });
      const rows = await query<{ session_file: string; lines: number; status: string; attempts: number }>(
        db,
        `SELECT s.session_file, l.lines, s.status, s.attempts FROM session_processor_state s JOIN lines_file_stats l USING (session_file) WHERE processor_name = 'lines'`,
      );
      expect(rows).toHaveLength(files.length);
      for (const row of rows) expect(row).toMatchObject({ lines: 401, status: 'ok', attempts: 0 });
    }, 120_000);
  });
});
