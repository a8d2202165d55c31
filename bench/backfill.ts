/**
 * Backfill benchmark: how close is `run --once` to the cost of just reading
 * and parsing the corpus?
 *
 *   npm run bench:backfill [-- --files 320 --mb 84 --seed 42 --profile --keep]
 *   (env: BENCH_FILES, BENCH_MB, BENCH_SEED, BENCH_OWNERS, BENCH_PROFILE=1)
 *
 * 1. Generates a realistic corpus (heavy-tailed sizes) in a temp dir.
 * 2. Floor: one process reads every file and JSON.parses every line (best of 2, warm cache).
 * 3. `run --once --json` as a child process: default processors, then each registered one alone.
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

const GOAL = 1.5;
const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const INPROC = path.join(REPO_ROOT, 'dist', 'bench', 'inproc.js');

const { values: flags } = parseArgs({
  options: {
    files: { type: 'string', default: process.env.BENCH_FILES ?? '320' },
    mb: { type: 'string', default: process.env.BENCH_MB ?? '84' },
    owners: { type: 'string', default: process.env.BENCH_OWNERS ?? '12' },
    seed: { type: 'string', default: process.env.BENCH_SEED ?? '42' },
    'append-fraction': { type: 'string', default: '0.05' },
    profile: { type: 'boolean', default: process.env.BENCH_PROFILE === '1' },
    keep: { type: 'boolean', default: false },
  },
});
const FILES = Number(flags.files);
const TOTAL = Math.round(Number(flags.mb) * MB);
const SEED = Number(flags.seed);

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

function spawnJson<T>(args: string[], nodeFlags: string[] = []): { ms: number; out: T } {
  const t = performance.now();
  const r = spawnSync(process.execPath, [...nodeFlags, ...args], { encoding: 'utf8', env: childEnv, maxBuffer: 64 * MB });
  const ms = performance.now() - t;
  if (r.status !== 0) {
    throw new Error(`${path.basename(args[0])} ${args.slice(1).join(' ')} exited ${r.status}:\n${r.stderr}`);
  }
  if (r.stderr.trim()) process.stderr.write(r.stderr);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return { ms, out: JSON.parse(last) as T };
}

function runCli(root: string, db: string, processors?: string): { ms: number; summary: Summary } {
  const args = [CLI, 'run', '--once', '--json', '--no-progress', '--root', root, '--db', db];
  if (processors) args.push('--processors', processors);
  const { ms, out } = spawnJson<Summary>(args);
  return { ms, summary: out };
}

interface InProc {
  import_ms: number;
  open_ms: number;
  run_ms: number;
  close_ms: number;
  summary: Summary;
}

function runInProc(root: string, db: string, processors = 'all', nodeFlags: string[] = []): { ms: number; out: InProc } {
  return spawnJson<InProc>([INPROC, '--root', root, '--db', db, '--processors', processors], nodeFlags);
}

/** Read every file and JSON.parse every line: the floor any pipeline pays. */
function floorPass(files: string[]): { ms: number; bytes: number; lines: number } {
  const t = performance.now();
  let bytes = 0;
  let lines = 0;
  let keys = 0;
  for (const f of files) {
    const buf = fs.readFileSync(f);
    bytes += buf.length;
    const text = buf.toString('utf8');
    for (const l of text.split('\n')) {
      if (l === '') continue;
      const v = JSON.parse(l) as Record<string, unknown>;
      if (v.type !== undefined) keys++;
      lines++;
    }
  }
  const ms = performance.now() - t;
  if (keys < 0) console.log(keys); // keep the parse observable
  return { ms, bytes, lines };
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
    console.log(`processors registered: ${registered.join(', ')}`);
    results.corpus = { files: corpus.files.length, bytes: corpus.bytes, lines: corpus.lines, gen_ms: Math.round(genMs), p50: q(0.5), p90: q(0.9), max: sizes[sizes.length - 1] };

    // 2. floor (warm cache, best of 2)
    warmUp(corpus.files);
    const floors = [floorPass(corpus.files), floorPass(corpus.files)];
    const floor = floors.reduce((a, b) => (b.ms < a.ms ? b : a));
    if (floor.lines !== corpus.lines) throw new Error(`floor saw ${floor.lines} lines, corpus has ${corpus.lines}`);
    const floorS = floor.ms / 1000;
    results.floor = { ms: Math.round(floor.ms), runs_ms: floors.map((f) => Math.round(f.ms)), mb_s: round(mb(floor.bytes) / floorS) };

    // CLI startup alone (module load, no DuckDB): to read the child-process numbers against.
    t = performance.now();
    spawnSync(process.execPath, [CLI, '--version'], { env: childEnv });
    const startupMs = performance.now() - t;

    // 3 + 4. full runs on fresh databases
    const rows: Record<string, Cell>[] = [];
    const row = (run: string, ms: number, s: Summary | null, note = '') => {
      const tt = s ? totals(s) : null;
      rows.push({
        run,
        seconds: round(ms / 1000, 2),
        'MB/s': round(mb(corpus.bytes) / (ms / 1000), 1),
        'x floor': round(ms / floor.ms, 2),
        lines: tt?.lines ?? null,
        items: tt?.items ?? null,
        errors: tt?.errors ?? null,
        note,
      });
    };
    row('floor (read + JSON.parse)', floor.ms, null, `best of ${floors.map((f) => (f.ms / 1000).toFixed(2)).join(' / ')} s`);

    const sets: { label: string; processors?: string }[] = [{ label: `default (${registered.join(',')})` }, { label: 'lines', processors: 'lines' }];
    for (const name of registered) if (name !== 'lines') sets.push({ label: name, processors: name });
    if (!registered.includes('lines')) sets.splice(1, 1);

    const runs: Record<string, unknown> = {};
    let defaultDb = '';
    for (const [i, set] of sets.entries()) {
      const db = path.join(tmp, `cli-${i}.duckdb`);
      if (i === 0) defaultDb = db;
      const cli = runCli(root, db, set.processors);
      row(`run --once ${set.label}`, cli.ms, cli.summary, `child process; summary duration ${(cli.summary.duration_ms / 1000).toFixed(2)} s`);
      const inDb = path.join(tmp, `inproc-${i}.duckdb`);
      const ip = runInProc(root, inDb, set.processors ?? 'all');
      row(`  in-process ${set.label}`, ip.out.run_ms, ip.out.summary, `runOnce only; open ${ip.out.open_ms} ms, close ${ip.out.close_ms} ms, import ${ip.out.import_ms} ms`);
      runs[set.label] = { cli_ms: Math.round(cli.ms), cli_summary: cli.summary, inproc: ip.out, inproc_wall_ms: Math.round(ip.ms) };
      for (const [name, p] of Object.entries(cli.summary.processors)) {
        if (p.lines !== corpus.lines) console.warn(`warning: ${name} saw ${p.lines} lines, corpus has ${corpus.lines}`);
      }
    }
    results.runs = runs;
    results.cli_startup_ms = Math.round(startupMs);

    printTable(`backfill: ${mb(corpus.bytes).toFixed(1)} MB, ${corpus.files.length} files, ${corpus.lines.toLocaleString('en-US')} lines (goal: run --once <= ${GOAL}x floor)`, rows);
    const main = runs[sets[0].label] as { cli_ms: number; inproc: InProc };
    const ratio = main.cli_ms / floor.ms;
    console.log(
      `\nfloor ${floorS.toFixed(2)} s (${(mb(floor.bytes) / floorS).toFixed(1)} MB/s); run --once (default) ${(main.cli_ms / 1000).toFixed(2)} s = ${ratio.toFixed(2)}x floor ` +
        `(in-process runOnce ${(main.inproc.run_ms / 1000).toFixed(2)} s = ${(main.inproc.run_ms / floor.ms).toFixed(2)}x); goal <= ${GOAL}x: ${ratio <= GOAL ? 'MET' : 'NOT MET'}` +
        `\n(cli --version alone: ${(startupMs / 1000).toFixed(2)} s)`,
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

    // 6. optional CPU profile of the in-process default run
    if (flags.profile) {
      const profDir = path.join(REPO_ROOT, '.bench', 'prof');
      fs.mkdirSync(profDir, { recursive: true });
      runInProc(root, path.join(tmp, 'prof.duckdb'), 'all', ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=500']);
      const file = newestProfile(profDir);
      if (file) {
        const s = summarizeProfile(file, {
          root: REPO_ROOT,
          top: 15,
          inclusiveOf: [/^readBatches$/, /^parseFrame$/, /^push$/, /^probeFingerprints$/, /^process$/, /^apply$/, /^appendRows$/, /^walkRoot$/, /^stageFile$/],
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

    const out = writeResult('backfill', results);
    console.log(`\nresults: ${path.relative(process.cwd(), out)}`);
  } finally {
    if (flags.keep) console.log(`kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
