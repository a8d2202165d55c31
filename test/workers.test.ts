/**
 * `run --once` with worker threads (src/pipeline/workers/) against the same
 * run on the main thread, as real child processes of the built CLI: the same
 * tables to the row, the real corpus's usage figures exactly, bad lines and
 * retractions alike, and nothing lost or doubled when a worker-backed
 * backfill is SIGKILLed and rerun.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyCorpus, line, query, runCli, sandbox, spawnCli, type Sandbox } from './helpers.js';
import { dedupFigures, expectReadmePerFile, perFileFigures, readmeFigures } from './usage/support.js';

const KEY = ['--secrets-key', 'test-key-workers'];

/** Every output table and the checkpoints, as sorted text (timestamps of the run itself left out). */
async function tables(db: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  const names = await query<{ table_name: string }>(
    db,
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_type = 'BASE TABLE' AND table_name NOT IN ('schema_version', 'secrets_key') ORDER BY 1`,
  );
  for (const { table_name } of names) {
    const cols = await query<{ column_name: string }>(
      db,
      // activated_at and activation record when (and in which order) a process activated a price version: bookkeeping of runs, which a killed and rerun backfill has more of.
      `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND column_name NOT IN ('processed_at', 'updated_at', 'found_at', 'seen_at', 'created_at', 'activated_at', 'activation', 'next_attempt_at') ORDER BY ordinal_position`,
      [table_name],
    );
    const expr = cols.map((c) => `coalesce(CAST("${c.column_name}" AS VARCHAR), '∅')`).join(` || '|' || `);
    const rows = await query<{ r: string }>(db, `SELECT ${expr} AS r FROM "${table_name}" ORDER BY 1`);
    out[table_name] = rows.map((x) => x.r);
  }
  return out;
}

async function once(sb: Sandbox, db: string, workers: number, extra: string[] = []) {
  const r = await runCli(['run', '--once', '--json', '--root', sb.root, '--db', db, '--workers', String(workers), ...KEY, ...extra]);
  expect(r.stderr).not.toMatch(/error/i);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { processors: Record<string, Record<string, number>> };
}

let sb: Sandbox;
beforeAll(() => {
  sb = sandbox('sp-workers-');
  copyCorpus(sb);
  // Bad lines of every kind, and a file large enough for several read batches (256 KiB each on the main thread, 1 MiB in a worker).
  sb.write(
    'bad/mixed.jsonl',
    line({ type: 'user', message: { role: 'user', content: 'hi' } }) + '{not json\n' + '[1,2]\n' + Buffer.from([0xff, 0xfe, 0x0a]).toString('latin1') + '\n' +
      line({ type: 'user', message: { role: 'user', content: 'password = "Zq8xY2vB7nQ4wE1r"' } }),
  );
  let big = '';
  for (let i = 0; big.length < 2_600_000; i++) big += line({ type: 'assistant', i, message: { id: `m${i}`, role: 'assistant', model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: 1, output_tokens: i }, content: [{ type: 'text', text: 'x'.repeat(500) }] }, timestamp: new Date(Date.UTC(2025, 9, 1) + i * 1000).toISOString() });
  sb.write('big/large.jsonl', big);
});
afterAll(() => sb.cleanup());

describe('run --once --workers', () => {
  it('writes the same tables as the main thread, and the corpus usage figures exactly', async () => {
    const main = path.join(sb.dir, 'main.duckdb');
    const pooled = path.join(sb.dir, 'pooled.duckdb');
    const a = await once(sb, main, 0);
    const b = await once(sb, pooled, 2);
    expect(b).toMatchObject({ processors: a.processors });
    expect(b.processors.lines.bad_lines).toBeGreaterThanOrEqual(3);
    const [ta, tb] = [await tables(main), await tables(pooled)];
    expect(Object.keys(tb)).toEqual(Object.keys(ta));
    for (const t of Object.keys(ta)) expect(tb[t], t).toEqual(ta[t]);
    expect(ta.secret_findings.length).toBeGreaterThan(0);
    expect(ta.session_bad_lines.length).toBeGreaterThan(0);
    // The corpus files of the usage README, counted exactly with workers too.
    const perFile = await perFileFigures(pooled);
    for (const k of [...perFile.keys()]) if (k.startsWith('bad/') || k.startsWith('big/')) perFile.delete(k);
    expectReadmePerFile(perFile);
    const corpus = readmeFigures().corpus;
    const all = await dedupFigures(pooled);
    expect(all.messages).toBeGreaterThan(corpus.messages);
  }, 300_000);

  it('appends, rewrites and truncations give the same tables as the main thread', async () => {
    const dbs = { main: path.join(sb.dir, 'inc-main.duckdb'), pooled: path.join(sb.dir, 'inc-pooled.duckdb') };
    await once(sb, dbs.main, 0);
    await once(sb, dbs.pooled, 2);
    sb.append('big/large.jsonl', line({ type: 'assistant', message: { id: 'late', role: 'assistant', model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: 5, output_tokens: 7 }, content: [] }, timestamp: '2025-10-02T00:00:00Z' }));
    const mixed = sb.file('bad/mixed.jsonl');
    fs.writeFileSync(mixed, line({ type: 'user', message: { role: 'user', content: 'rewritten, no secret' } }) + '{still bad\n');
    const viewer = fs.readdirSync(sb.file('claude-code-viewer')).find((f) => f.endsWith('.jsonl'))!;
    fs.truncateSync(sb.file(`claude-code-viewer/${viewer}`), 200);
    const a = await once(sb, dbs.main, 0);
    const b = await once(sb, dbs.pooled, 2);
    expect(a.processors.lines.rewritten).toBeGreaterThanOrEqual(2);
    expect(b).toMatchObject({ processors: a.processors });
    const [ta, tb] = [await tables(dbs.main), await tables(dbs.pooled)];
    for (const t of Object.keys(ta)) expect(tb[t], t).toEqual(ta[t]);
  }, 300_000);

  it('a worker-backed backfill SIGKILLed and rerun equals a clean run', async () => {
    const k = sandbox('sp-workers-kill-');
    try {
      let seed = 11;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      for (let f = 0; f < 200; f++) {
        const n = Math.floor(20 + rnd() * (f % 10 === 0 ? 2000 : 200));
        let s = '';
        for (let i = 0; i < n; i++) {
          s += line({ type: 'assistant', f, i, message: { id: `m${f}-${i}`, role: 'assistant', model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: i, output_tokens: f }, content: [{ type: 'tool_use', id: `t${f}-${i}`, name: 'Bash', input: { command: 'z'.repeat(Math.floor(rnd() * 400)) } }] }, timestamp: '2025-10-01T00:00:00Z' });
        }
        k.write(`owner${f % 7}/s${f}.jsonl`, s);
      }
      const clean = path.join(k.dir, 'clean.duckdb');
      await once(k, clean, 0, ['--processors', 'lines,usage']);
      const db = path.join(k.dir, 'killed.duckdb');
      let kills = 0;
      for (const delay of [400, 700, 1000]) {
        const child = spawnCli(['run', '--once', '--root', k.root, '--db', db, '--workers', '2', '--processors', 'lines,usage', '--log-level', 'silent', ...KEY]);
        const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_c, sig) => res(sig)));
        await new Promise((res) => setTimeout(res, delay));
        child.kill('SIGKILL');
        if ((await exited) === 'SIGKILL') kills++;
      }
      expect(kills).toBeGreaterThan(0);
      await once(k, db, 2, ['--processors', 'lines,usage']);
      const [ta, tb] = [await tables(clean), await tables(db)];
      for (const t of Object.keys(ta)) expect(tb[t], t).toEqual(ta[t]);
      const again = await once(k, db, 2, ['--processors', 'lines,usage']);
      expect(again.processors.usage).toMatchObject({ unchanged: 200, bytes_read: 0 });
    } finally {
      k.cleanup();
    }
  }, 400_000);

  it('refuses a bad worker count with one line naming the setting', async () => {
    const r = await runCli(['run', '--once', '--root', sb.root, '--db', path.join(sb.dir, 'x.duckdb'), '--workers', 'many']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/workers.*--workers.*SESSION_PIPELINE_WORKERS/);
  });
});
