/**
 * bench/commit-cost: what one live commit costs DuckDB, table by table.
 *
 * The live path's CPU is mostly per commit, not per line (bench:live-cost: ~4-5
 * commits a second at 200 live files). This seeds a database as a `run --once`
 * over --files small files leaves it, then commits --commits groups shaped like
 * the live ones: --files-per-group files, each with a `lines` unit and a `usage`
 * unit (one message, one tool call and its result, the file row, the keys
 * noted for the cross-file fold; a model's price mapping is staged only until
 * it commits) and both checkpoints, through
 * the real Committer, with DuckDB on one thread as `watch` runs it. Printed:
 * CPU ms per commit (this process, all threads) and per statement kind, next
 * to two references measured in the same run on the same file: a write
 * transaction of one row into one table, and the same number of rows appended
 * straight into a table without a key.
 * Each group is committed twice over: merged at once (as `run --once` and the PostgreSQL store
 * do), and journaled (as `watch` does on DuckDB, src/state/journal.ts), with a merge every
 * --merge-every commits (17: MERGE_MAX_MS at the ~1.7 commits a second of 200 live files).
 * Printed for the journal: the commit, the merge, and both per second at that rate.
 *
 *   npm run bench:commit-cost -- [--files 20000] [--commits 68] [--files-per-group 120] [--merge-every 17]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { DuckDb } from '../src/state/duckdb.js';
import { Committer, committedTables } from '../src/pipeline/commit.js';
import { UnitOfWork } from '../src/pipeline/unit.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { runOnce } from '../src/pipeline/once.js';
import type { Checkpoint } from '../src/state/checkpoint.js';
import { DIRTY, EVENTS, FILES, MESSAGES, TABLES, TOOL_RESULTS } from '../pipelines/usage/tables.js';
import { linesProcessor } from '../pipelines/lines/index.js';
import { createUsageProcessor } from '../pipelines/usage/index.js';
import { makeRng, newContext, sessionLines } from './lib/corpus.js';
import { printTable, writeResult, round } from './lib/report.js';
import { loadLine } from './lib/proc.js';

const { values: flags } = parseArgs({
  options: {
    files: { type: 'string', default: '20000' },
    commits: { type: 'string', default: '68' },
    'files-per-group': { type: 'string', default: '120' },
    'merge-every': { type: 'string', default: '17' },
  },
});
/** Commits a second at 200 live files (bench:live-cost): what the per-second figures assume. */
const LIVE_COMMITS_PER_S = 1.7;
const FILES_N = Number(flags.files);
const COMMITS = Number(flags.commits);
const PER_GROUP = Number(flags['files-per-group']);
const MERGE_EVERY = Number(flags['merge-every']);

const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-bench-commit-'));
try {
  // ---- seed: what run --once leaves after FILES_N small files
  const root = path.join(dir, 'root');
  const dbPath = path.join(dir, 'state.duckdb');
  const rng = makeRng(7);
  for (let i = 0; i < FILES_N; i++) {
    const d = path.join(root, `owner${i % 100}`);
    if (i < 100) fs.mkdirSync(d, { recursive: true });
    const gen = sessionLines(rng, newContext(rng, `/Users/idle/p${i % 100}`), { maxResult: 512 });
    fs.writeFileSync(path.join(d, `f-${i}.jsonl`), [gen.next().value, gen.next().value, gen.next().value].join('\n') + '\n');
  }
  const log = pino({ level: 'warn' });
  const seed = await Pipeline.open({
    root,
    dbPath,
    processors: [linesProcessor, createUsageProcessor()],
    log,
    retry: { maxAttempts: 5, baseDelayMs: 5000, maxDelayMs: 60000 },
    maxLineBytes: 1 << 25,
  });
  await runOnce(seed);
  await seed.close();

  const tables = [...TABLES, ...linesProcessor.tables];
  const all = committedTables(tables);
  const specs = new Map(all.map((t) => [t.name, t]));
  let seq = 0;
  const checkpoint = (processor: string, file: string, owner: string): Checkpoint => ({
    processorName: processor,
      sessionFile: file,
      owner,
      offset: 1000 + seq,
      headHash: 'h',
      tailHash: 't',
      size: 1000 + seq,
      mtimeMs: Date.now(),
      ctimeMs: Date.now(),
      inode: 1,
      linesProcessed: 3 + seq,
      itemsProcessed: 3,
      badLines: 0,
      processorVersion: 1,
      processedAt: Date.now(),
      status: 'ok',
      attempts: 0,
      lastError: null,
      nextAttemptAt: null,
      carry: null,
    });

  /** The units of one live-shaped group: a `lines` and a `usage` unit per file. */
  function groupUnits(k: number): UnitOfWork[] {
    const out: UnitOfWork[] = [];
    for (let j = 0; j < PER_GROUP; j++) {
      const i = (k * PER_GROUP + j) % 200;
      const owner = `owner${i % 100}`;
      const file = `${owner}/f-${i}.jsonl`;
      seq++;
      const lines = new UnitOfWork('lines', file, specs);
      lines.insert('lines_file_stats', [file, owner, 3 + seq, 1000 + seq, Date.now()]);
      lines.checkpoint = checkpoint('lines', file, owner);
      const usage = new UnitOfWork('usage', file, specs);
      usage.insert(MESSAGES.name, [file, `live-${seq}`, owner, `msg_${seq}`, `req_${seq}`, Date.now(), 'claude-sonnet-4-5', 'standard', 10, 200, 30, 30, 0, 5000, 5240, false, 1000 + seq, false]);
      usage.insert(EVENTS.name, [file, `toolu_${seq}`, owner, Date.now(), 'tool', 'Bash', 'Bash', null, null, 1000 + seq]);
      usage.insert(TOOL_RESULTS.name, [file, `toolu_${seq}`, false]);
      usage.insert(FILES.name, [file, owner, `s-${i}`, false, Date.now(), Date.now(), '/x', 'main', '2.0.0', 3 + seq]);
      // The keys the cross-file picks must fold (pipelines/usage/picks.ts): the message, and the
      // tool id its event and result share (noted once per batch).
      for (const k of [`live-${seq}`, `toolu_${seq}`]) usage.insert(DIRTY.name, [k]);
      usage.checkpoint = checkpoint('usage', file, owner);
      out.push(lines, usage);
    }
    return out;
  }

  /** Statement CPU by kind: the connection's calls, timed where they are made. */
  const byKind = new Map<string, { n: number; ms: number }>();
  function timeStatements(db: DuckDb): void {
    const conn = db.conn as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    for (const m of ['run', 'createAppender']) {
      const orig = conn[m].bind(db.conn);
      conn[m] = async (...a: unknown[]) => {
        const c0 = process.cpuUsage();
        const out = await orig(...a);
        const sql = String(a[0]).trim();
        const kind = m === 'createAppender' ? 'appender (create)' : sql.split(/\s+/).slice(0, 3).join(' ').replace(/"/g, '') + (sql.includes('QUALIFY') ? ' (window)' : '');
        const e = byKind.get(kind) ?? { n: 0, ms: 0 };
        e.n++;
        e.ms += cpuMs(process.cpuUsage(c0));
        byKind.set(kind, e);
        return out;
      };
    }
  }

  /** The store and a committer as `watch` opens them (one DuckDB thread), journaling or not. */
  async function open(defer: boolean): Promise<{ db: DuckDb; committer: Committer }> {
    const db = await DuckDb.open(dbPath, { threads: 1, externalAccess: false });
    await db.useJournal(all, { defer });
    timeStatements(db);
    return { db, committer: new Committer(db, tables, { maxRows: 1e7, maxUnits: 1e7, maxDelayMs: 1e9 }) };
  }

  async function group(committer: Committer, k: number): Promise<void> {
    for (const u of groupUnits(k)) await committer.enqueue(u);
    await committer.flush();
  }

  // ---- merged at once (run --once, PostgreSQL; watch before the journal)
  let { db, committer } = await open(false);
  for (let k = 0; k < 5; k++) await group(committer, k); // warm-up
  byKind.clear();
  let c0 = process.cpuUsage();
  let w0 = performance.now();
  for (let k = 0; k < COMMITS; k++) await group(committer, k);
  const commitCpu = cpuMs(process.cpuUsage(c0)) / COMMITS;
  const commitWall = (performance.now() - w0) / COMMITS;
  const kinds = [...byKind].sort((a, b) => b[1].ms - a[1].ms);
  byKind.clear();

  // ---- references on the same file
  await db.run('CREATE TABLE bench_ref_one (k VARCHAR, v BIGINT)');
  await db.run('CREATE TABLE bench_ref_rows AS SELECT * FROM usage_messages LIMIT 0');
  const r0 = process.cpuUsage();
  for (let k = 0; k < COMMITS; k++) await db.transaction(() => db.run('INSERT INTO bench_ref_one VALUES ($1, $2)', [`k${k}`, k]));
  const oneRowCpu = cpuMs(process.cpuUsage(r0)) / COMMITS;
  const p0 = process.cpuUsage();
  for (let k = 0; k < COMMITS; k++)
    await db.transaction(async () => {
      const appender = await db.conn.createAppender('bench_ref_rows');
      for (let i = 0; i < PER_GROUP; i++) {
        appender.appendVarchar(`f${i}`);
        appender.appendVarchar(`k${k}-${i}`);
        for (let c = 0; c < 16; c++) appender.appendNull();
        appender.endRow();
      }
      appender.flushSync();
      appender.closeSync();
    });
  const plainCpu = cpuMs(process.cpuUsage(p0)) / COMMITS;
  await db.close();

  // ---- journaled (watch on DuckDB), merged every MERGE_EVERY commits by a read
  ({ db, committer } = await open(true));
  for (let k = 0; k < 5; k++) await group(committer, k);
  await db.all('SELECT 1'); // merges the warm-up
  let journalCpu = 0;
  let mergeCpu = 0;
  let merges = 0;
  w0 = performance.now();
  for (let k = 0; k < COMMITS; k++) {
    c0 = process.cpuUsage();
    await group(committer, k);
    journalCpu += cpuMs(process.cpuUsage(c0));
    if ((k + 1) % MERGE_EVERY === 0) {
      c0 = process.cpuUsage();
      await db.all('SELECT 1'); // a statement on the writer: the journal is merged before it
      mergeCpu += cpuMs(process.cpuUsage(c0));
      merges++;
    }
  }
  const journalWall = (performance.now() - w0) / COMMITS;
  journalCpu /= COMMITS;
  mergeCpu /= Math.max(1, merges);
  await db.close();

  const perSecond = (ms: number) => round((ms * LIVE_COMMITS_PER_S) / 10, 2); // ms a second -> % of a core
  printTable(`one live-shaped commit: ${PER_GROUP * 2} units over ${PER_GROUP} files, on a database of ${FILES_N} files (DuckDB, 1 thread; ${COMMITS} commits)`, [
    { what: 'merged at once (6 tables + checkpoints)', cpu_ms: round(commitCpu, 1), wall_ms: round(commitWall, 1), pct_core_at_live_rate: perSecond(commitCpu) },
    { what: 'journaled (one appender, one table)', cpu_ms: round(journalCpu, 1), wall_ms: round(journalWall, 1), pct_core_at_live_rate: perSecond(journalCpu) },
    { what: `the journal's merge, every ${MERGE_EVERY} commits (${merges} merges)`, cpu_ms: round(mergeCpu, 1), wall_ms: '', pct_core_at_live_rate: perSecond(mergeCpu / MERGE_EVERY) },
    { what: 'journaled, merge included', cpu_ms: round(journalCpu + mergeCpu / MERGE_EVERY, 1), wall_ms: '', pct_core_at_live_rate: perSecond(journalCpu + mergeCpu / MERGE_EVERY) },
    { what: 'ref: write transaction of one row', cpu_ms: round(oneRowCpu, 1), wall_ms: '', pct_core_at_live_rate: '' },
    { what: `ref: ${PER_GROUP} rows appended straight into a table without a key`, cpu_ms: round(plainCpu, 1), wall_ms: '', pct_core_at_live_rate: '' },
  ]);
  process.stdout.write(`(% of a core at ${LIVE_COMMITS_PER_S} commits a second, the rate of 200 live files)\n`);
  printTable(
    'merged at once: CPU per statement kind, per commit',
    kinds.map(([kind, e]) => ({ kind, per_commit: round(e.n / COMMITS, 1), cpu_ms_each: round(e.ms / e.n, 2), cpu_ms_per_commit: round(e.ms / COMMITS, 1) })),
  );
  process.stdout.write(`\n${loadLine()} at the end (CPU time is this process's own, all threads)\n`);
  writeResult('commit-cost', {
    files: FILES_N,
    commits: COMMITS,
    units_per_commit: PER_GROUP * 2,
    commit_cpu_ms: round(commitCpu, 2),
    commit_wall_ms: round(commitWall, 2),
    journal_commit_cpu_ms: round(journalCpu, 2),
    journal_merge_cpu_ms: round(mergeCpu, 2),
    merge_every: MERGE_EVERY,
    ref_one_row_tx_cpu_ms: round(oneRowCpu, 2),
    ref_plain_rows_cpu_ms: round(plainCpu, 2),
    kinds: Object.fromEntries(kinds.map(([k, e]) => [k, { n: e.n, ms: round(e.ms, 1) }])),
  });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
