/**
 * Admin API latency under load: does `GET /health` stay responsive while the
 * daemon works through a cold backfill?
 *
 *   npm run bench:admin-latency [-- --files 320 --mb 84 --seed 42 --interval-ms 20 --processors all]
 *   (env: BENCH_FILES, BENCH_MB, BENCH_SEED, BENCH_OWNERS)
 *
 * 1. Generates bench/backfill's corpus (same generator, same defaults) in a temp dir.
 * 2. Starts `session-pipeline watch` on it, cold (fresh database), admin API on an ephemeral port.
 * 3. From the moment the API listens, polls `GET /health` every 20 ms (one request at a time,
 *    keep-alive) until the initial scan is done and every processor's lag is 0.
 * 4. Reports p50 / p99 / max request latency, the backfill duration, the slowest samples with
 *    what the daemon was doing, and the daemon's own event-loop delay (from /status).
 * Goal: p99 <= 50 ms. Results: stdout and `.bench/admin-latency.json`.
 *
 * With --profile the daemon runs under `--cpu-prof`; afterwards the main thread's contiguous busy
 * stretches of >= 40 ms are listed with the project functions they were spent in (innermost
 * frame under dist/src or dist/pipelines), which is where the event loop was held.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { generateCorpus } from './lib/corpus.js';
import { printTable, writeResult, REPO_ROOT, MB, mb, round } from './lib/report.js';

const GOAL_P99_MS = 50;
const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

const { values: flags } = parseArgs({
  options: {
    files: { type: 'string', default: process.env.BENCH_FILES ?? '320' },
    mb: { type: 'string', default: process.env.BENCH_MB ?? '84' },
    owners: { type: 'string', default: process.env.BENCH_OWNERS ?? '12' },
    seed: { type: 'string', default: process.env.BENCH_SEED ?? '42' },
    'interval-ms': { type: 'string', default: '20' },
    processors: { type: 'string', default: 'all' },
    'timeout-s': { type: 'string', default: '900' },
    keep: { type: 'boolean', default: false },
    // Run the daemon under --cpu-prof and report the long busy stretches of its main thread.
    profile: { type: 'boolean', default: false },
    // Preload bench/lib/loop-probe.js into the daemon: time processor calls, appender segments,
    // GC pauses and event-loop stalls, and attribute the stalls.
    probe: { type: 'boolean', default: false },
  },
});
const INTERVAL = Number(flags['interval-ms']);

const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('SESSION_PIPELINE_') && k !== 'SESSION_ROOT'),
);

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function getJson(port: number, p: string): Promise<{ ms: number; status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ ms: performance.now() - t0, status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
  });
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

interface Sample {
  t: number;
  ms: number;
  lagBytes: number;
  lagFiles: number;
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-bench-admin-'));
  const root = path.join(tmp, 'root');
  const db = path.join(tmp, 'state.duckdb');
  let child: ReturnType<typeof spawn> | null = null;
  try {
    const t = performance.now();
    const corpus = generateCorpus(root, { files: Number(flags.files), totalBytes: Math.round(Number(flags.mb) * MB), owners: Number(flags.owners), seed: Number(flags.seed) });
    console.log(
      `corpus: ${corpus.files.length} files, ${mb(corpus.bytes).toFixed(1)} MB, ${corpus.lines.toLocaleString('en-US')} lines (generated in ${((performance.now() - t) / 1000).toFixed(1)} s)`,
    );

    const profDir = path.join(tmp, 'prof');
    const nodeFlags = flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
    const probeOut = path.join(tmp, 'loop-probe.json');
    if (flags.probe) {
      nodeFlags.push('--import', pathToFileURL(path.join(REPO_ROOT, 'dist', 'bench', 'lib', 'loop-probe.js')).href);
      childEnv.LOOP_PROBE_OUT = probeOut;
    }
    const spawnedAt = performance.now();
    child = spawn(
      process.execPath,
      [...nodeFlags, CLI, 'watch', '--root', root, '--db', db, '--admin-port', '0', '--processors', flags.processors!, '--secrets-settle-ms', '0', '--log-level', 'info'],
      { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    let port = 0;
    let listeningAt = 0;
    const listening = new Promise<void>((resolve, reject) => {
      child!.stderr!.setEncoding('utf8');
      child!.stderr!.on('data', (d: string) => {
        stderr += d;
        if (port) return;
        const m = /"port":(\d+)[^\n]*"msg":"admin API listening"/.exec(stderr);
        if (m) {
          port = Number(m[1]);
          listeningAt = performance.now();
          resolve();
        }
      });
      child!.on('exit', (code) => reject(new Error(`daemon exited ${code}:\n${stderr.slice(-4000)}`)));
    });
    await listening;
    // Keep the pipe drained (commit logs) without keeping everything.
    child.stderr!.removeAllListeners('data');
    child.stderr!.on('data', (d: string) => {
      if (/"level":(50|60)/.test(d)) process.stderr.write(d);
    });
    console.log(`daemon listening on 127.0.0.1:${port} after ${Math.round(listeningAt - spawnedAt)} ms; polling GET /health every ${INTERVAL} ms`);

    const samples: Sample[] = [];
    const deadline = Date.now() + Number(flags['timeout-s']) * 1000;
    let doneAt = 0;
    let lastHealth: any = null;
    for (;;) {
      const start = performance.now();
      const r = await getJson(port, '/health');
      const lag = Object.values(r.body.processors as Record<string, { lagBytes: number; lagFiles: number }>);
      const lagBytes = lag.reduce((n, p) => n + p.lagBytes, 0);
      const lagFiles = lag.reduce((n, p) => n + p.lagFiles, 0);
      samples.push({ t: start - listeningAt, ms: r.ms, lagBytes, lagFiles });
      lastHealth = r.body;
      if (r.body.initialScan === 'done' && lagFiles === 0 && lagBytes === 0) {
        doneAt = performance.now();
        break;
      }
      if (Date.now() > deadline) throw new Error('backfill did not finish in time');
      const wait = INTERVAL - (performance.now() - start);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
    const status = (await getJson(port, '/status')).body;

    const lat = samples.map((s) => s.ms).sort((a, b) => a - b);
    const p50 = pct(lat, 50);
    const p99 = pct(lat, 99);
    const max = lat[lat.length - 1];
    const over = samples.filter((s) => s.ms > GOAL_P99_MS);
    const backfillMs = doneAt - spawnedAt;
    printTable(`GET /health during a cold backfill of ${mb(corpus.bytes).toFixed(1)} MB / ${corpus.files.length} files (goal p99 <= ${GOAL_P99_MS} ms)`, [
      {
        samples: samples.length,
        'p50 ms': round(p50, 1),
        'p90 ms': round(pct(lat, 90), 1),
        'p99 ms': round(p99, 1),
        'max ms': round(max, 1),
        [`> ${GOAL_P99_MS} ms`]: over.length,
        'backfill s': round(backfillMs / 1000, 2),
        'MB/s': round(mb(corpus.bytes) / (backfillMs / 1000), 1),
      },
    ]);
    const slowest = [...samples].sort((a, b) => b.ms - a.ms).slice(0, 8);
    printTable(
      'slowest requests (t = ms since the API listened)',
      slowest.map((s) => ({ 't ms': Math.round(s.t), 'latency ms': round(s.ms, 1), 'lag files': s.lagFiles, 'lag MB': round(mb(s.lagBytes), 1) })),
    );
    const loop = status.eventLoopDelay as { p50Ms: number; p99Ms: number; maxMs: number };
    console.log(
      `\ndaemon event-loop delay over the run: p50 ${loop.p50Ms} ms, p99 ${loop.p99Ms} ms, max ${loop.maxMs} ms; ` +
        `commits ${status.committer.transactions} (${status.committer.rows.toLocaleString('en-US')} rows)`,
    );
    console.log(
      `p99 ${p99.toFixed(1)} ms ${p99 <= GOAL_P99_MS ? '<=' : '>'} ${GOAL_P99_MS} ms goal: ${p99 <= GOAL_P99_MS ? 'MET' : 'NOT MET'}; ` +
        `final health ${lastHealth.status}`,
    );
    const results = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      load: os.loadavg(),
      corpus: { files: corpus.files.length, bytes: corpus.bytes, lines: corpus.lines },
      processors: status.processors.map((p: { name: string; version: number }) => `${p.name}@${p.version}`),
      interval_ms: INTERVAL,
      samples: samples.length,
      latency_ms: { p50: round(p50, 2), p90: round(pct(lat, 90), 2), p99: round(p99, 2), max: round(max, 2), over_goal: over.length },
      backfill_ms: Math.round(backfillMs),
      listening_after_ms: Math.round(listeningAt - spawnedAt),
      event_loop_delay_ms: loop,
      slowest,
      goal_met: p99 <= GOAL_P99_MS,
    };
    const file = writeResult('admin-latency', results);
    console.log(`results: ${path.relative(process.cwd(), file)}`);
    let stallWindows: [number, number][] | null = null;
    if (flags.probe) {
      await stopChild(child);
      const probe = JSON.parse(fs.readFileSync(probeOut, 'utf8'));
      stallWindows = probe.stall_windows_us;
      delete probe.stall_windows_us;
      console.log('\nloop probe (daemon side):');
      console.log(`  stalls >= 30 ms: ${probe.stalls.count}, ${probe.stalls.total_ms} ms in all, longest ${probe.stalls.longest_ms.join(', ')} ms`);
      console.log(`  stall time overlapped by: ${JSON.stringify(probe.stall_ms_overlapped_by)}; by none of the probes: ${probe.stall_ms_not_overlapped_by_any_probe} ms`);
      console.log(`  reader slices run within one loop iteration: ${JSON.stringify(probe.reader_slices_in_one_loop_iteration)}`);
      printTable('synchronous sections (ms)', probe.sections);
      (results as Record<string, unknown>).loop_probe = probe;
      writeResult('admin-latency', results);
    }
    if (flags.profile) {
      await stopChild(child);
      const prof = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
      if (!prof) throw new Error('no profile written');
      reportLongTasks(path.join(profDir, prof), 40, stallWindows);
    }
  } finally {
    await stopChild(child);
    agent.destroy();
    if (!flags.keep) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`kept ${tmp}`);
  }
}

async function stopChild(child: ReturnType<typeof spawn> | null): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

interface ProfNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Long busy stretches of the daemon's main thread, attributed to project functions. */
function reportLongTasks(file: string, minMs = 40, stallWindows: [number, number][] | null = null): void {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfNode[]; samples: number[]; timeDeltas: number[]; startTime: number };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const short = (url: string) => url.replace(/^file:\/\//, '').replace(/^.*\/dist\//, '').replace(/^.*node_modules\//, '');
  const attribution = new Map<number, string>();
  const attribute = (id: number): string => {
    let a = attribution.get(id);
    if (a) return a;
    const leaf = byId.get(id)!;
    a = leaf.callFrame.functionName === '(garbage collector)' ? '(garbage collector)' : '';
    for (let cur: number | undefined = id; !a && cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (/\/dist\/(src|pipelines)\//.test(f.url)) a = `${f.functionName || '(anonymous)'} ${short(f.url)}:${f.lineNumber + 1}`;
    }
    if (!a) a = `${leaf.callFrame.functionName || '(anonymous)'} ${short(leaf.callFrame.url) || '(native)'}`;
    attribution.set(id, a);
    return a;
  };
  interface Run { start: number; ms: number; by: Map<string, number> }
  const runs: Run[] = [];
  let cur: Run | null = null;
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] / 1000;
    t += prof.timeDeltas[i];
    const name = byId.get(prof.samples[i])!.callFrame.functionName;
    if (name === '(idle)') {
      if (cur && cur.ms >= minMs) runs.push(cur);
      cur = null;
      continue;
    }
    if (!cur) cur = { start: t, ms: 0, by: new Map() };
    cur.ms += dt;
    const a = attribute(prof.samples[i]);
    cur.by.set(a, (cur.by.get(a) ?? 0) + dt);
  }
  if (cur && cur.ms >= minMs) runs.push(cur);
  if (stallWindows) {
    // What ran while the loop was stalled (windows from the loop probe, same monotonic clock).
    const during = new Map<string, number>();
    let w = 0;
    let inStalls = 0;
    let tt = prof.startTime;
    for (let i = 0; i < prof.samples.length; i++) {
      tt += prof.timeDeltas[i];
      while (w < stallWindows.length && stallWindows[w][1] < tt) w++;
      if (w >= stallWindows.length) break;
      if (tt < stallWindows[w][0]) continue;
      const dt = prof.timeDeltas[i] / 1000;
      inStalls += dt;
      const a = byId.get(prof.samples[i])!.callFrame.functionName === '(idle)' ? '(idle: not on the main thread)' : attribute(prof.samples[i]);
      during.set(a, (during.get(a) ?? 0) + dt);
    }
    const stallTotal = stallWindows.reduce((n, [a, b]) => n + (b - a) / 1000, 0);
    console.log(`\nwhat the main thread ran during the ${stallWindows.length} loop stalls (${Math.round(stallTotal)} ms; ${Math.round(inStalls)} ms of profile samples):`);
    printTable(
      'stall time by innermost project function',
      [...during.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, v]) => ({ function: k, ms: Math.round(v), share: `${((100 * v) / inStalls).toFixed(1)}%` })),
    );
  }
  const total = new Map<string, number>();
  for (const r of runs) for (const [k, v] of r.by) total.set(k, (total.get(k) ?? 0) + v);
  const busy = runs.reduce((n, r) => n + r.ms, 0);
  console.log(`\nmain-thread busy stretches >= ${minMs} ms: ${runs.length}, ${Math.round(busy)} ms in all; longest ${Math.round(Math.max(0, ...runs.map((r) => r.ms)))} ms`);
  printTable(
    'where those stretches were spent (innermost project function)',
    [...total.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => ({ function: k, ms: Math.round(v), share: `${((100 * v) / busy).toFixed(1)}%` })),
  );
  printTable(
    'the longest stretches',
    [...runs].sort((a, b) => b.ms - a.ms).slice(0, 10).map((r) => {
      const top = [...r.by.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
      return { ms: Math.round(r.ms), top: top.map(([k, v]) => `${k} ${Math.round(v)}`).join(' | ') };
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
