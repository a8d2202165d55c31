/**
 * Backfill benchmark: how close is `run --once` to the cost of just reading
 * and parsing the corpus?
 *
 *   npm run bench:backfill [-- --files 320 --mb 84 --seed 42 --repeat 2 --profile --sweep-batch --keep]
 *   (env: BENCH_FILES, BENCH_MB, BENCH_SEED, BENCH_OWNERS, BENCH_REPEAT, BENCH_PROFILE=1)
 *
 * 1. Generates a realistic corpus (heavy-tailed sizes) in a temp dir.
 * 2. Floor: one process reads every file and JSON.parses every line (best of 2, warm cache).
 * 3. `run --once --json` as a child process: default processors, then each registered one alone
 *    (best of --repeat for the default set and `lines`, fresh database each time).
 * 4. The same in-process (dist/bench/inproc.js) to separate startup + DuckDB open from the work.
 * 5. Incremental: append to 5% of files, re-run, compare bytes_read with bytes appended;
 *    then a no-change re-run (bytes_read must be 0).
 * Results: stdout tables and `.bench/backfill.json`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { generateCorpus, appendLines, makeRng, int } from './lib/corpus.js';
import { printTable, writeResult, REPO_ROOT, MB, mb, round, type Cell } from './lib/report.js';
import { summarizeProfile, newestProfile } from './lib/cpuprofile.js';
import { STAGES } from './profile-stages.js';
import { floorPass } from './lib/floor.js';
import { childrenCpuMs } from './lib/proc.js';

const GOAL = 1.5;
const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const INPROC = path.join(REPO_ROOT, 'dist', 'bench', 'inproc.js');

const { values: flags } = parseArgs({
  options: {
    files: { type: 'string', default: process.env.BENCH_FILES ?? '320' },
    mb: { type: 'string', default: process.env.BENCH_MB ?? '84' },
    owners: { type: 'string', default: process.env.BENCH_OWNERS ?? '12' },
    seed: { type: 'string', default: process.env.BENCH_SEED ?? '42' },
    repeat: { type: 'string', default: process.env.BENCH_REPEAT ?? '2' },
    'append-fraction': { type: 'string', default: '0.05' },
    profile: { type: 'boolean', default: process.env.BENCH_PROFILE === '1' },
    // In-process runs of the default processors at several reader batch sizes (src/read/reader.ts batchBytes).
    'sweep-batch': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const FILES = Number(flags.files);
const TOTAL = Math.round(Number(flags.mb) * MB);
const SEED = Number(flags.seed);
const REPEAT = Math.max(1, Number(flags.repeat));

/** Child env without the user's pipeline settings, so only our flags count. */
const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('SESSION_PIPELINE_') && k !== 'SESSION_ROOT'),
);
childEnv.SESSION_PIPELINE_LOG_LEVEL = 'warn';

interface Summary {
  processors: Record<string, Record<string, number>>;
  files: number;
  duration_ms: number;
}

function spawnJson<T>(args: string[], nodeFlags: string[] = []): { ms: number; cpuMs: number | null; out: T } {
  const c0 = childrenCpuMs();
  const t = performance.now();
  const r = spawnSync(process.execPath, [...nodeFlags, ...args], { encoding: 'utf8', env: childEnv, maxBuffer: 64 * MB });
  const ms = performance.now() - t;
  const c1 = childrenCpuMs();
  const cpuMs = c0 !== null && c1 !== null ? c1 - c0 : null;
  if (r.status !== 0) {
    throw new Error(`${path.basename(args[0])} ${args.slice(1).join(' ')} exited ${r.status}:\n${r.stderr}`);
  }
  if (r.stderr.trim()) process.stderr.write(r.stderr);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return { ms, cpuMs, out: JSON.parse(last) as T };
}

function runCli(root: string, db: string, processors?: string): { ms: number; cpuMs: number | null; summary: Summary } {
  const args = [CLI, 'run', '--once', '--json', '--no-progress', '--root', root, '--db', db];
  if (processors) args.push('--processors', processors);
  const { ms, cpuMs, out } = spawnJson<Summary>(args);
  return { ms, cpuMs, summary: out };
}

interface InProc {
  import_ms: number;
  open_ms: number;
  run_ms: number;
  close_ms: number;
  run_cpu_ms: number;
  gc_ms: number;
  gc_major_ms: number;
  summary: Summary;
}

function runInProc(
  root: string,
  db: string,
  processors = 'all',
  nodeFlags: string[] = [],
  extra: string[] = [],
): { ms: number; cpuMs: number | null; out: InProc } {
  return spawnJson<InProc>([INPROC, '--root', root, '--db', db, '--processors', processors, ...extra], nodeFlags);
}

function warmUp(files: string[]): void {
  for (const f of files) fs.readFileSync(f);
}

function totals(s: Summary): { lines: number; items: number; errors: number; bytes_read: number } {
  const ps = Object.values(s.processors);
  return {
    lines: Math.max(0, ...ps.map((p) => p.lines)),
    items: ps.reduce((n, p) => n + p.items, 0),
    errors: ps.reduce((n, p) => n + p.errors + p.quarantined, 0),
    bytes_read: Math.max(0, ...ps.map((p) => p.bytes_read)),
  };
}

async function main(): Promise<void> {
  const { BUILT_IN } = (await import('../pipelines/index.js')) as { BUILT_IN: Record<string, unknown> };
  const registered = Object.keys(BUILT_IN);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-bench-backfill-'));
  const root = path.join(tmp, 'root');
  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, registered };
  try {
    // 1. corpus
    let t = performance.now();
    const corpus = generateCorpus(root, { files: FILES, totalBytes: TOTAL, owners: Number(flags.owners), seed: SEED });
    const genMs = performance.now() - t;
    const sizes = corpus.files.map((f) => fs.statSync(f).size).sort((a, b) => a - b);
    const q = (p: number) => sizes[Math.floor(p * (sizes.length - 1))];
    console.log(
      `corpus: ${corpus.files.length} files, ${mb(corpus.bytes).toFixed(1)} MB, ${corpus.lines.toLocaleString('en-US')} lines ` +
        `(generated in ${(genMs / 1000).toFixed(1)} s; sizes p50 ${(q(0.5) / 1024).toFixed(0)} KB, p90 ${(q(0.9) / 1024).toFixed(0)} KB, ` +
        `max ${mb(sizes[sizes.length - 1]).toFixed(1)} MB; ${sizes.filter((s) => s >= 10 * MB).length} files >= 10 MB)`,
    );
    console.log(`processors registered: ${registered.join(', ')}; ${os.cpus().length} cpus, load average ${os.loadavg()[0].toFixed(2)}`);
    results.corpus = { files: corpus.files.length, bytes: corpus.bytes, lines: corpus.lines, gen_ms: Math.round(genMs), p50: q(0.5), p90: q(0.9), max: sizes[sizes.length - 1] };

    // 2. floor (warm cache, best of 2 per way, interleaved)
    warmUp(corpus.files);
    const passes = { text: [] as number[], buffer: [] as number[] };
    const passCpu = { text: [] as number[], buffer: [] as number[] };
    const passGc = { text: [] as number[], buffer: [] as number[] };
    let floorBytes = 0;
    for (let r = 0; r < 2; r++) {
      for (const mode of ['text', 'buffer'] as const) {
        const f = await floorPass(corpus.files, mode);
        if (f.lines !== corpus.lines) throw new Error(`floor (${mode}) saw ${f.lines} lines, corpus has ${corpus.lines}`);
        passes[mode].push(f.ms);
        passCpu[mode].push(f.cpuMs);
        passGc[mode].push(f.gcMs);
        floorBytes = f.bytes;
      }
    }
    const floorText = Math.min(...passes.text);
    const floorBuffer = Math.min(...passes.buffer);
    const floor = {
      ms: Math.min(floorText, floorBuffer),
      cpuMs: Math.min(...passCpu.text, ...passCpu.buffer),
      bytes: floorBytes,
    };
    const floorS = floor.ms / 1000;
    results.floor = {
      ms: Math.round(floor.ms),
      mb_s: round(mb(floor.bytes) / floorS),
      cpu_ms: Math.round(floor.cpuMs),
      text_ms: passes.text.map(Math.round),
      buffer_ms: passes.buffer.map(Math.round),
      gc_ms: { text: passGc.text, buffer: passGc.buffer },
    };

    // CLI start-up alone: `run --once` over an empty root (node, module load incl. the DuckDB
    // binding, open, migrations, close), on one database created by the first try: best of 3.
    let startupMs = Infinity;
    const emptyRoot = path.join(tmp, 'empty-root');
    fs.mkdirSync(emptyRoot, { recursive: true });
    for (let r = 0; r < 3; r++) {
      t = performance.now();
      spawnSync(process.execPath, [CLI, 'run', '--once', '--json', '--root', emptyRoot, '--db', path.join(tmp, 'empty.duckdb')], { env: childEnv });
      startupMs = Math.min(startupMs, performance.now() - t);
    }

    // 3 + 4. full runs on fresh databases
    const rows: Record<string, Cell>[] = [];
    const row = (run: string, ms: number, cpuMs: number | null, s: Summary | null, note = '') => {
      const tt = s ? totals(s) : null;
      rows.push({
        run,
        seconds: round(ms / 1000, 2),
        'MB/s': round(mb(corpus.bytes) / (ms / 1000), 1),
        'x floor': round(ms / floor.ms, 2),
        'cpu s': cpuMs === null ? null : round(cpuMs / 1000, 2),
        'cpu x floor': cpuMs === null ? null : round(cpuMs / floor.cpuMs, 2),
        lines: tt?.lines ?? null,
        items: tt?.items ?? null,
        errors: tt?.errors ?? null,
        note,
      });
    };
    const fmtRuns = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(' / ');
    row('floor: decode file, split, parse', floorText, Math.min(...passCpu.text), null, `runs ${fmtRuns(passes.text)} s; gc pauses ${Math.min(...passGc.text)} ms`);
    row('floor: split buffer, decode+parse line', floorBuffer, Math.min(...passCpu.buffer), null, `runs ${fmtRuns(passes.buffer)} s; gc pauses ${Math.min(...passGc.buffer)} ms`);

    const sets: { label: string; processors?: string }[] = [{ label: `default (${registered.join(',')})` }, { label: 'lines', processors: 'lines' }];
    for (const name of registered) if (name !== 'lines') sets.push({ label: name, processors: name });
    if (!registered.includes('lines')) sets.splice(1, 1);

    const runs: Record<string, unknown> = {};
    let defaultDb = '';
    let n = 0;
    const fresh = (kind: string) => path.join(tmp, `${kind}-${n++}.duckdb`);
    for (const [i, set] of sets.entries()) {
      // Best of REPEAT, each on a fresh database; child process and in-process interleaved.
      const clis: ReturnType<typeof runCli>[] = [];
      const ips: ReturnType<typeof runInProc>[] = [];
      // The default set and `lines` are the headline comparisons; single processors run once.
      const reps = i <= 1 ? REPEAT : 1;
      for (let r = 0; r < reps; r++) {
        const db = fresh('cli');
        if (i === 0 && r === 0) defaultDb = db;
        clis.push(runCli(root, db, set.processors));
        ips.push(runInProc(root, fresh('inproc'), set.processors ?? 'all'));
      }
      const cli = clis.reduce((a, b) => (b.ms < a.ms ? b : a));
      const ip = ips.reduce((a, b) => (b.out.run_ms < a.out.run_ms ? b : a));
      const runsOf = (xs: number[]) => (xs.length > 1 ? `runs ${xs.map((x) => (x / 1000).toFixed(2)).join(' / ')} s; ` : '');
      row(`run --once ${set.label}`, cli.ms, cli.cpuMs, cli.summary, `${runsOf(clis.map((c) => c.ms))}child process wall`);
      row(
        `  in-process runOnce ${set.label}`,
        ip.out.run_ms,
        ip.out.run_cpu_ms,
        ip.out.summary,
        `${runsOf(ips.map((x) => x.out.run_ms))}gc pauses ${ip.out.gc_ms} ms; + import ${ip.out.import_ms}, open ${ip.out.open_ms}, close ${ip.out.close_ms} ms`,
      );
      runs[set.label] = {
        cli_ms: Math.round(cli.ms),
        cli_cpu_ms: cli.cpuMs,
        cli_runs_ms: clis.map((c) => Math.round(c.ms)),
        cli_summary: cli.summary,
        inproc: ip.out,
        inproc_runs_ms: ips.map((x) => x.out.run_ms),
      };
      for (const c of clis) {
        for (const [name, p] of Object.entries(c.summary.processors)) {
          if (p.lines !== corpus.lines || p.errors > 0) console.warn(`warning: ${name} saw ${p.lines} lines (corpus has ${corpus.lines}), ${p.errors} errors`);
        }
      }
    }
    results.runs = runs;
    results.cli_startup_ms = Math.round(startupMs);

    printTable(`backfill: ${mb(corpus.bytes).toFixed(1)} MB, ${corpus.files.length} files, ${corpus.lines.toLocaleString('en-US')} lines (goal: run --once <= ${GOAL}x floor)`, rows);
    const main = runs[sets[0].label] as { cli_ms: number; cli_cpu_ms: number | null; inproc: InProc };
    const ratio = main.cli_ms / floor.ms;
    const x = (ms: number) => `${(ms / 1000).toFixed(2)} s = ${(ms / floor.ms).toFixed(2)}x`;
    console.log(
      `\nfloor ${floorS.toFixed(2)} s (${(mb(floor.bytes) / floorS).toFixed(1)} MB/s, cpu ${(floor.cpuMs / 1000).toFixed(2)} s)` +
        `\nrun --once default: ${x(main.cli_ms)} floor; goal <= ${GOAL}x: ${ratio <= GOAL ? 'MET' : 'NOT MET'}` +
        (main.cli_cpu_ms !== null ? ` (cpu ${(main.cli_cpu_ms / 1000).toFixed(2)} s = ${(main.cli_cpu_ms / floor.cpuMs).toFixed(2)}x floor cpu)` : '') +
        `\n  cli start-up, an empty run --once (node, imports, DuckDB open and close): ${x(startupMs)}; in-process runOnce ${x(main.inproc.run_ms)}` +
        `, plus DuckDB open ${main.inproc.open_ms} ms + close ${main.inproc.close_ms} ms`,
    );
    results.ratio = round(ratio, 3);
    results.inproc_ratio = round(main.inproc.run_ms / floor.ms, 3);
    results.goal = GOAL;

    // 5. incremental: append to a fraction of files, re-run on the default database
    const rng = makeRng(SEED + 1);
    const nAppend = Math.max(1, Math.round(corpus.files.length * Number(flags['append-fraction'])));
    const chosen = [...corpus.files];
    for (let i = chosen.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [chosen[i], chosen[j]] = [chosen[j], chosen[i]];
    }
    let appendedBytes = 0;
    let appendedLines = 0;
    for (const f of chosen.slice(0, nAppend)) {
      const a = appendLines(f, int(rng, 3, 40), rng);
      appendedBytes += a.bytes;
      appendedLines += a.lines;
    }
    const inc = runCli(root, defaultDb);
    const noop = runCli(root, defaultDb);
    const incRows: Record<string, Cell>[] = [];
    for (const [label, r] of [['after appends', inc], ['no change', noop]] as const) {
      for (const [name, p] of Object.entries(r.summary.processors)) {
        incRows.push({
          run: label,
          processor: name,
          seconds: round(r.ms / 1000, 2),
          appended_files: p.appended,
          unchanged: p.unchanged,
          lines: p.lines,
          bytes_read: p.bytes_read,
          'bytes appended': label === 'after appends' ? appendedBytes : 0,
          ok: p.bytes_read === (label === 'after appends' ? appendedBytes : 0) ? 'yes' : 'NO',
        });
      }
    }
    printTable(`incremental: appended ${appendedLines} lines / ${appendedBytes.toLocaleString('en-US')} bytes to ${nAppend} of ${corpus.files.length} files`, incRows);
    results.incremental = {
      files: nAppend,
      appended_bytes: appendedBytes,
      appended_lines: appendedLines,
      rerun_ms: Math.round(inc.ms),
      rerun: inc.summary,
      nochange_ms: Math.round(noop.ms),
      nochange: noop.summary,
    };

    // 6. optional: reader batch size sweep (best of REPEAT each)
    if (flags['sweep-batch']) {
      const sweep: Record<string, Cell>[] = [];
      for (const bytes of [8 << 20, 2 << 20, 1 << 20, 256 << 10, 64 << 10]) {
        let best: InProc | null = null;
        for (let r = 0; r < REPEAT; r++) {
          const ip = runInProc(root, fresh('sweep'), 'all', [], ['--batch-bytes', String(bytes)]).out;
          if (!best || ip.run_cpu_ms < best.run_cpu_ms) best = ip;
        }
        sweep.push({
          batchBytes: `${bytes >= MB ? `${bytes / MB} MB` : `${bytes / 1024} KB`}${bytes === 8 << 20 ? ' (default)' : ''}`,
          'run s': round(best!.run_ms / 1000, 2),
          'cpu s': round(best!.run_cpu_ms / 1000, 2),
          'gc pause ms': best!.gc_ms,
          'x floor (wall)': round(best!.run_ms / floor.ms, 2),
        });
      }
      printTable('in-process runOnce (default processors) by reader batchBytes, best cpu of ' + REPEAT, sweep);
      results.sweep_batch = sweep;
    }

    // 7. optional CPU profile of the in-process default run
    if (flags.profile) {
      const profDir = path.join(REPO_ROOT, '.bench', 'prof');
      fs.mkdirSync(profDir, { recursive: true });
      runInProc(root, path.join(tmp, 'prof.duckdb'), 'all', ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=500']);
      const file = newestProfile(profDir);
      if (file) {
        const s = summarizeProfile(file, {
          root: REPO_ROOT,
          top: 15,
          inclusiveOf: STAGES,
        });
        const pct = (x: { name: string; ms: number; share: number }) => ({ name: x.name, ms: round(x.ms, 0), '%': round(x.share * 100, 1) });
        console.log(`\nprofile: ${file} (sampled ${(s.totalMs / 1000).toFixed(2)} s, busy ${(s.busyMs / 1000).toFixed(2)} s)`);
        printTable('top self time by function', s.functions.map(pct));
        printTable('self time by file', s.files.map(pct));
        printTable('inclusive time', s.inclusive.map(pct));
        results.profile = { file, ...s };
      }
    } else if (ratio > GOAL) {
      console.log('\n(over the goal: re-run with --profile for a CPU profile of the in-process run)');
    }

    results.loadavg_end = os.loadavg()[0];
    if (os.loadavg()[0] > os.cpus().length * 0.5) {
      console.log(`\nnote: load average ${os.loadavg()[0].toFixed(2)} on ${os.cpus().length} cpus; other work was running, timings are noisy`);
    }
    const out = writeResult('backfill', results);
    console.log(`\nresults: ${path.relative(process.cwd(), out)}`);
  } finally {
    if (flags.keep) console.log(`kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
