/**
 * Watch mode with real watches on a real temp root and a real DuckDB file, once per watch
 * source: inotify (per-directory fs.watch) and chokidar (issue 15: both on Linux).
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sandbox, silentLog, waitFor, type Sandbox } from '../helpers.js';
import { loadConfig, type Config, type WatcherSource } from '../../src/config/config.js';
import { startDaemon, type Daemon } from '../../src/watch/daemon.js';
import { linesProcessor } from '../../pipelines/lines/index.js';

let sb: Sandbox;
let daemon: Daemon | null = null;
beforeEach(() => {
  sb = sandbox('sp-watch-');
});
afterEach(async () => {
  await daemon?.stop();
  daemon = null;
  sb.cleanup();
});

const SOURCES: WatcherSource[] = ['inotify', 'chokidar'];
let source: WatcherSource = 'inotify';

function config(over: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}, { SESSION_ROOT: sb.root, SESSION_PIPELINE_DB: sb.db }),
    quietMs: 100,
    maxWaitMs: 1000,
    rescanIntervalMs: 600_000,
    watcher: source,
    ...over,
  };
}

async function start(over: Partial<Config> = {}): Promise<Daemon> {
  daemon = await startDaemon({ config: config(over), processors: [linesProcessor], log: silentLog });
  // Let the watcher set up its watches (chokidar says when it is ready).
  const deadline = Date.now() + 5000;
  while (daemon.status().watcher.state === 'starting' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, over.watcher === 'off' ? 50 : 400));
  return daemon;
}

async function committedLines(d: Daemon, file: string): Promise<number> {
  const rows = await d.pipeline.db.all<{ lines: bigint }>('SELECT lines FROM lines_file_stats WHERE session_file = $1', [file]);
  return rows.length ? Number(rows[0].lines) : 0;
}

const rec = (i: number) => JSON.stringify({ type: 'user', i, text: 'hello '.repeat(5) }) + '\n';

describe.each(SOURCES)('watch (%s)', (src) => {
  beforeEach(() => {
    source = src;
  });

  it('says which source runs', async () => {
    const d = await start();
    expect(d.status().watcher).toMatchObject({ source: src, state: 'ok' });
  });

  it('a file appended continuously is processed within max-wait', async () => {
    // Appends every 50 ms never leave a 300 ms quiet gap: only max-wait (1 s) lets it through. The
    // writer runs on its own timer, not in the polling loop, so a slow query on a loaded machine
    // (load 12-16 here: 21-30 appends in 4 s from a loop that polled between appends) cannot open
    // a quiet gap; the gaps are checked, since without them the test would not test max-wait.
    const d = await start({ quietMs: 300, maxWaitMs: 1000 });
    const f = 'alice/live.jsonl';
    sb.write(f, '');
    const appendedAt: number[] = [];
    const writer = setInterval(() => {
      sb.append(f, rec(appendedAt.length));
      appendedAt.push(Date.now());
    }, 50);
    let worstLag = 0;
    const stopAt = Date.now() + 4000;
    try {
      while (Date.now() < stopAt) {
        await new Promise((r) => setTimeout(r, 100));
        const c = await committedLines(d, f);
        // The oldest line not yet committed must be younger than max-wait plus one commit.
        if (c < appendedAt.length) worstLag = Math.max(worstLag, Date.now() - appendedAt[c]);
      }
    } finally {
      clearInterval(writer);
    }
    const gaps = appendedAt.slice(1).map((t, k) => t - appendedAt[k]);
    expect(appendedAt.length).toBeGreaterThan(20);
    expect(Math.max(...gaps)).toBeLessThan(300);
    // Without max-wait the lag would grow for the whole 4 s; the margin covers a commit on a busy machine.
    expect(worstLag).toBeLessThan(1000 + 1500);
    await waitFor(async () => (await committedLines(d, f)) === appendedAt.length, 3000);
  });

  it('the last append of a burst is processed without waiting for a rescan', async () => {
    const d = await start({ rescanIntervalMs: 600_000 });
    const f = 'alice/burst.jsonl';
    sb.write(f, rec(0));
    await waitFor(async () => (await committedLines(d, f)) === 1);
    // A burst of appends: events coalesce, and the run that picks up the first must requeue the rest.
    for (let i = 1; i <= 50; i++) sb.append(f, rec(i));
    await waitFor(async () => (await committedLines(d, f)) === 51, 3000);
  });

  it('picks up a file created in a new owner directory after start', async () => {
    const d = await start();
    sb.write('newowner/s1.jsonl', rec(1) + rec(2));
    await waitFor(async () => (await committedLines(d, 'newowner/s1.jsonl')) === 2, 3000);
    sb.write('newowner/s1/subagents/agent-a.jsonl', rec(3));
    await waitFor(async () => (await committedLines(d, 'newowner/s1/subagents/agent-a.jsonl')) === 1, 3000);
  });

  it('picks up files that existed before start (initial scan) and appends to cold files', async () => {
    sb.write('old/a.jsonl', rec(1));
    const past = new Date(Date.now() - 86_400_000);
    fs.utimesSync(sb.file('old/a.jsonl'), past, past);
    const d = await start();
    await waitFor(async () => (await committedLines(d, 'old/a.jsonl')) === 1, 3000);
    // Cold (not individually watched): the directory event still hints it.
    sb.append('old/a.jsonl', rec(2));
    await waitFor(async () => (await committedLines(d, 'old/a.jsonl')) === 2, 3000);
  });

  it('with the watcher off, the rescan alone finds every change', async () => {
    sb.write('a/keep.jsonl', rec(1) + rec(2));
    sb.write('a/trunc.jsonl', rec(1) + rec(2) + rec(3));
    sb.write('a/gone.jsonl', rec(1));
    const d = await start({ watcher: 'off', rescanIntervalMs: 300 });
    expect(d.status().watcher.state).toBe('off');
    await waitFor(async () => (await committedLines(d, 'a/trunc.jsonl')) === 3, 3000);
    sb.append('a/keep.jsonl', rec(3));
    sb.write('a/trunc.jsonl', rec(9));
    fs.rmSync(sb.file('a/gone.jsonl'));
    sb.write('b/new.jsonl', rec(1));
    await waitFor(async () => (await committedLines(d, 'a/keep.jsonl')) === 3, 3000);
    await waitFor(async () => (await committedLines(d, 'a/trunc.jsonl')) === 1, 3000);
    await waitFor(async () => (await committedLines(d, 'b/new.jsonl')) === 1, 3000);
    await waitFor(async () => {
      const r = await d.pipeline.db.all<{ status: string }>(
        "SELECT status FROM session_processor_state WHERE session_file = 'a/gone.jsonl'",
      );
      return r[0]?.status === 'deleted';
    }, 3000);
    // Outputs of the deleted file are kept.
    expect(await committedLines(d, 'a/gone.jsonl')).toBe(1);
  });

  it('records a trace of every stage for a file', async () => {
    const d = await start();
    sb.write('t/x.jsonl', rec(1));
    await waitFor(async () => (await committedLines(d, 't/x.jsonl')) === 1, 3000);
    await waitFor(() => d.trace.recent('t/x.jsonl').some((r) => r.stage === 'committed'), 2000);
    const stages = new Set(d.trace.recent('t/x.jsonl').map((r) => r.stage));
    for (const s of ['source', 'debounced', 'state-check', 'dispatched', 'read', 'processed', 'committed']) expect(stages).toContain(s);
    const committed = d.trace.recent('t/x.jsonl').find((r) => r.stage === 'committed')!;
    expect(committed).toMatchObject({ processor: 'lines', offset: Buffer.byteLength(rec(1)) });
    expect(JSON.stringify(d.trace.recent('t/x.jsonl'))).not.toContain('hello');
  });
});

describe('DuckDB threads (--db-threads)', () => {
  const threads = async (d: Daemon) =>
    Number((await d.pipeline.db.all<{ t: bigint }>("SELECT current_setting('threads')::BIGINT AS t"))[0].t);

  it('watch runs DuckDB on one thread by default, and takes a number', async () => {
    source = 'off';
    const d = await start({ watcher: 'off' });
    expect(await threads(d)).toBe(1);
    await d.stop();
    daemon = await startDaemon({ config: config({ watcher: 'off', dbThreads: 2 }), processors: [linesProcessor], log: silentLog });
    expect(await threads(daemon)).toBe(2);
  });

  it('a bad value names the setting', () => {
    expect(() => loadConfig({}, { SESSION_ROOT: sb.root, SESSION_PIPELINE_DB_THREADS: '0' })).toThrow(/invalid dbThreads \(--db-threads \/ SESSION_PIPELINE_DB_THREADS\): "0"/);
    expect(() => loadConfig({ dbThreads: 'many' }, { SESSION_ROOT: sb.root })).toThrow(/invalid dbThreads/);
  });
});
