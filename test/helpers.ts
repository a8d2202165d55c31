/**
 * Test helpers: real temp directories, real DuckDB files, real child processes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Pipeline, type PipelineOptions } from '../src/pipeline/pipeline.js';
import type { Processor } from '../src/pipeline/processor.js';
import { linesProcessor } from '../pipelines/lines/index.js';
import { runOnce } from '../src/pipeline/once.js';
import { queryStore, storeKeys } from '../bench/lib/store.js';
import type { SessionKeys } from '../src/discover/session-path.js';
import { freshPgDatabase, STORES, type StoreName } from './pg.js';

export { STORES, type StoreName };

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = path.join(REPO, 'dist', 'src', 'cli', 'main.js');
/** The real corpus, vendored with its projects' MIT LICENSE files (test/fixtures/corpus/README.md). */
export const CORPUS = path.join(REPO, 'test', 'fixtures', 'corpus');

export interface Sandbox {
  dir: string;
  root: string;
  /** Which store `db` is. */
  store: StoreName;
  /** The store's location, as `--db` takes it: a DuckDB file in `dir`, or a PostgreSQL URL of a database of its own. */
  db: string;
  /**
   * How the store holds session keys: `keys.stored('alice/x.jsonl')` is what its rows carry
   * (`<hostname>:alice/x.jsonl` on PostgreSQL, the default source), `keys.local(row)` maps back.
   */
  keys: SessionKeys;
  file(rel: string): string;
  write(rel: string, content: string | Buffer): string;
  append(rel: string, content: string | Buffer): string;
  /** Removes `dir` (and drops the PostgreSQL database: await it then). */
  cleanup(): void | Promise<void>;
}

/** A temp dir with an empty root and a DuckDB path in it (nothing opened yet). */
export function sandbox(prefix = 'sp-test-'): Sandbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const root = path.join(dir, 'root');
  fs.mkdirSync(root, { recursive: true });
  const file = (rel: string) => path.join(root, ...rel.split('/'));
  return {
    dir,
    root,
    store: 'duckdb',
    db: path.join(dir, 'state.duckdb'),
    keys: storeKeys(path.join(dir, 'state.duckdb')),
    file,
    write(rel, content) {
      const p = file(rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content);
      return p;
    },
    append(rel, content) {
      const p = file(rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.appendFileSync(p, content);
      return p;
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A sandbox on either store: on `postgres` its `db` is the URL of a fresh, empty database on the
 * run's cluster (test/pg.ts), dropped by `cleanup()`. The suites parameterised over STORES use it,
 * so a test body never branches on the store to find its database.
 */
export async function sandboxOn(store: StoreName, prefix = 'sp-test-'): Promise<Sandbox> {
  const sb = sandbox(prefix);
  if (store === 'duckdb') return sb;
  const pg = await freshPgDatabase(prefix.replace(/-+$/, ''));
  return {
    ...sb,
    store,
    db: pg.url,
    keys: storeKeys(pg.url),
    async cleanup() {
      sb.cleanup();
      await pg.drop();
    },
  };
}

/**
 * Symlinks that lead out of the root: `alice/link.jsonl` to a session file outside it (holding
 * `outsideContent`) and the owner directory `mallory` to the directory holding that file. The
 * only real session is `alice/real.jsonl` (holding `realContent`).
 */
export function escapingSymlinks(sb: Sandbox, outsideContent: string, realContent: string): void {
  const outside = path.join(sb.dir, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret.jsonl'), outsideContent);
  fs.mkdirSync(path.join(sb.root, 'alice'));
  fs.symlinkSync(path.join(outside, 'secret.jsonl'), sb.file('alice/link.jsonl'));
  fs.symlinkSync(outside, path.join(sb.root, 'mallory'));
  sb.write('alice/real.jsonl', realContent);
}

/** Copy the shared real corpus into a sandbox root (it is read-only at its source). */
export function copyCorpus(sb: Sandbox): void {
  fs.cpSync(CORPUS, sb.root, { recursive: true });
  // Only `<owner>/<file>.jsonl` belongs in a root: not the corpus README nor the LICENSE files.
  for (const owner of fs.readdirSync(sb.root)) {
    const p = path.join(sb.root, owner);
    if (fs.statSync(p).isDirectory()) fs.rmSync(path.join(p, 'LICENSE'), { force: true });
    else fs.rmSync(p);
  }
  chmodRecursive(sb.root);
}

function chmodRecursive(p: string): void {
  const st = fs.statSync(p);
  fs.chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
  if (st.isDirectory()) for (const e of fs.readdirSync(p)) chmodRecursive(path.join(p, e));
}

export const silentLog = pino({ level: 'silent' });

export function openPipeline(
  sb: Sandbox,
  processors: Processor[] = [linesProcessor],
  extra: Partial<PipelineOptions> = {},
): Promise<Pipeline> {
  return Pipeline.open({
    root: sb.root,
    dbPath: sb.db,
    processors,
    log: silentLog,
    retry: { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0 },
    maxLineBytes: 32 << 20,
    ...extra,
  });
}

/** Open, run once, close. */
export async function runOnceIn(sb: Sandbox, processors: Processor[] = [linesProcessor], extra: Partial<PipelineOptions> = {}) {
  const p = await openPipeline(sb, processors, extra);
  try {
    return await runOnce(p);
  } finally {
    await p.close();
  }
}

/**
 * Query a store (a DuckDB file no pipeline holds, or a PostgreSQL URL): integers come back as
 * numbers on both (bench/lib/store.ts), so one assertion holds on either.
 */
export function query<T = Record<string, unknown>>(db: string, sql: string, params: (string | number)[] = []): Promise<T[]> {
  return queryStore<T>(db, sql, params);
}

export function line(obj: Record<string, unknown>): string {
  return JSON.stringify(obj) + '\n';
}

export function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function waitFor<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 20_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`waitFor timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
