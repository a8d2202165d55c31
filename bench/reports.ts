/**
 * bench:reports: each report the dashboard reads, run in-process on the dashboard benchmark's
 * database (1,000,000 messages in 50,000 sessions: bench/lib/seed-dashboard.ts) on one DuckDB
 * thread (watch's default), without a browser, HTTP or a daemon: what each query costs. Each
 * report runs `--runs` times (5) with no key noted (just folded), then again with one key
 * noted (what a commit leaves until the next fold). Reference, same run and database: a full
 * scan of `usage_messages` (a count and one token sum), the floor of a pass over every message.
 *
 *   npm run bench:reports -- [--runs 5]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_SHAPE, seedDashboardDb } from './lib/seed-dashboard.js';
import { printTable, writeResult } from './lib/report.js';
import { openStore } from '../src/state/open.js';
import { builtInReports } from '../pipelines/index.js';
import { resolveParams } from '../src/pipeline/report.js';

const argN = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = argN('runs', 5);

/** The dashboard's report requests (web/src/views), as the overview, live, sessions and tools views make them. */
const CASES: readonly { view: string; name: string; params: Record<string, string> }[] = [
  { view: 'overview', name: 'usage', params: { by: 'day', breakdown: 'true', tz: 'UTC' } },
  { view: 'overview', name: 'usage', params: { by: 'model', tz: 'UTC' } },
  { view: 'overview', name: 'usage', params: { by: 'owner', tz: 'UTC' } },
  { view: 'overview', name: 'usage', params: { by: 'day', since: new Date().toISOString().slice(0, 8) + '01', tz: 'UTC' } },
  { view: 'overview', name: 'blocks', params: { active: 'true', tz: 'UTC' } },
  { view: 'live', name: 'live', params: { since: '1d' } },
  { view: 'sessions', name: 'sessions', params: { tz: 'UTC', sort: 'last_ts', dir: 'desc', limit: '100', offset: '0' } },
  { view: 'sessions', name: 'sessions', params: { tz: 'UTC', sort: 'cost_usd', dir: 'desc', limit: '100', offset: '0' } },
  { view: 'sessions', name: 'session', params: { key: 'owner-007/sess-000007.jsonl' } },
  { view: 'tools', name: 'events-by-day-kind', params: { tz: 'UTC' } },
  { view: 'tools', name: 'events', params: { by: 'tool', tz: 'UTC' } },
  { view: 'tools', name: 'events', params: { by: 'skill', tz: 'UTC' } },
  { view: 'secrets', name: 'secrets-summary', params: { tz: 'UTC' } },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-bench-reports-'));
  const file = path.join(dir, 'bench.duckdb');
  try {
    const t0 = Date.now();
    await seedDashboardDb(file, BENCH_SHAPE);
    process.stdout.write(`seeded ${(BENCH_SHAPE.sessions * BENCH_SHAPE.messagesPerSession).toLocaleString('en-US')} messages in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    const db = await openStore(file, { threads: 1 });
    const reports = builtInReports();
    const time = async (fn: () => Promise<unknown>) => {
      const ms: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now();
        await fn();
        ms.push(performance.now() - t);
      }
      return ms;
    };
    const rows: Record<string, string | number>[] = [];
    try {
      const scan = await time(() => db.all('SELECT count(*), sum(input_tokens) FROM usage_messages'));
      const runAll = async (noted: string) => {
        for (const c of CASES) {
          const def = reports.get(c.name)!;
          const p = resolveParams(def, c.params);
          const ms = await time(() => def.run(db, p));
          rows.push({ view: c.view, report: `${c.name} ${JSON.stringify(c.params).slice(0, 48)}`, keys_noted: noted, p50_ms: Math.round(median(ms)), max_ms: Math.round(Math.max(...ms)) });
        }
      };
      await runAll('0');
      // One message's key noted, as a commit leaves it until the next fold.
      await db.run('INSERT INTO usage_dirty_keys (key) SELECT message_key FROM usage_message_picks LIMIT 1');
      await runAll('1');
      printTable(`reports over 1,000,000 messages, one DuckDB thread, ${RUNS} runs each`, rows);
      const ref = { reference: 'full scan of usage_messages (count, one sum)', p50_ms: Math.round(median(scan)), max_ms: Math.round(Math.max(...scan)) };
      printTable('reference (same run, same database)', [ref]);
      process.stdout.write(`load average (1 min): ${os.loadavg()[0].toFixed(2)}\n`);
      writeResult('reports', { rows, reference: ref, load: os.loadavg() });
    } finally {
      await db.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
