/**
 * bench/idle: 50,000 session files under 500 owners, none changing, for 60 s.
 * Reports the daemon's CPU (% of one core), peak RSS, and the duration of a
 * full stat-only rescan. Goals: <= 1 % of a core, <= 300 MB RSS at 50k files
 * (350 MB at 100k, issue 15), rescan <= 2 s. Reference measured in the same
 * run: a bare walk (readdir + lstat of the same tree) in this process, the
 * floor any rescan pays.
 *
 * The daemon runs at its defaults (rescan period 60 s, stretched by a costly
 * rescan: src/watch/backstop.ts). The window starts once the initial scan is
 * done and start-up has settled (--settle, 60 s: V8 shrinks the heap after
 * start-up), and lasts --seconds (120: two periodic rescans at 60 s). A window
 * shorter than the period in force misses rescans or catches one: the table
 * says how many fell in it, and the period.
 *
 *   npm run bench:idle -- [--files 50000] [--owners 500] [--seconds 120] [--settle 60] [--rescan-interval-ms N]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { makeRng, newContext, sessionLines } from './lib/corpus.js';
import { printTable, REPO_ROOT, writeResult } from './lib/report.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const FILES = arg('files', 50_000);
const OWNERS = arg('owners', 500);
const SECONDS = arg('seconds', 120);
const RESCAN_MS = arg('rescan-interval-ms', 0);
const SETTLE_S = arg('settle', 60);
const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function bareWalk(root: string): { ms: number; files: number } {
  const t0 = performance.now();
  let files = 0;
  for (const owner of fs.readdirSync(root)) {
    for (const e of fs.readdirSync(path.join(root, owner), { withFileTypes: true })) {
      if (e.isFile()) {
        fs.lstatSync(path.join(root, owner, e.name));
        files++;
      }
    }
  }
  return { ms: performance.now() - t0, files };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-bench-idle-'));
const root = path.join(dir, 'root');
const db = path.join(dir, 'state.duckdb');
try {
  const rng = makeRng(11);
  const past = new Date(Date.now() - 3 * 86_400_000);
  for (let o = 0; o < OWNERS; o++) fs.mkdirSync(path.join(root, `owner${o}`), { recursive: true });
  let bytes = 0;
  for (let i = 0; i < FILES; i++) {
    const gen = sessionLines(rng, newContext(rng, `/Users/u/p${i % OWNERS}`), { maxResult: 256 });
    const text = gen.next().value + '\n' + gen.next().value + '\n';
    const f = path.join(root, `owner${i % OWNERS}`, `s-${i}.jsonl`);
    fs.writeFileSync(f, text);
    fs.utimesSync(f, past, past);
    bytes += text.length;
  }
  process.stdout.write(`generated ${FILES} files (${(bytes / 1e6).toFixed(1)} MB) under ${OWNERS} owners\n`);

  const env = { ...process.env, SESSION_ROOT: root, SESSION_PIPELINE_DB: db, SESSION_PIPELINE_ADMIN_PORT: '0' };
  const t0 = Date.now();
  execFileSync(process.execPath, [CLI, 'run', '--once', '--json', '--log-level', 'warn'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const backfillS = (Date.now() - t0) / 1000;

  const walk1 = bareWalk(root);
  const walk2 = bareWalk(root);
  const floorMs = Math.min(walk1.ms, walk2.ms);

  // The daemon at its defaults (rescan every 60 s) unless told otherwise.
  const daemonArgs = [CLI, 'watch', '--log-level', 'debug'];
  if (RESCAN_MS > 0) daemonArgs.push('--rescan-interval-ms', String(RESCAN_MS));
  const daemon = spawn(process.execPath, daemonArgs, {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const rescans: { ms: number; files: number; hinted: number; cpuMs: number; periodMs: number; at: number }[] = [];
  let buf = '';
  daemon.stderr!.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.includes('rescan done')) continue;
      const r = JSON.parse(line);
      rescans.push({ ms: r.durationMs, files: r.files, hinted: r.hinted, cpuMs: r.cpuMs, periodMs: r.periodMs, at: Date.now() });
    }
  });
  // Wait for the initial scan, then measure a quiet window.
  const deadline = Date.now() + 120_000;
  while (rescans.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
  const c0 = cpuTicks(daemon.pid!);
  const w0 = Date.now();
  let peakRss = 0;
  while (Date.now() - w0 < SECONDS * 1000) {
    peakRss = Math.max(peakRss, rssMb(daemon.pid!));
    await new Promise((r) => setTimeout(r, 1000));
  }
  const w1 = Date.now();
  const cpuPct = ((cpuTicks(daemon.pid!) - c0) / TICKS / ((w1 - w0) / 1000)) * 100;
  const inWindow = rescans.filter((r) => r.at >= w0 && r.at <= w1);
  daemon.kill('SIGINT');
  await new Promise((r) => daemon.on('exit', r));

  const periodic = rescans.slice(1);
  const result = {
    files: FILES,
    owners: OWNERS,
    seconds: SECONDS,
    cpu_pct_of_core: Math.round(cpuPct * 100) / 100,
    peak_rss_mb: Math.round(peakRss),
    initial_scan_ms: rescans[0]?.ms,
    rescan_ms: periodic.map((r) => r.ms),
    rescan_cpu_ms: periodic.map((r) => r.cpuMs),
    rescan_period_ms: periodic.map((r) => r.periodMs),
    rescans_in_window: inWindow.length,
    rescans_hinted: rescans.map((r) => r.hinted),
    ref_bare_walk_ms: Math.round(floorMs),
    backfill_s: backfillS,
    goals: { cpu_pct: 1, rss_mb: FILES >= 100_000 ? 350 : 300, rescan_ms: 2000 },
  };
  const last = periodic[periodic.length - 1];
  printTable(`idle daemon (${FILES} files, none changing)`, [
    { measure: 'CPU % of one core', value: result.cpu_pct_of_core, goal: '<= 1' },
    { measure: 'peak RSS MB', value: result.peak_rss_mb, goal: `<= ${result.goals.rss_mb}` },
    { measure: 'initial scan ms', value: result.initial_scan_ms, goal: '' },
    { measure: 'periodic rescan ms', value: periodic.length ? Math.max(...periodic.map((r) => r.ms)) : null, goal: '<= 2000' },
    { measure: 'periodic rescan CPU ms (last)', value: last?.cpuMs ?? null, goal: '' },
    { measure: 'rescan period ms (last)', value: last?.periodMs ?? null, goal: '' },
    { measure: `rescans in the ${SECONDS} s window`, value: inWindow.length, goal: '' },
    { measure: 'ref: bare readdir+lstat walk ms', value: result.ref_bare_walk_ms, goal: '' },
  ]);
  process.stdout.write(`backfill of the idle tree: ${backfillS.toFixed(1)} s; files hinted per rescan: ${result.rescans_hinted.join(', ')}\n`);
  writeResult('idle', result);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
