/**
 * Backfill against ccusage 20 (the native Rust build) on the same files: the
 * comparison a user makes, since ccusage is what they would run instead.
 *
 *   npm run bench:vs-ccusage [-- --files 3000 --mb 720 --owners 40 --seed 42 --repeat 3 --corpus DIR --keep]
 *
 * 1. Generates a corpus in Claude Code's own layout, `<dir>/projects/<project>/*.jsonl`
 *    (bench/lib/corpus.ts: heavy-tailed sizes, subagent transcripts in both layouts),
 *    or reuses `--corpus DIR` (which must hold `projects/`).
 * 2. Rounds, alternating on the same warm files (the machine is shared, so only runs
 *    measured side by side compare): ccusage `daily --json --offline`
 *    (CLAUDE_CONFIG_DIR=<dir>), our `run --once --processors usage`, our `run --once` with
 *    the default processors (fresh databases), the single-core JSON.parse floor, and an
 *    empty `run --once` (no files: process start, module loading, DuckDB open/close).
 *    Best of `--repeat` for each.
 * 3. Incremental: append to 5 % of the files, then our `run --once` (default processors,
 *    on the database of the last cold run) and ccusage on the same files, alternating,
 *    best of `--repeat` (each round appends again).
 *
 * Peak RSS and CPU time come from GNU time (`/usr/bin/time -f '%M %U %S'`: the max RSS over
 * the process tree, and user + system seconds of the command and its threads), so the whole
 * process tree is counted; without it both are "-". CPU time is printed next to wall time: on
 * a shared machine wall time mostly measures the others' load (ccusage took 2.3-8.0 s in one
 * run at load 6-8), CPU time much less.
 * Results: stdout and `.bench/vs-ccusage.json`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { generateCorpus, appendLines, makeRng, int } from './lib/corpus.js';
import { printTable, writeResult, REPO_ROOT, MB, mb, round } from './lib/report.js';
import { floorPass } from './lib/floor.js';

const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const GOALS = { usage: 1.0, all: 1.5, rssMb: 400, incremental: 0.1 };
const CCUSAGE_VERSION = '20.0.24';

const { values: flags } = parseArgs({
  options: {
    files: { type: 'string', default: process.env.BENCH_FILES ?? '3000' },
    mb: { type: 'string', default: process.env.BENCH_MB ?? '720' },
    owners: { type: 'string', default: '40' },
    seed: { type: 'string', default: '42' },
    repeat: { type: 'string', default: process.env.BENCH_REPEAT ?? '3' },
    'append-fraction': { type: 'string', default: '0.05' },
    corpus: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const REPEAT = Math.max(1, Number(flags.repeat));

/**
 * The ccusage 20 native binary, or null with the reason. We depend on the native package
 * alone (an optional dependency, pinned): the `ccusage` launcher package lists optional
 * binaries for five other platforms that this registry does not serve (404), and npm ci then
 * rejects any lock file (it lists them as missing). The launcher only spawns this binary.
 */
function findCcusage(): { cli: string; version: string } | { missing: string } {
  const require = createRequire(path.join(REPO_ROOT, 'package.json'));
  try {
    const pkgFile = require.resolve(`@ccusage/ccusage-${process.platform}-${process.arch}/package.json`);
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { version: string };
    const cli = path.join(path.dirname(pkgFile), 'bin', 'ccusage');
    // The package declares no `bin` (the launcher package did), so npm leaves the file without its
    // execute bit: set it, as the launcher's install would have.
    try {
      fs.accessSync(cli, fs.constants.X_OK);
    } catch {
      fs.chmodSync(cli, fs.statSync(cli).mode | 0o111);
    }
    return { cli, version: pkg.version };
  } catch (err) {
    return { missing: (err as Error).message.split('\n')[0] };
  }
}

const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

const childEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SESSION_PIPELINE_') && k !== 'SESSION_ROOT')),
  SESSION_PIPELINE_LOG_LEVEL: 'warn',
  ...extra,
});

interface Run {
  ms: number;
  rssMb: number | null;
  /** User + system CPU of the command (all its threads), ms; null without GNU time. */
  cpuMs: number | null;
  stdout: string;
}

/** Run a command to completion: wall time, and peak RSS of its process tree when GNU time is there. */
function measure(cmd: string[], env: NodeJS.ProcessEnv): Run {
  const rssFile = path.join(os.tmpdir(), `sp-vs-ccusage-rss-${process.pid}`);
  const argv = TIME ? [TIME, '-q', '-f', '%M %U %S', '-o', rssFile, ...cmd] : cmd;
  const t = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env, maxBuffer: 256 * MB });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} exited ${r.status}:\n${r.stderr}`);
  let rssMb: number | null = null;
  let cpuMs: number | null = null;
  if (TIME) {
    const [kb, user, sys] = (fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number);
    rssMb = kb / 1024;
    cpuMs = (user + sys) * 1000;
    fs.rmSync(rssFile, { force: true });
  }
  return { ms, rssMb, cpuMs, stdout: r.stdout };
}

interface Summary {
  processors: Record<string, { lines: number; bytes_read: number; errors: number; quarantined: number }>;
  duration_ms: number;
}

function ours(root: string, db: string, processors?: string): Run & { summary: Summary } {
  const args = [process.execPath, CLI, 'run', '--once', '--json', '--no-progress', '--root', root, '--db', db];
  if (processors) args.push('--processors', processors);
  const r = measure(args, childEnv());
  const summary = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Summary;
  for (const [name, p] of Object.entries(summary.processors)) {
    if (p.errors + p.quarantined > 0) throw new Error(`run --once: ${name} had ${p.errors} errors, ${p.quarantined} quarantined`);
  }
  return { ...r, summary };
}

interface CcusageTotals {
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
  totalCost: number;
}

function ccusage(cli: string, dir: string): Run & { totals: CcusageTotals } {
  const r = measure([cli, 'daily', '--json', '--offline'], childEnv({ CLAUDE_CONFIG_DIR: dir }));
  const out = JSON.parse(r.stdout) as { totals: CcusageTotals };
  return { ...r, totals: out.totals };
}

function listJsonl(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.jsonl')) out.push(path.join(e.parentPath, e.name));
  }
  return out.sort();
}

const best = (xs: number[]) => Math.min(...xs);
const maxOf = (xs: (number | null)[]) => (xs.some((x) => x === null) ? null : Math.max(...(xs as number[])));
const s = (ms: number) => round(ms / 1000, 2);
const ratio = (a: number, b: number) => round(a / b, 2);
const verdict = (ok: boolean) => (ok ? 'met' : 'not met');
const nullS = (ms: number | null) => (ms === null ? null : s(ms));

async function main(): Promise<void> {
  const cc = findCcusage();
  if ('missing' in cc) {
    console.error(
      `bench:vs-ccusage: ccusage is missing (${cc.missing}).\n` +
        `It is the pinned optional dependency @ccusage/ccusage-${process.platform}-${process.arch}@${CCUSAGE_VERSION} ` +
        `(ccusage ${CCUSAGE_VERSION}'s native build; published for linux, darwin and win32): run \`npm ci\`.`,
    );
    process.exit(1);
  }
  if (cc.version !== CCUSAGE_VERSION) console.warn(`warning: ccusage ${cc.version} installed, the bench is pinned to ${CCUSAGE_VERSION}`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-vs-ccusage-'));
  const dir = flags.corpus ? path.resolve(flags.corpus) : path.join(tmp, 'claude');
  const root = path.join(dir, 'projects');
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    ccusage: cc.version,
    loadavg_start: fs.readFileSync('/proc/loadavg', 'utf8').trim(),
  };
  try {
    let t = performance.now();
    let files: string[];
    if (flags.corpus && fs.existsSync(root)) files = listJsonl(root);
    else files = generateCorpus(root, { files: Number(flags.files), totalBytes: Math.round(Number(flags.mb) * MB), owners: Number(flags.owners), seed: Number(flags.seed) }).files;
    const sizes = files.map((f) => fs.statSync(f).size).sort((a, b) => a - b);
    const bytes = sizes.reduce((a, b) => a + b, 0);
    const q = (p: number) => sizes[Math.min(sizes.length - 1, Math.floor(p * sizes.length))];
    console.log(
      `corpus: ${files.length} files, ${mb(bytes).toFixed(1)} MB in ${root} (${s(performance.now() - t)} s); ` +
        `sizes p50 ${(q(0.5) / 1024).toFixed(0)} KB, p90 ${(q(0.9) / 1024).toFixed(0)} KB, p99 ${(q(0.99) / MB).toFixed(1)} MB, max ${(sizes[sizes.length - 1] / MB).toFixed(1)} MB`,
    );
    results.corpus = { files: files.length, bytes, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: sizes[sizes.length - 1] };
    console.log(`load average at start: ${results.loadavg_start} (${os.cpus().length} cores)`);
    for (const f of files) fs.readFileSync(f); // warm the page cache for everyone alike

    const emptyRoot = path.join(tmp, 'empty');
    fs.mkdirSync(emptyRoot, { recursive: true });
    const rounds = { ccusage: [] as Run[], usage: [] as Run[], all: [] as Run[], floor: [] as number[], empty: [] as Run[] };
    let lastDb = '';
    let ccTotals: CcusageTotals | null = null;
    for (let r = 0; r < REPEAT; r++) {
      const c = ccusage(cc.cli, dir);
      ccTotals = c.totals;
      rounds.ccusage.push(c);
      const dbU = path.join(tmp, `usage-${r}.duckdb`);
      rounds.usage.push(ours(root, dbU, 'usage'));
      lastDb = path.join(tmp, `all-${r}.duckdb`);
      rounds.all.push(ours(root, lastDb));
      // The buffer split, as this bench always measured it (lib/floor.ts).
      const f = await floorPass(files, 'buffer');
      rounds.floor.push(f.ms);
      rounds.empty.push(ours(emptyRoot, path.join(tmp, `empty-${r}.duckdb`)));
      if (r < REPEAT - 1) {
        for (const x of [dbU, path.join(tmp, `all-${r}.duckdb`)]) fs.rmSync(x, { force: true });
      } else fs.rmSync(dbU, { force: true });
      console.log(
        `round ${r + 1}: ccusage ${s(c.ms)} s (CPU ${nullS(c.cpuMs)} s), usage ${s(rounds.usage[r].ms)} s (CPU ${nullS(rounds.usage[r].cpuMs)} s), ` +
          `default ${s(rounds.all[r].ms)} s (CPU ${nullS(rounds.all[r].cpuMs)} s), floor ${s(f.ms)} s, empty ${s(rounds.empty[r].ms)} s; ` +
          `load ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
      );
    }

    // Incremental: append to a fraction of the files, alternate ours (on the last cold database) with ccusage.
    const rng = makeRng(Number(flags.seed) + 1);
    const nAppend = Math.max(1, Math.round(files.length * Number(flags['append-fraction'])));
    const incr = { ours: [] as Run[], ccusage: [] as Run[], appended: [] as number[], read: [] as number[] };
    for (let r = 0; r < REPEAT; r++) {
      const chosen = new Set<string>();
      while (chosen.size < nAppend) chosen.add(files[int(rng, 0, files.length - 1)]);
      let appended = 0;
      for (const f of chosen) appended += appendLines(f, int(rng, 2, 12), rng).bytes;
      const o = ours(root, lastDb);
      const c = ccusage(cc.cli, dir);
      incr.ours.push(o);
      incr.ccusage.push(c);
      incr.appended.push(appended);
      incr.read.push(Math.max(...Object.values(o.summary.processors).map((p) => p.bytes_read)));
      console.log(`incremental ${r + 1}: ${nAppend} files, ${appended.toLocaleString('en-US')} bytes appended; ours ${s(o.ms)} s, ccusage ${s(c.ms)} s`);
    }

    const cc1 = best(rounds.ccusage.map((x) => x.ms));
    const u = best(rounds.usage.map((x) => x.ms));
    const a = best(rounds.all.map((x) => x.ms));
    const rss = {
      ccusage: maxOf(rounds.ccusage.map((x) => x.rssMb)),
      usage: maxOf(rounds.usage.map((x) => x.rssMb)),
      all: maxOf(rounds.all.map((x) => x.rssMb)),
    };
    const incOurs = best(incr.ours.map((x) => x.ms));
    const incCc = best(incr.ccusage.map((x) => x.ms));
    const cpu = (xs: Run[]) => (xs.some((x) => x.cpuMs === null) ? null : best(xs.map((x) => x.cpuMs!)));
    const cc1Cpu = cpu(rounds.ccusage);
    const row = (name: string, ms: number, rssMb: number | null, goal: string, met: string, cpuMs: number | null = null) => ({
      command: name,
      's (best)': s(ms),
      'vs ccusage': ratio(ms, cc1),
      'CPU s (best)': cpuMs === null ? null : s(cpuMs),
      'CPU vs ccusage': cpuMs === null || cc1Cpu === null ? null : ratio(cpuMs, cc1Cpu),
      'peak RSS MB': rssMb === null ? null : round(rssMb, 0),
      goal,
      met,
    });
    const rssOk = (x: number | null) => x !== null && x <= GOALS.rssMb;
    printTable(`cold backfill, best of ${REPEAT} (alternating, same files)`, [
      row(`ccusage ${cc.version} daily --json --offline`, cc1, rss.ccusage, '', '', cc1Cpu),
      row('run --once --processors usage', u, rss.usage, `<= ${GOALS.usage}x, <= ${GOALS.rssMb} MB`, `${verdict(u <= GOALS.usage * cc1)} / ${verdict(rssOk(rss.usage))}`, cpu(rounds.usage)),
      row('run --once (default processors)', a, rss.all, `<= ${GOALS.all}x, <= ${GOALS.rssMb} MB`, `${verdict(a <= GOALS.all * cc1)} / ${verdict(rssOk(rss.all))}`, cpu(rounds.all)),
      row('JSON.parse floor, one core (reference)', best(rounds.floor), null, '', ''),
      row('empty run --once (reference)', best(rounds.empty.map((x) => x.ms)), maxOf(rounds.empty.map((x) => x.rssMb)), '', '', cpu(rounds.empty)),
    ]);
    printTable(`incremental re-run after appending to ${nAppend} files (${round(Number(flags['append-fraction']) * 100, 1)} %), best of ${REPEAT}`, [
      { command: `ccusage ${cc.version} (re-reads everything)`, 's (best)': s(incCc), ratio: 1, 'CPU s (best)': nullS(cpu(incr.ccusage)), goal: '', met: '' },
      {
        command: 'run --once (default processors)',
        's (best)': s(incOurs),
        ratio: ratio(incOurs, incCc),
        'CPU s (best)': nullS(cpu(incr.ours)),
        goal: `<= ${GOALS.incremental}x`,
        met: verdict(incOurs <= GOALS.incremental * incCc),
      },
    ]);
    console.log(`bytes read by the incremental runs: ${incr.read.join(', ')} (appended: ${incr.appended.join(', ')})`);
    if (ccTotals) {
      console.log(
        `ccusage totals (for reference): input ${ccTotals.inputTokens}, output ${ccTotals.outputTokens}, ` +
          `cache creation ${ccTotals.cacheCreationTokens}, cache read ${ccTotals.cacheReadTokens}, cost $${round(ccTotals.totalCost, 2)}`,
      );
    }
    results.loadavg_end = fs.readFileSync('/proc/loadavg', 'utf8').trim();
    console.log(`load average at end: ${results.loadavg_end}`);
    Object.assign(results, {
      cold_ms: {
        ccusage: rounds.ccusage.map((x) => Math.round(x.ms)),
        usage: rounds.usage.map((x) => Math.round(x.ms)),
        all: rounds.all.map((x) => Math.round(x.ms)),
        floor: rounds.floor.map(Math.round),
        empty: rounds.empty.map((x) => Math.round(x.ms)),
      },
      rss_mb: rss,
      cpu_ms: {
        ccusage: rounds.ccusage.map((x) => x.cpuMs),
        usage: rounds.usage.map((x) => x.cpuMs),
        all: rounds.all.map((x) => x.cpuMs),
        empty: rounds.empty.map((x) => x.cpuMs),
        incremental_ours: incr.ours.map((x) => x.cpuMs),
        incremental_ccusage: incr.ccusage.map((x) => x.cpuMs),
      },
      ratios: { usage: ratio(u, cc1), all: ratio(a, cc1), incremental: ratio(incOurs, incCc) },
      incremental: { files: nAppend, ours_ms: incr.ours.map((x) => Math.round(x.ms)), ccusage_ms: incr.ccusage.map((x) => Math.round(x.ms)), appended: incr.appended, read: incr.read },
      ccusage_totals: ccTotals,
    });
    console.log(`\nresults: ${writeResult('vs-ccusage', results)}`);
  } finally {
    if (flags.keep) console.log(`kept ${tmp}`);
    else {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
}

await main();
