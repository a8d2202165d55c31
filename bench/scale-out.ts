/**
 * bench:scale-out: what a shared PostgreSQL store costs and gains.
 *
 *   npm run bench:scale-out [-- --files 320 --mb 84 --nodes 1,2,3 --processors all
 *                              --seconds 60 --live 200 --idle 20000 --stores postgres,duckdb
 *                              --skip-backfill --skip-latency
 *                              --pg postgres://... --keep]
 *
 * 1. Backfill throughput on one generated corpus (>= 300 files, >= 80 MB,
 *    bench/lib/corpus.ts) in one shared root: N `run --once` processes started
 *    together on one PostgreSQL database (N = 1, 2, 3; the files divided between
 *    them by leases), timed from the first spawn to the last exit, on a store
 *    whose tables exist (prepareStore). References
 *    from the same run: the JSON.parse floor on the same bytes (one core) and a
 *    single-node `run --once` into DuckDB, the embedded default.
 * 2. Append -> commit p50/p95/p99 under bench:latency's load (200 live files
 *    appended a line a second next to 20,000 idle ones, bench/lib/latency-load.ts),
 *    on PostgreSQL and on DuckDB, the daemon a process of its own
 *    (bench/latency-daemon.ts) measured from /proc, the commit time from the store.
 *
 * Every process is measured from outside: wall clock, CPU seconds from /proc
 * (the children's utime + stime; on PostgreSQL also the server's processes, which
 * do work that DuckDB does inside the node), and the load average beside them, because the
 * machine may be shared (2 cores): CPU seconds say what the work cost, wall
 * clock what it took with whatever else ran. PostgreSQL: `--pg` or
 * SESSION_PIPELINE_TEST_PG names a server, else a throwaway cluster is started
 * (scripts/pg-cluster.mjs). Results: stdout tables and `.bench/scale-out.json`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { generateCorpus } from './lib/corpus.js';
import { floorPass } from './lib/floor.js';
import { buildLatencyTree, probeLatencies, runLatencyWriter } from './lib/latency-load.js';
import { percentile } from './lib/probe.js';
import { childrenCpuMs, loadLine, pgServerCpuMs, procCpuMs } from './lib/proc.js';
import { MB, REPO_ROOT, mb, printTable, round, writeResult, type Cell } from './lib/report.js';
import { createPgDatabase, queryStore, storeKeys } from './lib/store.js';

const { values: flags } = parseArgs({
  options: {
    files: { type: 'string', default: '320' },
    mb: { type: 'string', default: '84' },
    owners: { type: 'string', default: '12' },
    seed: { type: 'string', default: '42' },
    nodes: { type: 'string', default: '1,2,3' },
    // Which stores the latency part runs on.
    stores: { type: 'string', default: 'postgres,duckdb' },
    processors: { type: 'string', default: 'all' },
    seconds: { type: 'string', default: '60' },
    live: { type: 'string', default: '200' },
    idle: { type: 'string', default: '20000' },
    pg: { type: 'string' },
    'skip-backfill': { type: 'boolean', default: false },
    'skip-latency': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const LATENCY_DAEMON = path.join(REPO_ROOT, 'dist', 'bench', 'latency-daemon.js');
const NODES = flags.nodes!.split(',').map(Number).filter((n) => n >= 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run statements on a server as its admin URL; returns the first column of the last one's first row. */
async function pgAdmin(url: string, statements: string[]): Promise<unknown> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    let last: unknown = null;
    for (const s of statements) {
      const r = await c.query(s);
      last = r.rows[0] ? Object.values(r.rows[0])[0] : null;
    }
    return last;
  } finally {
    await c.end();
  }
}

/** Child env without the user's pipeline settings, so only ours count. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SESSION_PIPELINE_') && k !== 'SESSION_ROOT'));
  return { ...env, SESSION_PIPELINE_LOG_LEVEL: 'warn', ...extra };
}

interface Summary {
  processors: Record<string, Record<string, number>>;
  files: number;
  /** A shared store: files another node held when this one came to them. */
  files_leased_elsewhere?: number;
}

interface NodesRun {
  wallMs: number;
  cpuMs: number | null;
  /** The PostgreSQL server's CPU over the run (null: DuckDB, or the server's processes are not visible). */
  storeCpuMs: number | null;
  loadBefore: string;
  loadAfter: string;
  summaries: Summary[];
}

/**
 * Create the store's tables before a timed run: a `run --once` over an empty root (migrations,
 * the price table), as a team store exists before its nodes join. Done for every store, DuckDB
 * included, so no timed run pays for creating its schema.
 */
function prepareStore(db: string, processors: string, emptyRoot: string): void {
  fs.mkdirSync(emptyRoot, { recursive: true });
  const r = spawnSync(process.execPath, [CLI, 'run', '--once', '--json', '--no-progress', '--root', emptyRoot, '--db', db, '--processors', processors], { env: childEnv(), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`preparing ${db}: run --once exited ${r.status}: ${r.stderr.slice(-2000)}`);
}

/** `n` run --once processes started together on one root and one prepared store; wall from first spawn to last exit. */
async function runNodes(n: number, root: string, db: string, processors: string, serverCpu: () => number | null = () => null): Promise<NodesRun> {
  prepareStore(db, processors, path.join(path.dirname(root), 'empty-root'));
  const loadBefore = loadLine();
  const s0 = serverCpu();
  const c0 = childrenCpuMs();
  const t0 = performance.now();
  const runs = Array.from({ length: n }, (_, i) => {
    const child = spawn(process.execPath, [CLI, 'run', '--once', '--json', '--no-progress', '--root', root, '--db', db, '--processors', processors], {
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    return new Promise<Summary>((resolve, reject) =>
      child.on('exit', (code) => {
        if (code !== 0) reject(new Error(`node ${i + 1} of ${n}: run --once exited ${code}: ${err.slice(-2000)}`));
        else resolve(JSON.parse(out.trim().split('\n').pop()!) as Summary);
      }),
    );
  });
  const summaries = await Promise.all(runs);
  const wallMs = performance.now() - t0;
  const c1 = childrenCpuMs();
  const s1 = serverCpu();
  return { wallMs, cpuMs: c0 !== null && c1 !== null ? c1 - c0 : null, storeCpuMs: s0 !== null && s1 !== null ? s1 - s0 : null, loadBefore, loadAfter: loadLine(), summaries };
}

/** Every file's checkpoints at its end for every processor, and `lines` counted every line once. */
async function checkComplete(db: string, root: string, files: string[], lines: number): Promise<string> {
  const rows = await queryStore<{ processor_name: string; session_file: string; offset: number }>(db, 'SELECT processor_name, session_file, "offset" FROM session_processor_state');
  const keys = storeKeys(db);
  const size = new Map(files.map((f) => [keys.stored(path.relative(root, f).split(path.sep).join('/')), fs.statSync(f).size]));
  const procs = [...new Set(rows.map((r) => r.processor_name))];
  const behind = rows.filter((r) => size.get(r.session_file) !== r.offset).length;
  const missing = procs.length * files.length - rows.length;
  const counted = procs.includes('lines') ? (await queryStore<{ n: number }>(db, 'SELECT sum(lines) AS n FROM lines_file_stats'))[0].n : null;
  const problems = [behind ? `${behind} checkpoints behind` : '', missing ? `${missing} checkpoints missing` : '', counted !== null && counted !== lines ? `lines counted ${counted} of ${lines}` : '']
    .filter(Boolean)
    .join(', ');
  return problems || `complete (${procs.length} processors x ${files.length} files${counted !== null ? `, ${counted.toLocaleString('en-US')} lines once` : ''})`;
}

interface LatencyResult {
  store: string;
  appended: number;
  committed: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  commit_p50_ms: number;
  commit_p99_ms: number;
  commits: number;
  daemon_cpu_s: number;
  daemon_cpu_pct: number;
  /** The PostgreSQL server's CPU over the writer's window (null on DuckDB: it is inside the daemon). */
  pg_server_cpu_s: number | null;
  rss_mb: number;
  idle_backfill_s: number;
  load: string;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** bench:latency's load on one store, the daemon (live processors + probe) a child process. */
async function latencyRun(
  store: string,
  db: string,
  dir: string,
  o: { live: number; idle: number; seconds: number },
  serverCpu: () => number | null = () => null,
): Promise<LatencyResult> {
  const root = path.join(dir, 'root');
  const live = buildLatencyTree(root, o);
  const env = childEnv({ SESSION_ROOT: root, SESSION_PIPELINE_DB: db });
  let t = performance.now();
  const pre = spawnSync(process.execPath, [LATENCY_DAEMON, 'once'], { env, encoding: 'utf8' });
  if (pre.status !== 0) throw new Error(`${store}: the idle backfill exited ${pre.status}: ${pre.stderr.slice(-2000)}`);
  const idleBackfillMs = performance.now() - t;

  const daemon = spawn(process.execPath, [LATENCY_DAEMON, 'watch'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  daemon.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => daemon.on('exit', (code) => r(code)));
  for (t = performance.now(); !out.includes('ready\n'); await sleep(50)) {
    if (daemon.exitCode !== null) throw new Error(`${store}: the daemon exited ${daemon.exitCode} before it was ready`);
    if (performance.now() - t > 120_000) throw new Error(`${store}: the daemon was not ready in 120 s`);
  }
  // Its start-up scan of the caught-up tree.
  await sleep(1500);
  const cpu0 = procCpuMs(daemon.pid!);
  const s0 = serverCpu();
  const w0 = performance.now();
  const writer = runLatencyWriter(dir, live, o.seconds);
  const { appended } = await writer.done;
  const windowMs = performance.now() - w0;
  const cpuMs = procCpuMs(daemon.pid!) - cpu0;
  const s1 = serverCpu();
  const rss = rssMb(daemon.pid!);
  const load = loadLine();
  // Let the last lines through (max-wait + a commit).
  await sleep(4000);
  daemon.kill('SIGTERM');
  const code = await exited;
  if (code !== 0) throw new Error(`${store}: the daemon exited ${code} on SIGTERM`);
  const commitMs = (JSON.parse(out.slice(out.indexOf('ready\n') + 6).trim()) as { commit_ms: number[] }).commit_ms.sort((a, b) => a - b);
  const lat = await probeLatencies(db);
  return {
    store,
    appended,
    committed: lat.length,
    p50_ms: round(percentile(lat, 50), 0),
    p95_ms: round(percentile(lat, 95), 0),
    p99_ms: round(percentile(lat, 99), 0),
    max_ms: round(lat[lat.length - 1], 0),
    commit_p50_ms: round(percentile(commitMs, 50), 1),
    commit_p99_ms: round(percentile(commitMs, 99), 1),
    commits: commitMs.length,
    daemon_cpu_s: round(cpuMs / 1000, 2),
    daemon_cpu_pct: round((cpuMs / windowMs) * 100, 1),
    pg_server_cpu_s: s0 !== null && s1 !== null ? round((s1 - s0) / 1000, 2) : null,
    rss_mb: rss,
    idle_backfill_s: round(idleBackfillMs / 1000, 1),
    load,
  };
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-bench-scale-out-'));
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, load_start: loadLine() };
  let stopCluster: (() => void) | null = null;
  // Interrupted (Ctrl-C, SIGTERM): still stop the cluster this run started and remove its files.
  const onSignal = () => {
    stopCluster?.();
    fs.rmSync(tmp, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const drops: (() => Promise<void>)[] = [];
  let seq = 0;
  const freshPg = async (server: string, what: string) => {
    const d = await createPgDatabase(server, `scaleout_${process.pid}_${seq++}_${what}`);
    drops.push(d.drop);
    return d.url;
  };
  try {
    let server = flags.pg ?? process.env.SESSION_PIPELINE_TEST_PG;
    // The server's data directory, when known, for its CPU time (its processes, from /proc).
    let pgData: string | null = !flags.pg && process.env.SESSION_PIPELINE_TEST_PG_DIR ? path.join(process.env.SESSION_PIPELINE_TEST_PG_DIR, 'data') : null;
    if (!server) {
      const mod = (await import(pathToFileURL(path.join(REPO_ROOT, 'scripts', 'pg-cluster.mjs')).href)) as {
        startCluster(o: { durable: boolean }): Promise<{ url: string; dir: string }>;
        stopCluster(dir: string): void;
      };
      // Durable, unlike the tests' clusters (fsync, synchronous_commit, full_page_writes on): a store
      // people rely on keeps them on, and DuckDB syncs its WAL at every commit too.
      const c = await mod.startCluster({ durable: true });
      server = c.url;
      pgData = path.join(c.dir, 'data');
      stopCluster = () => mod.stopCluster(c.dir);
      console.log(`PostgreSQL: a throwaway cluster at ${c.url}`);
    } else {
      console.log(`PostgreSQL: ${server.replace(/:[^:@/]*@/, ':***@')}`);
    }
    const settings = await pgAdmin(server, ["SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) AS s FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'server_version')"]);
    console.log(`PostgreSQL settings: ${settings}`);
    results.pg_settings = settings;
    console.log(loadLine());
    const serverCpu = () => (pgData ? pgServerCpuMs(pgData) : null);
    results.pg_server_cpu_measured = serverCpu() !== null;

    if (!flags['skip-backfill']) {
      const root = path.join(tmp, 'root');
      const corpus = generateCorpus(root, { files: Number(flags.files), totalBytes: Math.round(Number(flags.mb) * MB), owners: Number(flags.owners), seed: Number(flags.seed) });
      console.log(`\ncorpus: ${corpus.files.length} files, ${mb(corpus.bytes).toFixed(1)} MB, ${corpus.lines.toLocaleString('en-US')} lines; processors ${flags.processors}`);
      results.corpus = { files: corpus.files.length, bytes: corpus.bytes, lines: corpus.lines };
      if (corpus.files.length < 300 || corpus.bytes < 80 * MB) console.log('note: below the issue\'s >= 300 files / >= 80 MB');

      // Floor: warm cache, best of 2 per way.
      for (const f of corpus.files) fs.readFileSync(f);
      let floor = { ms: Infinity, cpuMs: Infinity };
      for (let r = 0; r < 2; r++) {
        for (const mode of ['text', 'buffer'] as const) {
          const f = await floorPass(corpus.files, mode);
          floor = { ms: Math.min(floor.ms, f.ms), cpuMs: Math.min(floor.cpuMs, f.cpuMs) };
        }
      }
      const rows: Record<string, Cell>[] = [];
      const row = (run: string, nodes: number | null, ms: number, cpuMs: number | null, storeCpuMs: number | null, note: string) =>
        rows.push({
          run,
          nodes,
          'wall s': round(ms / 1000, 2),
          'MB/s': round(mb(corpus.bytes) / (ms / 1000), 1),
          'x floor': round(ms / floor.ms, 2),
          'cpu s': cpuMs === null ? null : round(cpuMs / 1000, 2),
          'cpu x floor': cpuMs === null ? null : round(cpuMs / floor.cpuMs, 2),
          'pg server cpu s': storeCpuMs === null ? null : round(storeCpuMs / 1000, 2),
          note,
        });
      row('floor: read + JSON.parse, one core', null, floor.ms, floor.cpuMs, null, loadLine());
      const backfill: Record<string, unknown> = { floor_ms: Math.round(floor.ms), floor_cpu_ms: Math.round(floor.cpuMs) };

      const duck = await runNodes(1, root, path.join(tmp, 'backfill.duckdb'), flags.processors!);
      row('run --once, DuckDB (reference)', 1, duck.wallMs, duck.cpuMs, null, `${await checkComplete(path.join(tmp, 'backfill.duckdb'), root, corpus.files, corpus.lines)}; ${duck.loadAfter}`);
      backfill.duckdb = { wall_ms: Math.round(duck.wallMs), cpu_ms: duck.cpuMs, load: duck.loadAfter };

      const pgRuns: Record<string, unknown> = {};
      let one: number | null = null;
      for (const n of NODES) {
        const db = await freshPg(server, `backfill_${n}`);
        const r = await runNodes(n, root, db, flags.processors!, serverCpu);
        if (n === 1) one = r.wallMs;
        // What each node did: lines it processed, and files it found held by another node.
        const perNode = r.summaries.map((s) => `${Math.max(0, ...Object.values(s.processors).map((p) => p.lines)).toLocaleString('en-US')} (${s.files_leased_elsewhere ?? 0} leased elsewhere)`);
        const speedup = one !== null && n > 1 ? `, ${(one / r.wallMs).toFixed(2)}x one node` : '';
        row(`run --once x ${n}, PostgreSQL`, n, r.wallMs, r.cpuMs, r.storeCpuMs, `${await checkComplete(db, root, corpus.files, corpus.lines)}; lines per node ${perNode.join(' / ')}${speedup}; ${r.loadAfter}`);
        pgRuns[n] = { wall_ms: Math.round(r.wallMs), cpu_ms: r.cpuMs, pg_server_cpu_ms: r.storeCpuMs, load_before: r.loadBefore, load_after: r.loadAfter, per_node: r.summaries };
      }
      backfill.postgres = pgRuns;
      results.backfill = backfill;
      printTable(`backfill throughput: ${mb(corpus.bytes).toFixed(1)} MB, ${corpus.files.length} files, one shared root (wall from first spawn to last exit; cpu from /proc)`, rows);
    }

    if (!flags['skip-latency']) {
      const o = { live: Number(flags.live), idle: Number(flags.idle), seconds: Number(flags.seconds) };
      console.log(`\nappend -> commit: ${o.live} live files x 1 line/s next to ${o.idle} idle, ${o.seconds} s per store`);
      const lat: LatencyResult[] = [];
      for (const store of flags.stores!.split(',').filter((x) => x === 'postgres' || x === 'duckdb')) {
        const dir = path.join(tmp, `latency-${store}`);
        fs.mkdirSync(dir);
        const db = store === 'duckdb' ? path.join(dir, 'state.duckdb') : await freshPg(server, 'latency');
        lat.push(await latencyRun(store, db, dir, o, store === 'postgres' ? serverCpu : undefined));
        if (!flags.keep) fs.rmSync(dir, { recursive: true, force: true });
      }
      printTable('append -> committed under bench:latency load (commit time from the store; daemon cpu from /proc)', lat.map((r) => ({ ...r })));
      const p = lat.find((r) => r.store === 'postgres');
      const d = lat.find((r) => r.store === 'duckdb');
      if (p && d) console.log(`\nPostgreSQL p99 ${p.p99_ms} ms vs DuckDB ${d.p99_ms} ms (${(p.p99_ms / d.p99_ms).toFixed(2)}x); bench:latency's goal: p99 <= 2000 ms`);
      for (const r of lat) if (r.committed < r.appended) console.log(`WARNING: ${r.store}: ${r.appended - r.committed} appended lines not committed`);
      results.latency = lat;
    }
    results.load_end = loadLine();
    console.log(`\n${loadLine()}; results: ${path.relative(process.cwd(), writeResult('scale-out', results))}`);
  } finally {
    for (const d of drops) await d().catch(() => undefined);
    stopCluster?.();
    if (flags.keep) console.log(`kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
