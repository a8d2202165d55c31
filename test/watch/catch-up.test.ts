/**
 * The first catch-up (src/watch/catch-up.ts) as a real daemon process: a
 * backlog of files found at start goes through the batch path, /status says
 * so while it does, appends during it are held and then processed, and every
 * line lands exactly once, also across a kill -9 in the middle of it.
 */
import fs from 'node:fs';
import http from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { query, sandbox, spawnCli, waitFor, type Sandbox } from '../helpers.js';
import { CATCH_UP_MIN_FILES } from '../../src/watch/catch-up.js';

let sb: Sandbox;
const children: ChildProcess[] = [];
beforeEach(() => {
  sb = sandbox('sp-catchup-');
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  sb.cleanup();
});

const FILES = 1200;
const rec = (f: number, i: number) => JSON.stringify({ type: 'assistant', f, i, text: 'x'.repeat(100) }) + '\n';
const files = Array.from({ length: FILES }, (_, f) => `o${f % 12}/s${f}.jsonl`);

interface CatchUpStatus {
  phase: 'scanning' | 'catching-up' | 'caught-up';
  files: number;
  done: number;
  batch: boolean;
}
interface Status {
  catchUp: CatchUpStatus;
  hintsPending: number;
  commitPendingUnits: number;
  rescanning: boolean;
  queues: Record<string, { running: number; queued: number }>;
}

function get(port: number, p: string): Promise<Status> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(JSON.parse(text) as Status));
      })
      .on('error', reject);
  });
}

function start(processors = 'lines'): { child: ChildProcess; port: () => Promise<number>; stderr: () => string } {
  // Paced (a fault hook): 1,200 files over 4 staging workers take >= 3 s, long enough for the
  // test to see the catch-up and act during it on any machine (unpaced, a fast one finished it
  // between two polls).
  const child = spawnCli(['watch', '--root', sb.root, '--db', sb.db, '--processors', processors, '--quiet-ms', '50', '--max-wait-ms', '300', '--admin-port', '0'], {
    SESSION_PIPELINE_FAULT_CATCH_UP_PACE_MS: '10',
  });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (b) => (err += b));
  const port = () =>
    waitFor(() => {
      if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}:\n${err}`);
      const l = err.split('\n').find((x) => x.includes('"msg":"admin API listening"'));
      return l ? (JSON.parse(l) as { port: number }).port : null;
    }, 30_000);
  return { child, port, stderr: () => err };
}

const idle = (s: Status) =>
  s.catchUp.phase === 'caught-up' &&
  !s.rescanning &&
  s.hintsPending === 0 &&
  s.commitPendingUnits === 0 &&
  Object.values(s.queues).every((q) => q.running === 0 && q.queued === 0);

/** Every file's committed line count and bytes equal its content: nothing lost, nothing twice. */
async function expectExactTotals(names: string[]): Promise<void> {
  const rows = await query<{ session_file: string; lines: number; bytes: number }>(sb.db, 'SELECT session_file, lines, bytes FROM lines_file_stats');
  const got = new Map(rows.map((r) => [r.session_file, r]));
  expect(got.size).toBe(names.length);
  for (const f of names) {
    const content = fs.readFileSync(sb.file(f));
    expect(got.get(f), f).toMatchObject({ lines: content.toString().split('\n').length - 1, bytes: content.length });
  }
}

function exited(c: ChildProcess): Promise<void> {
  return new Promise((res) => (c.exitCode !== null || c.signalCode !== null ? res() : c.on('exit', () => res())));
}

describe('first catch-up', () => {
  it('takes a backlog through the batch path, says so in /status, and holds appends to its files until they commit', async () => {
    expect(FILES).toBeGreaterThan(CATCH_UP_MIN_FILES);
    for (let f = 0; f < FILES; f++) sb.write(files[f], rec(f, 0) + rec(f, 1) + rec(f, 2));
    const d = start();
    const port = await d.port();
    const phases = new Set<string>();
    let appended = false;
    const created = 'late/new.jsonl';
    const s = await waitFor(
      async () => {
        const st = await get(port, '/status');
        phases.add(st.catchUp.phase);
        if (st.catchUp.phase === 'catching-up' && !appended) {
          // During the catch-up: appends to a backlog file (its hint is held) and a new file.
          appended = true;
          sb.append(files[0], rec(0, 3));
          sb.append(files[FILES - 1], rec(FILES - 1, 3));
          sb.write(created, rec(-1, 0));
        }
        return appended && idle(st) ? st : null;
      },
      120_000,
      20,
    );
    expect(phases).toContain('catching-up');
    expect(s.catchUp).toMatchObject({ phase: 'caught-up', files: FILES, done: FILES, batch: true });
    // The appends' events have long arrived; idle again a second later: their runs are done.
    await new Promise((r) => setTimeout(r, 1000));
    await waitFor(async () => idle(await get(port, '/status')), 20_000);
    d.child.kill('SIGINT');
    await exited(d.child);
    expect(d.stderr()).toContain('"msg":"catching up"');
    expect(d.stderr()).toContain('"msg":"caught up"');
    await expectExactTotals([...files, created]);
  });

  it('a kill -9 in the middle of the catch-up loses nothing and doubles nothing after a restart', async () => {
    for (let f = 0; f < FILES; f++) sb.write(files[f], rec(f, 0) + rec(f, 1));
    const first = start();
    const port = await first.port();
    await waitFor(async () => {
      const st = await get(port, '/status');
      return st.catchUp.phase === 'catching-up' && st.catchUp.done > 0;
    }, 120_000, 10);
    first.child.kill('SIGKILL');
    await exited(first.child);
    // Appends while it is down: the restart's backlog has new files and grown ones.
    for (let f = 0; f < FILES; f += 3) sb.append(files[f], rec(f, 2));
    const again = start();
    const port2 = await again.port();
    const s = await waitFor(async () => {
      const st = await get(port2, '/status');
      return idle(st) ? st : null;
    }, 120_000);
    expect(s.catchUp.phase).toBe('caught-up');
    expect(s.catchUp.files).toBeGreaterThan(0);
    again.child.kill('SIGINT');
    await exited(again.child);
    await expectExactTotals(files);
  });

  it('folds the backlog (the usage picks) before it says caught up', async () => {
    // One priced assistant message per file, each its own key: the fold picks every one.
    const usageLine = (f: number) =>
      JSON.stringify({
        type: 'assistant',
        timestamp: '2026-11-01T10:00:00.000Z',
        requestId: `req_${f}`,
        message: { id: `msg_${f}`, role: 'assistant', model: 'claude-sonnet-4-20250514', content: [], usage: { input_tokens: 10, output_tokens: 5 } },
      }) + '\n';
    const N = CATCH_UP_MIN_FILES + 100;
    for (let f = 0; f < N; f++) sb.write(files[f], usageLine(f));
    const d = start('usage');
    const port = await d.port();
    await waitFor(async () => (await get(port, '/status')).catchUp.phase === 'caught-up', 120_000, 20);
    // At once: the daemon's own fold waits for a 2 s pause in commits (pipelines/usage/fold.ts),
    // so what the database holds now is what the catch-up left.
    d.child.kill('SIGKILL');
    await exited(d.child);
    const [dirty] = await query<{ n: number }>(sb.db, 'SELECT count(*)::INTEGER AS n FROM usage_dirty_keys');
    const [picks] = await query<{ n: number }>(sb.db, 'SELECT count(*)::INTEGER AS n FROM usage_message_picks');
    expect(dirty.n).toBe(0);
    expect(picks.n).toBe(N);
  });
});
