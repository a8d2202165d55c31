/**
 * bench/live-cost: what the watch daemon costs per appended line, and how fast
 * its first catch-up is, measured from outside its process.
 *
 * 1. A tree of --idle small cold files (3 lines each) and --live empty files.
 * 2. First catch-up: `run --once` on the tree (fresh database), then `watch` on
 *    the same tree (another fresh database) until /status shows it caught up.
 *    Goal: watch <= 1.5x run --once.
 * 3. Live cost: the same daemon, while a separate writer process appends one
 *    line a second to each live file for --seconds. The daemon's CPU (utime +
 *    stime) and RSS come from /proc/<pid>. Goals: <= 15 % of a core,
 *    <= 300 MB RSS, append -> commit p99 <= 1 s. Reference, measured the same
 *    way in the same window: a minimal tailer (live-tail-ref.ts) that reads
 *    the same appends and JSON.parses them.
 *    Latency: the writer logs each append to the first --sample files (end
 *    offset, time); the bench follows those files' traces (/trace/<file>?follow=1,
 *    server-sent events) and takes, per line, the first commit of each live
 *    processor reaching its end; a line is committed when every live
 *    processor's commit is.
 *
 *   npm run bench:live-cost -- [--seconds 60] [--live 200] [--idle 20000] [--sample 20]
 *                              [--watcher on|inotify|chokidar|off] [--cpu-prof [--keep-profile FILE]] [--skip-catchup]
 *                              [--node-flags=--trace-gc] [--daemon-stdout FILE] [--probe-memory]
 *                              [--daemon-args="--workers 2"]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { makeRng, newContext, sessionLines } from './lib/corpus.js';
import { printTable, writeResult, REPO_ROOT, round } from './lib/report.js';
import { percentile } from './lib/probe.js';
import { summarizeProfile, newestProfile } from './lib/cpuprofile.js';
import { childrenCpuMs as childrenCpuMsOrNull, procCpuMs, threadCpuMs, threadSharePct } from './lib/proc.js';
import { idleStatus, type IdleFields } from './lib/status.js';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    live: { type: 'string', default: '200' },
    idle: { type: 'string', default: '20000' },
    sample: { type: 'string', default: '20' },
    watcher: { type: 'string', default: 'on' },
    'cpu-prof': { type: 'boolean', default: false },
    /** With --cpu-prof: also copy the daemon's profile here (for a look beyond the summary). */
    'keep-profile': { type: 'string' },
    'skip-catchup': { type: 'boolean', default: false },
    /** Extra node flags for the daemon (e.g. "--trace-gc"), and where its stdout goes. */
    'node-flags': { type: 'string', default: '' },
    'daemon-stdout': { type: 'string' },
    /** Extra arguments for `watch` (e.g. "--workers 2" or "--watch-poll-ms 2000"): the daemon gets no SESSION_PIPELINE_* variables from this shell. */
    'daemon-args': { type: 'string', default: '' },
    /** Every 10 s of the window: the daemon's JS heap (/metrics) and DuckDB's memory (duckdb_memory() via /sql). */
    'probe-memory': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(flags.seconds);
const LIVE = Number(flags.live);
const IDLE = Number(flags.idle);
const SAMPLE = Math.min(LIVE, Number(flags.sample));
const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const BENCH = path.join(REPO_ROOT, 'dist', 'bench');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cpuMs = procCpuMs;

/** One line: RSS, the JS heap (prom-client's default metrics) and DuckDB's memory by tag. */
async function probeMemory(port: number, rss: number): Promise<string> {
  const mb = (b: number) => Math.round(b / 1048576);
  const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  const m = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(metrics)?.[1] ?? NaN);
  const sql = await fetch(`http://127.0.0.1:${port}/sql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sql: "SELECT tag, memory_usage_bytes AS b FROM duckdb_memory() WHERE memory_usage_bytes > 1048576 ORDER BY b DESC" }),
  }).then((r) => r.json() as Promise<{ rows?: { tag: string; b: number }[] }>);
  const duck = (sql.rows ?? []).map((r) => `${r.tag} ${mb(Number(r.b))}`).join(', ');
  return `RSS ${Math.round(rss)} MB; heap total ${mb(m('nodejs_heap_size_total_bytes'))}, used ${mb(m('nodejs_heap_size_used_bytes'))}, external ${mb(m('nodejs_external_memory_bytes'))} MB; DuckDB (MB): ${duck}`;
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
/** CPU ms of this process's waited-for children (cutime + cstime). */
const childrenCpuMs = (): number => childrenCpuMsOrNull() ?? NaN;
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
function getJson<T>(port: number, p: string): Promise<T> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body) as T);
          } catch (err) {
            reject(err);
          }
        });
      })
      .on('error', reject);
  });
}

interface Status extends IdleFields {
  committer: { transactions: number; units: number; rows: number; intervalMs?: number };
  watcher: { state: string; source?: string };
  processors: { name: string; settle: { policy: string } }[];
}

/** Wait until /status has shown an idle daemon twice in a row; returns when it first did. */
async function caughtUp(port: number, child: ChildProcess, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let first: number | null = null;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}`);
    try {
      const s = await getJson<Status>(port, '/status');
      if (idleStatus(s)) {
        if (first !== null) return first;
        first = Date.now();
      } else first = null;
    } catch {
      first = null; // not listening yet
    }
    await sleep(100);
  }
  throw new Error('daemon did not catch up in time');
}

/** Follow one file's trace: the time of each `committed` record, per processor. */
function followTrace(port: number, sessionFile: string, into: Map<string, { offset: number; at: number }[]>): http.ClientRequest {
  const req = http.get({ host: '127.0.0.1', port, path: `/trace/${sessionFile.split('/').map(encodeURIComponent).join('/')}?follow=1` }, (res) => {
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      buf += d;
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, end);
        buf = buf.slice(end + 2);
        if (!ev.startsWith('event: record')) continue;
        const data = ev.slice(ev.indexOf('data: ') + 6);
        const r = JSON.parse(data) as { stage: string; processor?: string; offset?: number; at: string };
        if (r.stage !== 'committed' || !r.processor || r.offset === undefined) continue;
        let list = into.get(r.processor);
        if (!list) into.set(r.processor, (list = []));
        list.push({ offset: r.offset, at: Date.parse(r.at) });
      }
    });
  });
  req.on('error', () => undefined);
  return req;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-bench-live-'));
const root = path.join(dir, 'root');
const children: ChildProcess[] = [];
try {
  const rng = makeRng(7);
  const past = new Date(Date.now() - 86_400_000);
  for (let o = 0; o < 100; o++) fs.mkdirSync(path.join(root, `owner${o}`), { recursive: true });
  for (let i = 0; i < IDLE; i++) {
    const gen = sessionLines(rng, newContext(rng, `/Users/idle/p${i % 100}`), { maxResult: 512 });
    const text = [gen.next().value, gen.next().value, gen.next().value].join('\n') + '\n';
    const f = path.join(root, `owner${i % 100}`, `idle-${i}.jsonl`);
    fs.writeFileSync(f, text);
    fs.utimesSync(f, past, past);
  }
  const live: string[] = [];
  for (let i = 0; i < LIVE; i++) {
    const f = path.join(root, `owner${i % 100}`, `live-${i}.jsonl`);
    fs.writeFileSync(f, '');
    live.push(f);
  }
  process.stdout.write(`tree: ${IDLE} idle files, ${LIVE} live files under 100 owners\n`);

  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('SESSION_PIPELINE_') && k !== 'SESSION_ROOT'),
  );
  Object.assign(env, { SESSION_ROOT: root, SESSION_PIPELINE_LOG_LEVEL: 'warn' });

  // ---- first catch-up: run --once, then watch, on the same tree, each with a fresh database
  const c0 = childrenCpuMs();
  const t0 = Date.now();
  const once = spawnSync(process.execPath, [CLI, 'run', '--once', '--json', '--db', path.join(dir, 'once.duckdb')], { env, encoding: 'utf8' });
  const onceMs = Date.now() - t0;
  const onceCpuMs = childrenCpuMs() - c0;
  if (once.status !== 0) throw new Error(`run --once failed: ${once.stderr}`);

  const port = await freePort();
  const profDir = path.join(dir, 'prof');
  const nodeFlags = [...(flags['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), ...flags['node-flags'].split(' ').filter(Boolean)];
  const daemonOut = flags['daemon-stdout'] ? fs.openSync(flags['daemon-stdout'], 'w') : 'ignore';
  const watchDb = flags['skip-catchup'] ? path.join(dir, 'once.duckdb') : path.join(dir, 'watch.duckdb');
  const w0 = Date.now();
  const daemon = spawn(
    process.execPath,
    [...nodeFlags, CLI, 'watch', '--db', watchDb, '--admin-port', String(port), '--watcher', String(flags.watcher), ...flags['daemon-args'].split(' ').filter(Boolean)],
    { env, stdio: ['ignore', daemonOut, 'inherit'] },
  );
  children.push(daemon);
  const caughtAt = await caughtUp(daemon.pid ? port : port, daemon, 600_000);
  const watchMs = caughtAt - w0;
  const watchCpuMs = cpuMs(daemon.pid!);
  const status = await getJson<Status>(port, '/status');
  const liveProcessors = status.processors.filter((p) => p.settle.policy === 'live').map((p) => p.name);

  // ---- live cost
  await sleep(5000); // start-up garbage and the catch-up's heap settle a little
  const ref = spawn(process.execPath, [path.join(BENCH, 'live-tail-ref.js'), root], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(ref);
  let refOut = '';
  ref.stdout!.on('data', (d) => (refOut += d));
  while (!refOut.includes('ready')) await sleep(50);

  const commits = live.slice(0, SAMPLE).map(() => new Map<string, { offset: number; at: number }[]>());
  const follows = live.slice(0, SAMPLE).map((f, i) => followTrace(port, path.relative(root, f).split(path.sep).join('/'), commits[i]));
  await sleep(500);

  const filesJson = path.join(dir, 'live.json');
  const appendsLog = path.join(dir, 'appends.jsonl');
  fs.writeFileSync(filesJson, JSON.stringify(live));
  if (flags['probe-memory']) process.stdout.write(`before the writes: ${await probeMemory(port, rssMb(daemon.pid!))}\n`);
  const rssAtStart = rssMb(daemon.pid!);
  const d0 = cpuMs(daemon.pid!);
  const th0 = threadCpuMs(daemon.pid!);
  const s0 = await getJson<Status>(port, '/status');
  const r0 = cpuMs(ref.pid!);
  const win0 = Date.now();
  const writer = spawn(process.execPath, [path.join(BENCH, 'live-writer.js'), filesJson, String(SECONDS), String(SAMPLE), appendsLog], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(writer);
  let writerOut = '';
  writer.stdout!.on('data', (d) => (writerOut += d));
  let peakDaemon = 0;
  let peakRef = 0;
  /** The daemon's RSS each second: the peak is one of them, the median says what is typical. */
  const rssSamples: number[] = [];
  const sampler = setInterval(() => {
    const rss = rssMb(daemon.pid!);
    rssSamples.push(rss);
    peakDaemon = Math.max(peakDaemon, rss);
    peakRef = Math.max(peakRef, rssMb(ref.pid!));
  }, 1000);
  const memProbe = flags['probe-memory']
    ? setInterval(() => {
        void probeMemory(port, rssMb(daemon.pid!)).then((line) => process.stdout.write(`${Math.round((Date.now() - win0) / 1000)} s: ${line}\n`));
      }, 10_000)
    : null;
  await new Promise((r) => writer.on('exit', r));
  const winMs = Date.now() - win0;
  const daemonCpu = cpuMs(daemon.pid!) - d0;
  const th1 = threadCpuMs(daemon.pid!);
  const s1 = await getJson<Status>(port, '/status');
  const refCpu = cpuMs(ref.pid!) - r0;
  clearInterval(sampler);
  if (memProbe) clearInterval(memProbe);
  peakDaemon = Math.max(peakDaemon, rssMb(daemon.pid!));
  const appended = JSON.parse(writerOut.trim()).appended as number;
  await sleep(4000); // the last lines: max-wait + a commit
  for (const f of follows) f.destroy();
  ref.kill('SIGTERM');
  await new Promise((r) => ref.on('exit', r));
  const refLines = JSON.parse(refOut.split('\n').find((l) => l.startsWith('{')) ?? '{"lines":0}').lines as number;
  daemon.kill('SIGINT');
  await new Promise((r) => daemon.on('exit', r));

  // ---- latency: per sampled append, the latest of each live processor's first commit reaching it
  const lat: number[] = [];
  let uncommitted = 0;
  for (const line of fs.readFileSync(appendsLog, 'utf8').split('\n')) {
    if (!line) continue;
    const a = JSON.parse(line) as { file: number; end: number; at: number };
    let at = -Infinity;
    for (const p of liveProcessors) {
      const c = (commits[a.file].get(p) ?? []).find((x) => x.offset >= a.end);
      at = c ? Math.max(at, c.at) : Infinity;
    }
    if (Number.isFinite(at)) lat.push(at - a.at);
    else uncommitted++;
  }
  lat.sort((x, y) => x - y);

  const pct = (ms: number) => round((ms / winMs) * 100, 1);
  const result = {
    idle_files: IDLE,
    live_files: LIVE,
    seconds: SECONDS,
    watcher: status.watcher,
    appended,
    ref_lines_parsed: refLines,
    daemon_cpu_pct: pct(daemonCpu),
    daemon_cpu_ms_per_line: round(daemonCpu / appended, 3),
    daemon_peak_rss_mb: Math.round(peakDaemon),
    daemon_rss_mb_before_writes: Math.round(rssAtStart),
    daemon_rss_mb_median: rssSamples.length ? Math.round(percentile([...rssSamples].sort((a, b) => a - b), 50)) : null,
    daemon_main_thread_cpu_pct: pct(th1.main - th0.main),
    daemon_other_threads_cpu_pct: pct(th1.other - th0.other),
    daemon_cpu_pct_by_thread_name: threadSharePct(th0.byName, th1.byName, winMs),
    commits: s1.committer.transactions - s0.committer.transactions,
    units_per_commit: round((s1.committer.units - s0.committer.units) / Math.max(1, s1.committer.transactions - s0.committer.transactions), 1),
    commit_interval_ms_at_end: s1.committer.intervalMs ?? null,
    ref_cpu_pct: pct(refCpu),
    ref_cpu_ms_per_line: round(refCpu / appended, 3),
    ref_peak_rss_mb: Math.round(peakRef),
    latency_sampled_lines: lat.length,
    latency_uncommitted: uncommitted,
    p50_ms: percentile(lat, 50),
    p95_ms: percentile(lat, 95),
    p99_ms: percentile(lat, 99),
    max_ms: lat[lat.length - 1],
    once_ms: onceMs,
    once_cpu_ms: Math.round(onceCpuMs),
    watch_catchup_ms: flags['skip-catchup'] ? null : watchMs,
    watch_catchup_cpu_ms: flags['skip-catchup'] ? null : Math.round(watchCpuMs),
    catchup_ratio: flags['skip-catchup'] ? null : round(watchMs / onceMs, 2),
    load: os.loadavg()[0],
    goals: { cpu_pct: 15, rss_mb: 300, p99_ms: 1000, catchup_ratio: 1.5 },
  };
  printTable(`live cost: ${LIVE} live files x 1 line/s next to ${IDLE} idle, ${SECONDS} s (from /proc)`, [
    { process: 'watch daemon', cpu_pct_core: result.daemon_cpu_pct, cpu_ms_per_line: result.daemon_cpu_ms_per_line, peak_rss_mb: result.daemon_peak_rss_mb, goal: '<= 15 %, <= 300 MB' },
    { process: 'ref: tail + JSON.parse', cpu_pct_core: result.ref_cpu_pct, cpu_ms_per_line: result.ref_cpu_ms_per_line, peak_rss_mb: result.ref_peak_rss_mb, goal: '' },
  ]);
  printTable(`append -> commit (${lat.length} lines of ${SAMPLE} sampled files; every live processor: ${liveProcessors.join(', ')})`, [
    { measure: 'latency ms', p50: result.p50_ms, p95: result.p95_ms, p99: result.p99_ms, max: result.max_ms, goal: 'p99 <= 1000' },
  ]);
  if (!flags['skip-catchup']) {
    printTable(`first catch-up of the tree (${IDLE + LIVE} files), each on a fresh database`, [
      { mode: 'run --once', wall_ms: onceMs, cpu_ms: result.once_cpu_ms, ratio: 1 },
      { mode: 'watch (until /status idle)', wall_ms: watchMs, cpu_ms: result.watch_catchup_cpu_ms, ratio: result.catchup_ratio, goal: '<= 1.5' } as never,
    ]);
  }
  process.stdout.write(
    `\ndaemon CPU by thread: JS main thread ${result.daemon_main_thread_cpu_pct} %, other threads (DuckDB, libuv, GC) ${result.daemon_other_threads_cpu_pct} %; ` +
      `${result.commits} commits in the window, ${result.units_per_commit} units each, group interval at the end ${result.commit_interval_ms_at_end} ms\n` +
      `by thread name (% of a core): ${JSON.stringify(result.daemon_cpu_pct_by_thread_name)}; RSS before the writer started ${result.daemon_rss_mb_before_writes} MB, sampled each second in the window: median ${result.daemon_rss_mb_median} MB, peak ${result.daemon_peak_rss_mb} MB\n`,
  );
  process.stdout.write(
    `watcher: ${JSON.stringify(s1.watcher)}; ${appended} lines appended, reference parsed ${refLines}; ` +
      `${uncommitted} sampled lines never seen committed; 1-min load average ${result.load.toFixed(2)} ` +
      `(shared machine: CPU time is per process, wall-clock latency is not)\n`,
  );
  writeResult('live-cost', result);
  if (flags['cpu-prof']) {
    await sleep(500);
    const prof = newestProfile(profDir);
    if (prof && flags['keep-profile']) fs.copyFileSync(prof, flags['keep-profile']);
    if (prof) {
      const s = summarizeProfile(prof, { root: REPO_ROOT, top: 30 });
      printTable(`daemon CPU profile (whole run, busy ${Math.round(s.busyMs)} ms): self time by function`, s.functions.map((f) => ({ function: f.name, ms: Math.round(f.ms), share: round(f.share * 100, 1) })));
      printTable('by file', s.files.map((f) => ({ file: f.name, ms: Math.round(f.ms), share: round(f.share * 100, 1) })));
    }
  }
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
}
