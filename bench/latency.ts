/**
 * bench/latency: 200 live files each appended a line every second, next to
 * 20,000 idle files, for at least 60 s. Reports append -> committed p50 / p95 /
 * p99, the commit time taken from the database (bench/lib/probe.ts). Goal:
 * p99 <= 2 s. Reference printed beside it: the debounce quiet time (no line can
 * commit sooner unless max-wait fires) and DuckDB's own commit duration, both
 * from this run.
 *
 *   npm run bench:latency -- [--seconds 60] [--live 200] [--idle 20000]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../src/config/config.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { runOnce } from '../src/pipeline/once.js';
import { startDaemon } from '../src/watch/daemon.js';
import { percentile } from './lib/probe.js';
import { buildLatencyTree, latencyProcessors, probeLatencies, runLatencyWriter } from './lib/latency-load.js';
import { printTable, writeResult } from './lib/report.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const SECONDS = arg('seconds', 60);
const LIVE = arg('live', 200);
const IDLE = arg('idle', 20_000);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-bench-latency-'));
const root = path.join(dir, 'root');
const db = path.join(dir, 'state.duckdb');
try {
  const live = buildLatencyTree(root, { live: LIVE, idle: IDLE });
  const config = { ...loadConfig({}, { ...process.env, SESSION_ROOT: root, SESSION_PIPELINE_DB: db, SESSION_PIPELINE_LOG_LEVEL: 'warn' }) };
  const processors = latencyProcessors(config);
  const log = pino({ level: 'warn' });

  const t0 = Date.now();
  const pre = await Pipeline.open({ root, dbPath: db, processors, log, retry: { maxAttempts: 5, baseDelayMs: 5000, maxDelayMs: 60000 }, maxLineBytes: config.maxLineBytes });
  await runOnce(pre);
  await pre.close();
  const backfillMs = Date.now() - t0;

  const daemon = await startDaemon({ config, processors, log });
  const commitMs: number[] = [];
  daemon.pipeline.committer.onCommit((_u, ms) => commitMs.push(ms));
  await new Promise((r) => setTimeout(r, 1500));
  const writer = runLatencyWriter(dir, live, SECONDS);
  const cpu0 = process.cpuUsage();
  const { appended } = await writer.done;
  const cpu = process.cpuUsage(cpu0);
  // Let the last lines through (max-wait + a commit).
  await new Promise((r) => setTimeout(r, 4000));
  const rss = process.memoryUsage().rss;
  await daemon.stop();

  const lat = await probeLatencies(db);
  commitMs.sort((a, b) => a - b);
  const result = {
    seconds: SECONDS,
    live_files: LIVE,
    idle_files: IDLE,
    appended,
    committed: lat.length,
    p50_ms: percentile(lat, 50),
    p95_ms: percentile(lat, 95),
    p99_ms: percentile(lat, 99),
    max_ms: lat[lat.length - 1],
    goal_p99_ms: 2000,
    ref_quiet_ms: config.quietMs,
    ref_max_wait_ms: config.maxWaitMs,
    ref_commit_p50_ms: percentile(commitMs, 50),
    ref_commit_p99_ms: percentile(commitMs, 99),
    commits: commitMs.length,
    daemon_cpu_pct: Math.round(((cpu.user + cpu.system) / 1000 / (SECONDS * 1000)) * 1000) / 10,
    rss_mb: Math.round(rss / 1048576),
    idle_backfill_s: backfillMs / 1000,
  };
  printTable('append -> committed latency (commit time from DuckDB)', [
    { measure: 'append->commit', p50_ms: result.p50_ms, p95_ms: result.p95_ms, p99_ms: result.p99_ms, max_ms: result.max_ms, lines: result.committed },
    { measure: 'ref: DuckDB commit txn', p50_ms: result.ref_commit_p50_ms, p95_ms: percentile(commitMs, 95), p99_ms: result.ref_commit_p99_ms, max_ms: commitMs[commitMs.length - 1], lines: result.commits },
  ]);
  process.stdout.write(
    `\n${appended} lines appended to ${LIVE} live files over ${SECONDS} s next to ${IDLE} idle files; ${lat.length} committed.\n` +
      `debounce quiet ${config.quietMs} ms, max-wait ${config.maxWaitMs} ms; goal p99 <= 2000 ms: ${result.p99_ms <= 2000 ? 'met' : 'NOT met'}.\n` +
      `process CPU ${result.daemon_cpu_pct}% of a core (daemon, in-process), RSS ${result.rss_mb} MB\n`,
  );
  writeResult('latency', result);
  if (lat.length < appended) process.stdout.write(`WARNING: ${appended - lat.length} appended lines not committed\n`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
