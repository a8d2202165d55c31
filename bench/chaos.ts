/**
 * Chaos: SIGKILL the watch daemon at random moments under live load, and
 * check that what it ends up with equals a clean `run --once`.
 *
 *   npm run bench:chaos [-- --kills 50 --writers 100 --files 150 --mb 40 --seed 7 --processors lines,usage --keep]
 *
 * 1. Generates a corpus (bench/lib/corpus.ts) and starts a writer that appends
 *    realistic lines to `--writers` files, some in two pieces (a partial line
 *    completed on a later tick).
 * 2. Runs the daemon (`session-pipeline watch`, a real child process) and kills
 *    it with SIGKILL after a random 0.2 to 3 s, `--kills` times, restarting it
 *    each time. Startup, initial scan, catch-up and live tailing all get hit.
 * 3. Stops the writer (completing partial lines), copies the root, restarts the
 *    daemon and lets it settle: quiet for a while after a rescan, then SIGTERM.
 * 4. Runs `run --once` on the copy with a fresh database and compares, table by
 *    table, every processor's outputs, the bad-line journal and the
 *    checkpoints (offset, fingerprints, size, line counts, status).
 *
 * Prints kills survived, lines and mismatches (goal: 0); writes `.bench/chaos.json`.
 * `runChaos` is also run with small parameters by test/reliability/chaos.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { contextFromFile, generateCorpus, makeRng, sessionLines, type Rng } from './lib/corpus.js';
import { openStoreReader, storeKeys, type StoreReader } from './lib/store.js';
import { loadConfig } from '../src/config/config.js';
import { selectProcessors } from '../pipelines/index.js';
import { REPO_ROOT } from './lib/report.js';

const REPO = REPO_ROOT;
const CLI = path.join(REPO, 'dist', 'src', 'cli', 'main.js');
const MB = 1024 * 1024;

export interface ChaosOptions {
  kills: number;
  /** Files the writer appends to. */
  writers: number;
  /** Corpus files (at least `writers`). */
  files: number;
  /** Corpus size before the writer starts. */
  mb: number;
  seed: number;
  processors: string[];
  /** Range of the daemon's life before each SIGKILL, measured from spawn. */
  minUpMs: number;
  maxUpMs: number;
  /** Writer: one tick every this many ms, appending to `perTick` files. */
  tickMs: number;
  perTick: number;
  /** Keep the temp directory. */
  keep: boolean;
  /** The daemon's store (`--db`): default a DuckDB file in the temp directory; a PostgreSQL URL names an empty database. */
  db?: string;
  /** The clean reference run's store, of the same kind as `db` (another empty database on PostgreSQL). */
  cleanDb?: string;
  log: (line: string) => void;
}

export const DEFAULT_CHAOS: ChaosOptions = {
  kills: 50,
  writers: 100,
  files: 150,
  mb: 40,
  seed: 7,
  processors: ['lines', 'usage'],
  minUpMs: 200,
  maxUpMs: 3000,
  tickMs: 20,
  perTick: 3,
  keep: false,
  log: (l) => process.stderr.write(l + '\n'),
};

export interface ChaosResult {
  kills: number;
  /** Kills that landed (the daemon was still running when SIGKILL came). */
  killsLanded: number;
  /** Daemon runs that died on their own (never expected). */
  unexpectedExits: string[];
  /** Error/fatal log lines from the daemons. */
  errorLogs: string[];
  files: number;
  corpusLines: number;
  linesWritten: number;
  bytesWritten: number;
  /** Complete lines in the final files. */
  finalLines: number;
  finalBytes: number;
  settleRounds: number;
  caughtUp: boolean;
  /** Per table: rows in the reference, rows only in one or the other, and up to 3 of each (columns as JSON arrays) to look at. */
  comparedTables: { table: string; rows: number; onlyChaos: number; onlyClean: number; examples?: { columns: string[]; onlyChaos: string[]; onlyClean: string[] } }[];
  mismatches: number;
  durationMs: number;
  dir: string;
}

/** Child env without the user's pipeline settings, so only our flags count. */
function childEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SESSION_PIPELINE_') && k !== 'SESSION_ROOT'));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Appends realistic lines to a fixed set of files; sometimes a line in two writes. */
export class Writer {
  private readonly gens = new Map<string, Generator<string>>();
  private readonly partial = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  lines = 0;
  bytes = 0;

  constructor(
    private readonly files: string[],
    private readonly rng: Rng,
    private readonly opts: ChaosOptions,
  ) {}

  private gen(file: string): Generator<string> {
    let g = this.gens.get(file);
    if (!g) {
      g = sessionLines(this.rng, contextFromFile(file, this.rng), { maxResult: 8 * 1024 });
      this.gens.set(file, g);
    }
    return g;
  }

  private write(file: string, text: string): void {
    fs.appendFileSync(file, text);
    this.bytes += Buffer.byteLength(text);
  }

  tick(): void {
    for (let k = 0; k < this.opts.perTick; k++) {
      const file = this.files[Math.floor(this.rng() * this.files.length)];
      const rest = this.partial.get(file);
      if (rest !== undefined) {
        this.write(file, rest);
        this.partial.delete(file);
        continue;
      }
      const n = 1 + Math.floor(this.rng() * 3);
      const g = this.gen(file);
      let text = '';
      for (let i = 0; i < n; i++) text += g.next().value + '\n';
      this.lines += n;
      if (this.rng() < 0.15) {
        // Half a line now, the rest on a later tick: the daemon must never commit past the last `\n`.
        const buf = Buffer.from(text);
        const cut = 1 + Math.floor(this.rng() * (buf.length - 1));
        this.write(file, buf.subarray(0, cut).toString('latin1'));
        this.partial.set(file, buf.subarray(cut).toString('latin1'));
      } else {
        this.write(file, text);
      }
    }
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.opts.tickMs);
  }

  /** Stop, and complete every partial line. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const [file, rest] of this.partial) this.write(file, rest);
    this.partial.clear();
  }
}

export interface DaemonRun {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** When it logged 'watching' (its signal handlers are installed), or null. */
  watchingAt: number | null;
  lastCommitAt: number;
  stderrTail: string[];
}

/** `watch` as a child process; `onLine` sees each line it logs (pino JSON on stderr). */
export function startDaemon(root: string, db: string, opts: ChaosOptions, errorLogs: string[], onLine?: (line: string) => void): DaemonRun {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'watch',
      '--root', root,
      '--db', db,
      '--processors', opts.processors.join(','),
      '--quiet-ms', '50',
      '--max-wait-ms', '300',
      '--rescan-interval-ms', '1000',
      '--drain-timeout-ms', '2000',
      '--admin-port', '0',
      '--log-level', 'info',
    ],
    { env: childEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const run: DaemonRun = {
    child,
    exited: new Promise((res) => child.on('exit', (code, signal) => res({ code, signal }))),
    watchingAt: null,
    lastCommitAt: Date.now(),
    stderrTail: [],
  };
  let buf = '';
  child.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      run.stderrTail.push(line);
      if (run.stderrTail.length > 20) run.stderrTail.shift();
      if (line.includes('"msg":"committed"')) run.lastCommitAt = Date.now();
      else if (line.includes('"msg":"watching"')) run.watchingAt = Date.now();
      if (/"level":(50|60)/.test(line)) errorLogs.push(line.slice(0, 500));
      onLine?.(line);
    }
  });
  return run;
}

/** Every complete line of the final files (the writer ends every file with `\n`). */
export function countLines(files: string[]): { lines: number; bytes: number; complete: Map<string, number> } {
  let lines = 0;
  let bytes = 0;
  const complete = new Map<string, number>();
  for (const f of files) {
    const b = fs.readFileSync(f);
    let n = 0;
    for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
    lines += n;
    bytes += b.length;
    complete.set(f, b.lastIndexOf(10) + 1);
  }
  return { lines, bytes, complete };
}

const VOLATILE = new Set(['updated_at', 'seen_at', 'processed_at', 'created_at', 'applied_at']);

/** One row as a comparable string: the same values give the same text on one store. */
const rowKey = (r: Record<string, unknown>, cols: string[]) =>
  JSON.stringify(cols.map((c) => {
    const v = r[c];
    return typeof v === 'bigint' ? v.toString() : v instanceof Date ? v.toISOString() : v;
  }));

/**
 * Rows in one table and not the other, both ways, over the stable columns, as multisets (EXCEPT ALL,
 * done here so that the two databases need not be attached to one another: it works on either store).
 */
async function compareTables(chaos: StoreReader, clean: StoreReader, tables: { name: string; columns: string[] }[]): Promise<ChaosResult['comparedTables']> {
  const out: ChaosResult['comparedTables'] = [];
  for (const t of tables) {
    const cols = t.columns.filter((c) => !VOLATILE.has(c));
    const sql = `SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM "${t.name}"`;
    const counts = new Map<string, number>();
    const cleanRows = await clean.all(sql);
    for (const r of cleanRows) {
      const k = rowKey(r, cols);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    let onlyChaos = 0;
    const examples = { columns: cols, onlyChaos: [] as string[], onlyClean: [] as string[] };
    for (const r of await chaos.all(sql)) {
      const k = rowKey(r, cols);
      const n = counts.get(k) ?? 0;
      if (n === 0) {
        onlyChaos++;
        if (examples.onlyChaos.length < 3) examples.onlyChaos.push(k);
      } else counts.set(k, n - 1);
    }
    let onlyClean = 0;
    for (const [k, n] of counts) {
      onlyClean += n;
      if (n > 0 && examples.onlyClean.length < 3) examples.onlyClean.push(k);
    }
    out.push({ table: t.name, rows: cleanRows.length, onlyChaos, onlyClean, ...(onlyChaos + onlyClean > 0 ? { examples } : {}) });
  }
  return out;
}

/**
 * Every processor's outputs, the bad-line journal and the checkpoints of store `db` against those of
 * `cleanDb` (same kind), table by table: rows only in one or the other, over the stable columns.
 */
export async function compareStores(db: string, cleanDb: string, processors: readonly { tables: readonly { name: string; pending?: boolean; columns: readonly { name: string }[] }[] }[]): Promise<ChaosResult['comparedTables']> {
  const chaosStore = await openStoreReader(db);
  const cleanStore = await openStoreReader(cleanDb).catch(async (err) => {
    await chaosStore.close();
    throw err;
  });
  try {
    const tables = [
      // Pending bookkeeping (noted keys a fold has not taken yet) is not an output.
      ...processors.flatMap((p) => p.tables.filter((t) => !t.pending).map((t) => ({ name: t.name, columns: t.columns.map((c) => c.name) }))),
      { name: 'session_bad_lines', columns: ['processor_name', 'session_file', 'offset', 'length', 'kind', 'detail'] },
      {
        name: 'session_processor_state',
        columns: ['processor_name', 'session_file', 'owner', 'offset', 'head_hash', 'tail_hash', 'size', 'lines_processed', 'bad_lines', 'processor_version', 'status', 'attempts', 'carry'],
      },
    ];
    return await compareTables(chaosStore, cleanStore, tables);
  } finally {
    await chaosStore.close();
    await cleanStore.close();
  }
}

/** A clean `run --once` of `processors` from `root` into `db` (a child process). */
export async function cliOnce(root: string, db: string, processors: string[]): Promise<void> {
  const child = spawn(process.execPath, [CLI, 'run', '--once', '--json', '--no-progress', '--root', root, '--db', db, '--processors', processors.join(','), '--log-level', 'warn'], {
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.resume();
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  if (code !== 0) throw new Error(`run --once on the copy exited ${code}: ${stderr}`);
}

export async function runChaos(partial: Partial<ChaosOptions> = {}): Promise<ChaosResult> {
  const opts: ChaosOptions = { ...DEFAULT_CHAOS, ...partial };
  const started = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-chaos-'));
  const root = path.join(dir, 'root');
  const db = opts.db ?? path.join(dir, 'chaos.duckdb');
  const rng = makeRng(opts.seed);
  const log = opts.log;
  const errorLogs: string[] = [];
  const unexpectedExits: string[] = [];
  const unexpected = (what: string) => {
    unexpectedExits.push(what);
    log(`chaos: UNEXPECTED ${what}`);
  };
  let current: DaemonRun | null = null;
  try {
    fs.mkdirSync(root);
    const corpus = generateCorpus(root, { files: Math.max(opts.files, opts.writers), totalBytes: opts.mb * MB, owners: 8, seed: opts.seed });
    const shuffled = corpus.files.slice();
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    const targets = shuffled.slice(0, opts.writers);
    log(`chaos: ${corpus.files.length} files, ${(corpus.bytes / MB).toFixed(1)} MB, ${corpus.lines} lines; writer on ${targets.length} files; ${opts.kills} kills`);

    const writer = new Writer(targets, rng, opts);
    writer.start();
    let landed = 0;
    for (let i = 1; i <= opts.kills; i++) {
      current = startDaemon(root, db, opts, errorLogs);
      const up = opts.minUpMs + Math.floor(rng() * (opts.maxUpMs - opts.minUpMs));
      const res = await Promise.race([current.exited, sleep(up).then(() => null)]);
      if (res) {
        unexpected(`run ${i}: exited ${res.code ?? res.signal} before the kill: ${current.stderrTail.slice(-3).join(' | ')}`);
      } else {
        current.child.kill('SIGKILL');
        const r = await current.exited;
        if (r.signal === 'SIGKILL') landed++;
        else unexpected(`run ${i}: exited ${r.code ?? r.signal} instead of dying by SIGKILL`);
      }
      current = null;
      if (i % 10 === 0 || i === opts.kills) log(`chaos: ${i}/${opts.kills} kills (${landed} landed), ${writer.lines} lines written`);
    }
    writer.stop();
    const copy = path.join(dir, 'copy');
    fs.cpSync(root, copy, { recursive: true });
    const final = countLines(corpus.files);

    // Settle: restart, wait past a rescan (1 s period) and for a quiet spell (no commit for 2.5 s),
    // stop gracefully, then check every checkpoint is at the end of its file.
    let settleRounds = 0;
    let caughtUp = false;
    const processors = selectProcessors(loadConfig({ root, db, processors: opts.processors.join(',') }, {}));
    while (!caughtUp && settleRounds < 5) {
      settleRounds++;
      const t0 = Date.now();
      current = startDaemon(root, db, opts, errorLogs);
      const deadline = t0 + 180_000;
      for (;;) {
        await sleep(250);
        // Up (signal handlers installed), past a rescan (1 s period), and no commit for 2.5 s.
        const w = current.watchingAt;
        const quiet = w !== null && Date.now() - Math.max(current.lastCommitAt, w) > 2500;
        if ((quiet && Date.now() - w! > 3000) || Date.now() > deadline) break;
        if (current.child.exitCode !== null) break;
      }
      current.child.kill('SIGTERM');
      const r = await current.exited;
      if (r.code !== 0) unexpected(`settle round ${settleRounds}: exited ${r.code ?? r.signal}: ${current.stderrTail.slice(-3).join(' | ')}`);
      current = null;
      const check = await openStoreReader(db);
      try {
        const rows = await check
          .all<{ processor_name: string; session_file: string; offset: number }>('SELECT processor_name, session_file, "offset" FROM session_processor_state')
          .catch(() => []);
        // The daemons' keys, as the store holds them (qualified by the default source on PostgreSQL).
        const keys = storeKeys(db);
        const got = new Map(rows.map((r) => [`${r.processor_name}\u0000${keys.local(r.session_file)}`, Number(r.offset)]));
        caughtUp = processors.every((p) =>
          corpus.files.every((f) => got.get(`${p.name}\u0000${path.relative(root, f).split(path.sep).join('/')}`) === final.complete.get(f)),
        );
      } finally {
        await check.close();
      }
      log(`chaos: settle round ${settleRounds}: ${caughtUp ? 'caught up' : 'behind'}`);
    }

    // The reference: a clean run --once on the copy, into a store of the same kind.
    const cleanDb = opts.cleanDb ?? path.join(dir, 'clean.duckdb');
    await cliOnce(copy, cleanDb, opts.processors);
    const compared = await compareStores(db, cleanDb, processors);
    const mismatches = compared.reduce((n, t) => n + t.onlyChaos + t.onlyClean, 0);
    return {
      kills: opts.kills,
      killsLanded: landed,
      unexpectedExits,
      errorLogs: errorLogs.slice(0, 50),
      files: corpus.files.length,
      corpusLines: corpus.lines,
      linesWritten: writer.lines,
      bytesWritten: writer.bytes,
      finalLines: final.lines,
      finalBytes: final.bytes,
      settleRounds,
      caughtUp,
      comparedTables: compared,
      mismatches,
      durationMs: Date.now() - started,
      dir,
    };
  } finally {
    if (current && current.child.exitCode === null) current.child.kill('SIGKILL');
    if (!opts.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kills: { type: 'string', default: String(DEFAULT_CHAOS.kills) },
      writers: { type: 'string', default: String(DEFAULT_CHAOS.writers) },
      files: { type: 'string', default: String(DEFAULT_CHAOS.files) },
      mb: { type: 'string', default: String(DEFAULT_CHAOS.mb) },
      seed: { type: 'string', default: String(DEFAULT_CHAOS.seed) },
      processors: { type: 'string', default: DEFAULT_CHAOS.processors.join(',') },
      keep: { type: 'boolean', default: false },
    },
  });
  const r = await runChaos({
    kills: Number(values.kills),
    writers: Number(values.writers),
    files: Number(values.files),
    mb: Number(values.mb),
    seed: Number(values.seed),
    processors: values.processors!.split(',').map((s) => s.trim()).filter(Boolean),
    keep: values.keep,
  });
  const out = [
    `kills survived: ${r.killsLanded}/${r.kills} (unexpected exits: ${r.unexpectedExits.length}, error logs: ${r.errorLogs.length})`,
    `lines: ${r.finalLines.toLocaleString('en-US')} in ${r.files} files (${(r.finalBytes / MB).toFixed(1)} MB; ${r.linesWritten.toLocaleString('en-US')} written live)`,
    `settle: ${r.settleRounds} round(s), ${r.caughtUp ? 'caught up' : 'NOT caught up'}`,
    ...r.comparedTables.map((t) => `  ${t.table}: ${t.rows} rows, ${t.onlyChaos} only in chaos, ${t.onlyClean} only in clean`),
    `mismatches: ${r.mismatches}`,
    `duration: ${(r.durationMs / 1000).toFixed(0)} s${values.keep ? `; kept ${r.dir}` : ''}`,
  ];
  process.stdout.write(out.join('\n') + '\n');
  for (const e of r.unexpectedExits) process.stdout.write(`unexpected: ${e}\n`);
  for (const e of r.errorLogs.slice(0, 10)) process.stdout.write(`error log: ${e}\n`);
  const dest = path.join(REPO, '.bench');
  fs.mkdirSync(dest, { recursive: true });
  fs.writeFileSync(path.join(dest, 'chaos.json'), JSON.stringify({ ...r, at: new Date().toISOString() }, null, 2) + '\n');
  process.exitCode = r.mismatches === 0 && r.caughtUp && r.unexpectedExits.length === 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await main();
}
