/**
 * SIGKILL `run --once` mid-backfill (a real child process), rerun it, and
 * compare with a clean run: nothing lost, nothing doubled.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/state/open.js';
import { query, runCli, sandbox, spawnCli, type Sandbox } from './helpers.js';

let sb: Sandbox;
beforeAll(() => {
  sb = sandbox('sp-kill-');
  // ~30 MB in 300 files of mixed size, so the backfill takes long enough to be interrupted.
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let f = 0; f < 300; f++) {
    const n = Math.floor(20 + rnd() * (f % 10 === 0 ? 2000 : 200));
    let s = '';
    for (let i = 0; i < n; i++) s += JSON.stringify({ type: 'assistant', f, i, text: 'z'.repeat(Math.floor(rnd() * 400)) }) + '\n';
    sb.write(`owner${f % 17}/s${f}.jsonl`, s);
  }
});
afterAll(() => sb.cleanup());

async function totals(db: string) {
  return query<{ session_file: string; lines: number; bytes: number }>(
    db,
    'SELECT session_file, lines, bytes FROM lines_file_stats ORDER BY session_file',
  );
}

describe('run --once under SIGKILL', () => {
  it('a killed backfill, rerun, equals a clean run', async () => {
    const clean = path.join(sb.dir, 'clean.duckdb');
    const r = await runCli(['run', '--once', '--json', '--root', sb.root, '--db', clean, '--processors', 'lines']);
    expect(r.code).toBe(0);
    const expected = await totals(clean);
    expect(expected.length).toBe(300);

    const db = path.join(sb.dir, 'killed.duckdb');
    let kills = 0;
    for (const delay of [250, 450, 700]) {
      const child = spawnCli(['run', '--once', '--root', sb.root, '--db', db, '--processors', 'lines', '--log-level', 'silent']);
      const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_c, sig) => res(sig)));
      await new Promise((res) => setTimeout(res, delay));
      child.kill('SIGKILL');
      if ((await exited) === 'SIGKILL') kills++;
    }
    expect(kills).toBeGreaterThan(0);
    const again = await runCli(['run', '--once', '--json', '--root', sb.root, '--db', db, '--processors', 'lines']);
    expect(again.code).toBe(0);
    expect(await totals(db)).toEqual(expected);
    // The checkpoints agree with the outputs: a further run has nothing to do.
    const third = await runCli(['run', '--once', '--json', '--root', sb.root, '--db', db, '--processors', 'lines']);
    expect(JSON.parse(third.stdout).processors.lines).toMatchObject({ unchanged: 300, bytes_read: 0 });
    expect(fs.existsSync(db)).toBe(true);
  });

  it('a second process on a locked database exits non-zero at once, naming the lock', async () => {
    const db = path.join(sb.dir, 'locked.duckdb');
    const holder = await openStore(db);
    try {
      const t0 = Date.now();
      const second = await runCli(['run', '--once', '--root', sb.root, '--db', db, '--processors', 'lines']);
      expect(second.code).toBe(3);
      expect(second.stderr).toMatch(/locked by another process/);
      expect(second.stderr).toContain(db);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await holder.close();
    }
  });
});
