/**
 * bench/live-reads: does reading through the daemon stall the live path?
 *
 * bench:latency's load (200 live files each appended a line a second, next to
 * 20,000 idle ones, by a separate writer process) runs for two phases of
 * `--seconds` each. In the second, a separate reader process runs
 * `session-pipeline report usage --by session` against the daemon in a loop.
 * A separate prober process polls `GET /health` every 20 ms throughout.
 * Printed per phase, both from this one run: `/health` p50/p99/max (measured
 * by the prober) and append -> committed p50/p99 (the commit time from DuckDB,
 * bench/lib/probe.ts). Goals with the reader: /health p99 <= 50 ms,
 * append -> commit p99 <= 1 s.
 *
 *   npm run bench:live-reads -- [--seconds 30] [--live 200] [--idle 20000]
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../src/config/config.js';
import { selectProcessors } from '../pipelines/index.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { runOnce } from '../src/pipeline/once.js';
import { startDaemon } from '../src/watch/daemon.js';
import { startAdmin } from '../src/ops/start-admin.js';
import { probeProcessor, percentile } from './lib/probe.js';
import { makeRng, newContext, sessionLines } from './lib/corpus.js';
import { printTable, writeResult, REPO_ROOT } from './lib/report.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const SECONDS = arg('seconds', 30);
const LIVE = arg('live', 200);
const IDLE = arg('idle', 20_000);
/** Samples this close to a phase's start are left out: the reader's first spawn, the writer's ramp. */
const EDGE_MS = 2000;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });

function child(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const c = spawn(process.execPath, [path.join(HERE, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
  let out = '';
  c.stdout.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => c.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${script} exited ${code}`)))));
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-bench-live-reads-'));
const root = path.join(dir, 'root');
const db = path.join(dir, 'state.duckdb');
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
  const port = await freePort();
  const config = {
    ...loadConfig({}, { ...process.env, SESSION_ROOT: root, SESSION_PIPELINE_DB: db, SESSION_PIPELINE_LOG_LEVEL: 'warn', SESSION_PIPELINE_ADMIN_PORT: String(port) }),
  };
  // As bench:latency: secrets settles for 30 s by design and is not a live processor.
  const processors = [...selectProcessors({ ...config, processors: ['lines', 'usage'] }), probeProcessor];
  const log = pino({ level: 'warn' });
  const retry = { maxAttempts: 5, baseDelayMs: 5000, maxDelayMs: 60000 };

  const pre = await Pipeline.open({ root, dbPath: db, processors, log, retry, maxLineBytes: config.maxLineBytes });
  await runOnce(pre);
  await pre.close();

  const daemon = await startDaemon({ config, processors, log });
  const closeAdmin = await startAdmin(daemon);
  const commitMs: { at: number; ms: number }[] = [];
  daemon.pipeline.committer.onCommit((_u, ms) => commitMs.push({ at: Date.now(), ms }));
  await new Promise((r) => setTimeout(r, 1500));

  const filesJson = path.join(dir, 'live.json');
  fs.writeFileSync(filesJson, JSON.stringify(live));
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  const writer = child('latency-writer.js', [filesJson, String(2 * SECONDS)]);
  const prober = child('health-prober.js', [String(port), String(2 * SECONDS)]);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const tReader = Date.now();
  const cpuA = process.cpuUsage(cpu0);
  const readerEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SESSION_PIPELINE_') && k !== 'SESSION_ROOT'));
  const reader = JSON.parse(await child('live-reads-reader.js', [CLI, db, String(port), String(SECONDS - 1)], readerEnv)) as {
    runs: number;
    failures: number;
    ms: number[];
    lastBytes: number;
  };
  const appended = (JSON.parse(await writer) as { appended: number }).appended;
  const health = (JSON.parse(await prober) as { samples: [number, number][] }).samples;
  const cpuB = process.cpuUsage(cpu0);
  const tEnd = Date.now();
  // The last lines through max-wait and a commit (longer when the machine is loaded).
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const [{ n }] = await daemon.pipeline.db.all<{ n: bigint }>('SELECT count(*) AS n FROM bench_probe');
    if (Number(n) >= appended) break;
  }
  await closeAdmin();
  await daemon.stop();

  const check = await Pipeline.open({ root, dbPath: db, processors, log, retry, maxLineBytes: config.maxLineBytes });
  const rows = await check.db.all<{ at: number; lat: number }>(
    'SELECT appended_at_ms::DOUBLE AS at, (epoch_ms(committed_at) - appended_at_ms)::DOUBLE AS lat FROM bench_probe',
  );
  await check.close();

  const phases = [
    { phase: 'without reader', from: t0 + EDGE_MS, to: tReader },
    { phase: 'with reader', from: tReader + EDGE_MS, to: t0 + 2 * SECONDS * 1000 },
  ];
  const table = phases.map((p) => {
    const h = sorted(health.filter(([t]) => t >= p.from && t < p.to).map(([, ms]) => ms));
    const lat = sorted(rows.filter((r) => r.at >= p.from && r.at < p.to).map((r) => Number(r.lat)));
    const commits = sorted(commitMs.filter((c) => c.at >= p.from && c.at < p.to).map((c) => c.ms));
    return {
      phase: p.phase,
      health_p50_ms: percentile(h, 50),
      health_p99_ms: percentile(h, 99),
      health_max_ms: h[h.length - 1],
      health_n: h.length,
      commit_p50_ms: percentile(lat, 50),
      commit_p99_ms: percentile(lat, 99),
      lines: lat.length,
      duckdb_commit_p99_ms: percentile(commits, 99),
      daemon_cpu_pct: 0,
    };
  });
  // The daemon's CPU (this process is the daemon; writer, prober and reader are children), per phase.
  const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
  table[0].daemon_cpu_pct = Math.round((cpuMs(cpuA) / (tReader - t0)) * 1000) / 10;
  table[1].daemon_cpu_pct = Math.round(((cpuMs(cpuB) - cpuMs(cpuA)) / (tEnd - tReader)) * 1000) / 10;
  const readerMs = sorted(reader.ms);
  printTable('/health and append -> committed, without and with a report loop (one run)', table);
  const withReader = table[1];
  process.stdout.write(
    `\n${appended} lines appended to ${LIVE} live files next to ${IDLE} idle ones over 2 x ${SECONDS} s; ${rows.length} committed.\n` +
      `reader: ${reader.runs} runs of \`report usage --by session\` through the daemon (${reader.failures} failed), ` +
      `p50 ${percentile(readerMs, 50)} ms, p99 ${percentile(readerMs, 99)} ms per run, ${reader.lastBytes.toLocaleString('en-US')} bytes each.\n` +
      `load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} cores.\n` +
      `goals with the reader: /health p99 <= 50 ms: ${withReader.health_p99_ms <= 50 ? 'met' : 'NOT met'}; ` +
      `append -> commit p99 <= 1000 ms: ${withReader.commit_p99_ms <= 1000 ? 'met' : 'NOT met'}.\n`,
  );
  writeResult('live-reads', { seconds: SECONDS, live_files: LIVE, idle_files: IDLE, appended, committed: rows.length, phases: table, reader: { ...reader, ms: undefined, p50_ms: percentile(readerMs, 50), p99_ms: percentile(readerMs, 99) } });
  if (rows.length < appended) process.stdout.write(`WARNING: ${appended - rows.length} appended lines not committed\n`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
