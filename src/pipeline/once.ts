/**
 * `run --once`: scan, bring every processor up to date on every file, report.
 */
import fs from 'node:fs';
import os from 'node:os';
import { fileStatOf, type FileStat } from '../discover/file-stat.js';
import type { FsPath } from '../discover/names.js';
import type { Pipeline } from './pipeline.js';
import type { ProcessorOutcome } from './file-run.js';
import type { ProcessorRecipe } from './processor.js';
import { DatabaseWriteError } from '../state/errors.js';
import type { WalkResult } from '../discover/walk.js';

export interface ProcessorSummary {
  scanned: number;
  unchanged: number;
  appended: number;
  rewritten: number;
  truncated: number;
  deleted: number;
  deferred: number;
  errors: number;
  quarantined: number;
  lines: number;
  bytes_read: number;
  items: number;
  bad_lines: number;
}

export interface RunSummary {
  processors: Record<string, ProcessorSummary>;
  files: number;
  /** A shared store only: files skipped because another node held their lease (that node brings them up to date). */
  files_leased_elsewhere?: number;
  duration_ms: number;
}

const empty = (): ProcessorSummary => ({
  scanned: 0,
  unchanged: 0,
  appended: 0,
  rewritten: 0,
  truncated: 0,
  deleted: 0,
  deferred: 0,
  errors: 0,
  quarantined: 0,
  lines: 0,
  bytes_read: 0,
  items: 0,
  bad_lines: 0,
});

export function tally(s: ProcessorSummary, o: ProcessorOutcome): void {
  s.scanned++;
  switch (o.kind) {
    case 'unchanged':
      s.unchanged++;
      break;
    case 'new':
    case 'appended':
    case 'resumed':
    case 'replaced':
      s.appended++;
      break;
    case 'truncated':
      s.truncated++;
      s.rewritten++;
      break;
    case 'rewritten':
    case 'version':
      s.rewritten++;
      break;
    case 'deleted':
      s.deleted++;
      break;
    case 'deferred':
      s.deferred++;
      break;
    case 'quarantined':
      s.quarantined++;
      break;
    case 'error':
      s.errors++;
      break;
  }
  s.lines += o.lines;
  s.bytes_read += o.bytesRead;
  s.items += o.items;
  s.bad_lines += o.badLines;
}

export interface OnceProgress {
  total: number;
  done: number;
  bytesTotal: number;
  bytesDone: number;
}

/** Files staged concurrently by `run --once` on the main thread. */
export const STAGING_CONCURRENCY = 4;
/** With workers: files queued per worker, so none idles while the main thread commits. */
export const FILES_PER_WORKER = 3;
/**
 * `workers: 'auto'` starts workers only for this much pending input. A worker
 * costs 100-200 ms to start (its own module graph, price table and rules) and
 * 30-40 MB of RSS (its own heap); below a few hundred MB of parsing the second
 * core wins back less than that.
 */
export const AUTO_WORKERS_MIN_BYTES = 256 << 20;
const AUTO_WORKERS_MAX = 4;

export interface OnceOptions {
  /** Worker threads that read, parse and process (src/pipeline/workers/): a count, or 'auto'. Default 0. */
  workers?: number | 'auto';
  onProgress?: (p: OnceProgress) => void;
}

/** Bytes the processors have not read yet, by their checkpoints' offsets. */
function pendingBytes(pipeline: Pipeline, walk: WalkResult): number {
  let n = 0;
  for (const f of walk.files) {
    let from = f.stat.size;
    for (const p of pipeline.processors) from = Math.min(from, pipeline.checkpoints.get(p.name, f.ref.sessionFile)?.offset ?? 0);
    n += Math.max(0, f.stat.size - from);
  }
  return n;
}

/** The recipes of every processor, or null when one cannot run in a worker. */
export function recipes(pipeline: Pipeline): ProcessorRecipe[] | null {
  const out: ProcessorRecipe[] = [];
  for (const p of pipeline.processors) {
    if (!p.remote) return null;
    out.push(p.remote());
  }
  return out;
}

/** Worker threads for this much pending input: a count as configured, or by the 'auto' rule. */
export function workersFor(pending: number, workers: number | 'auto'): number {
  if (workers !== 'auto') return workers;
  if (pending < AUTO_WORKERS_MIN_BYTES) return 0;
  return Math.max(1, Math.min(AUTO_WORKERS_MAX, os.availableParallelism()));
}

function workerCount(pipeline: Pipeline, walk: WalkResult, workers: number | 'auto'): number {
  return workers === 'auto' ? workersFor(pendingBytes(pipeline, walk), workers) : workers;
}

/** A session file's stat now; null when it is gone (or no longer a file). */
function lstatOrNull(p: FsPath): FileStat | null {
  try {
    const s = fs.lstatSync(p);
    return s.isFile() ? fileStatOf(s) : null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

export async function runOnce(pipeline: Pipeline, opts: OnceOptions = {}): Promise<RunSummary> {
  const started = Date.now();
  const summary: RunSummary = { processors: {}, files: 0, duration_ms: 0 };
  if (pipeline.leases) {
    summary.files_leased_elsewhere = 0;
    // A file read for longer than a TTL must keep its lease; lapsed leases are the daemons' to take over.
    pipeline.leases.start(() => undefined);
  }
  for (const p of pipeline.processors) summary.processors[p.name] = empty();
  const walk = await pipeline.scan();
  const progress: OnceProgress = {
    total: walk.files.length,
    done: 0,
    bytesTotal: walk.files.reduce((n, f) => n + f.stat.size, 0),
    bytesDone: 0,
  };
  const n = workerCount(pipeline, walk, opts.workers ?? 0);
  const plan = n > 0 ? recipes(pipeline) : null;
  if (plan) {
    // Loaded only here: a run without workers never pays for the module.
    const { WorkerPool } = await import('./workers/pool.js');
    pipeline.ctx.pool = await WorkerPool.start(n, plan);
  }
  try {
    const concurrency = plan ? n * FILES_PER_WORKER : STAGING_CONCURRENCY;
    return await stageAll(pipeline, walk, summary, progress, started, concurrency, opts.onProgress);
  } finally {
    const pool = pipeline.ctx.pool;
    pipeline.ctx.pool = null;
    await pool?.close();
  }
}

async function stageAll(
  pipeline: Pipeline,
  walk: WalkResult,
  summary: RunSummary,
  progress: OnceProgress,
  started: number,
  concurrency: number,
  onProgress: ((p: OnceProgress) => void) | undefined,
): Promise<RunSummary> {
  // A few files are staged at once so file I/O overlaps, while earlier ones commit in the
  // background: DuckDB works on its own threads while this one reads and parses.
  const pending: Promise<void>[] = [];
  let next = 0;
  // A shared store: each file under its lease, handed back once committed; a file another node
  // holds is that node's (counted, not waited for).
  const leased = async (file: string, run: (lease: number | null, reloaded: boolean) => Promise<{ committed: Promise<void> }>): Promise<void> => {
    const held = await pipeline.takeFile(file);
    if (!held) {
      if (summary.files_leased_elsewhere !== undefined) summary.files_leased_elsewhere++;
      return;
    }
    let committed: Promise<void>;
    try {
      ({ committed } = await run(held.lease, held.reloaded));
    } catch (err) {
      await pipeline.releaseFile(file);
      throw err;
    }
    pending.push(committed.finally(() => pipeline.releaseFile(file)));
  };
  const worker = async () => {
    while (next < walk.files.length) {
      const f = walk.files[next++];
      await leased(f.ref.sessionFile, async (lease, reloaded) => {
        // Checkpoints read again under the lease are newer than the walk's stat: stat again (see Pipeline.takeFile).
        const stat = reloaded ? lstatOrNull(f.absPath) : f.stat;
        const { done } = await pipeline.runFile({ ...f, lease }, stat);
        return {
          committed: done.then((out) => {
            for (const [name, o] of out) tally(summary.processors[name], o);
          }),
        };
      });
      progress.done++;
      progress.bytesDone += f.stat.size;
      onProgress?.(progress);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  for (const file of pipeline.missingFiles(walk)) {
    const target = pipeline.target(file);
    if (!target) continue;
    await leased(file, async (lease) => {
      const { done } = await pipeline.runFile({ ...target, lease }, null);
      return {
        committed: done.then((out) => {
          for (const [name, o] of out) if (o.kind === 'deleted') tally(summary.processors[name], o);
        }),
      };
    });
  }
  await pipeline.committer.flush();
  await Promise.all(pending);
  // Failures recorded after the first flush need one more.
  await pipeline.committer.flush();
  // The database stopped taking writes: what was committed stands, the rest is for the next run.
  const broken = pipeline.committer.failure;
  if (broken) throw new DatabaseWriteError(pipeline.db.location, broken.message.split('\n')[0]);
  // Derived tables brought up to date once, so reads after the run pay nothing for it (the usage
  // processor's cross-file picks: one scan, where the daemon's first fold would otherwise do it).
  await pipeline.upkeep();
  summary.files = walk.files.length;
  summary.duration_ms = Date.now() - started;
  return summary;
}
