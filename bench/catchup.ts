/**
 * bench/catchup: the watch daemon's first catch-up against `run --once` on the
 * same tree, each on a fresh database, in the same run. Goal (#15): watch
 * <= 1.5x `run --once`.
 *
 * A tree of --files small cold files (3 real-shaped lines each, under 100
 * owners). `run --once` runs to its end; then `watch` starts and is followed
 * through /status until it shows idle twice in a row. CPU (utime + stime)
 * comes from /proc, outside the measured process: the children's reaped time
 * for `run --once`, /proc/<pid> (and per thread) for the daemon. Meanwhile a
 * prober asks /health every 50 ms: the admin API must stay responsive while the
 * backlog is worked off, and /status must say the daemon is catching up.
 *
 *   npm run bench:catchup -- [--files 20000] [--cpu-prof] [--health-ms 50]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { makeRng, newContext, sessionLines } from './lib/corpus.js';
import { printTable, writeResult, REPO_ROOT, round } from './lib/report.js';
import { percentile } from './lib/probe.js';
import { summarizeProfile, newestProfile } from './lib/cpuprofile.js';
import { childrenCpuMs, loadLine, procCpuMs, threadCpuMs } from './lib/proc.js';
import { idleStatus, type IdleFields } from './lib/status.js';

const { values: flags } = parseArgs({
  options: {
    files: { type: 'string', default: '20000' },
    'health-ms': { type: 'string', default: '50' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const FILES = Number(flags.files);
const HEALTH_MS = Number(flags['health-ms']);
const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  });
}


const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-bench-catchup-'));
const root = path.join(dir, 'root');
let daemon: ReturnType<typeof spawn> | null = null;
try {
  const rng = makeRng(7);
  const past = new Date(Date.now() - 86_400_000);
  for (let o = 0; o < 100; o++) fs.mkdirSync(path.join(root, `owner${o}`), { recursive: true });
  for (let i = 0; i < FILES; i++) {
    const gen = sessionLines(rng, newContext(rng, `/Users/idle/p${i % 100}`), { maxResult: 512 });
    const text = [gen.next().value, gen.next().value, gen.next().value].join('\n') + '\n';
    const f = path.join(root, `owner${i % 100}`, `idle-${i}.jsonl`);
    fs.writeFileSync(f, text);
    fs.utimesSync(f, past, past);
  }
  process.stdout.write(`tree: ${FILES} small files under 100 owners\n`);
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('SESSION_PIPELINE_') && k !== 'SESSION_ROOT'),
  );
  Object.assign(env, { SESSION_ROOT: root, SESSION_PIPELINE_LOG_LEVEL: 'warn' });

  // ---- reference: run --once on a fresh database
  const loadOnce = loadLine();
  const c0 = childrenCpuMs() ?? 0;
  const t0 = Date.now();
  const once = spawnSync(process.execPath, [CLI, 'run', '--once', '--json', '--db', path.join(dir, 'once.duckdb')], { env, encoding: 'utf8' });
  const onceMs = Date.now() - t0;
  const onceCpuMs = (childrenCpuMs() ?? 0) - c0;
  if (once.status !== 0) throw new Error(`run --once failed: ${once.stderr}`);
  const onceRows = (JSON.parse(once.stdout) as { processors: Record<string, { items: number }> }).processors;

  // ---- watch on another fresh database, until /status is idle
  const port = await freePort();
  const profDir = path.join(dir, 'prof');
  const nodeFlags = flags['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [];
  const loadWatch = loadLine();
  const w0 = Date.now();
  daemon = spawn(process.execPath, [...nodeFlags, CLI, 'watch', '--db', path.join(dir, 'watch.duckdb'), '--admin-port', String(port)], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const child = daemon;
  const health: number[] = [];
  let healthErrors = 0;
  let sawCatchingUp = false;
  let probing = true;
  const prober = (async () => {
    while (probing) {
      const t = performance.now();
      try {
        const r = await get(port, '/health');
        if (r.status > 0) health.push(performance.now() - t);
      } catch {
        if (health.length > 0) healthErrors++; // before the first answer: not listening yet
      }
      await sleep(HEALTH_MS);
    }
  })();
  let caughtAt: number | null = null;
  let first: number | null = null;
  const deadline = Date.now() + 900_000;
  while (caughtAt === null) {
    if (Date.now() > deadline) throw new Error('daemon did not catch up in time');
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}`);
    try {
      const s = JSON.parse((await get(port, '/status')).body) as IdleFields;
      if (s.catchUp && s.catchUp.phase !== 'caught-up') sawCatchingUp = true;
      if (idleStatus(s)) {
        if (first !== null) caughtAt = first;
        else first = Date.now();
      } else first = null;
    } catch {
      first = null; // not listening yet
    }
    await sleep(100);
  }
  const watchMs = caughtAt - w0;
  const watchCpu = procCpuMs(child.pid!);
  const threads = threadCpuMs(child.pid!);
  probing = false;
  await prober;
  const final = JSON.parse((await get(port, '/status')).body) as { committer: { transactions: number; units: number } };
  child.kill('SIGINT');
  await new Promise((r) => child.on('exit', r));
  health.sort((a, b) => a - b);

  const result = {
    files: FILES,
    once_ms: onceMs,
    once_cpu_ms: Math.round(onceCpuMs),
    once_load: loadOnce,
    once_items: onceRows,
    watch_catchup_ms: watchMs,
    watch_catchup_cpu_ms: Math.round(watchCpu),
    watch_main_thread_cpu_ms: Math.round(threads.main),
    watch_other_threads_cpu_ms: Math.round(threads.other),
    watch_load: loadWatch,
    wall_ratio: round(watchMs / onceMs, 2),
    cpu_ratio: round(watchCpu / onceCpuMs, 2),
    status_said_catching_up: sawCatchingUp,
    health_probes: health.length,
    health_errors: healthErrors,
    health_p50_ms: round(percentile(health, 50), 1),
    health_p99_ms: round(percentile(health, 99), 1),
    health_max_ms: round(health[health.length - 1] ?? NaN, 1),
    watch_transactions: final.committer.transactions,
    watch_units: final.committer.units,
    load_end: loadLine(),
    goals: { ratio: 1.5, health_p99_ms: 50 },
  };
  printTable(`first catch-up of ${FILES} small files, each on a fresh database (CPU from /proc)`, [
    { mode: 'run --once', wall_ms: onceMs, cpu_ms: result.once_cpu_ms, wall_ratio: 1, cpu_ratio: 1, load: loadOnce },
    { mode: 'watch (until /status idle)', wall_ms: watchMs, cpu_ms: result.watch_catchup_cpu_ms, wall_ratio: result.wall_ratio, cpu_ratio: result.cpu_ratio, load: loadWatch },
  ]);
  process.stdout.write(
    `\nwatch CPU by thread: JS main ${result.watch_main_thread_cpu_ms} ms, other threads (DuckDB, libuv, GC) ${result.watch_other_threads_cpu_ms} ms; ` +
      `${result.watch_transactions} commits of ${result.watch_units} units; /status said catching up: ${sawCatchingUp}\n` +
      `/health during catch-up: ${health.length} probes every ${HEALTH_MS} ms, p50 ${result.health_p50_ms} ms, p99 ${result.health_p99_ms} ms, ` +
      `max ${result.health_max_ms} ms, ${healthErrors} errors (goal p99 <= 50 ms)\n` +
      `goal: watch <= 1.5x run --once; ${result.load_end} at the end (shared machine: the CPU ratio is the steadier figure)\n`,
  );
  writeResult('catchup', result);
  if (flags['cpu-prof']) {
    await sleep(500);
    const prof = newestProfile(profDir);
    if (prof) {
      const s = summarizeProfile(prof, { root: REPO_ROOT, top: 30 });
      printTable(`daemon CPU profile (busy ${Math.round(s.busyMs)} ms): self time by function`, s.functions.map((f) => ({ function: f.name, ms: Math.round(f.ms), share: round(f.share * 100, 1) })));
      printTable('by file', s.files.map((f) => ({ file: f.name, ms: Math.round(f.ms), share: round(f.share * 100, 1) })));
    }
  }
} finally {
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
}
