/**
 * The first catch-up: a backlog is a backfill.
 *
 * At start the initial scan finds every file that changed while the daemon
 * was down (or all of them, on a fresh database). Sent one by one down the
 * live path (debounce timer, state check, settle gate, file lane, a stat
 * before and after each run, trace records), 20,000 small files took 3.7x
 * the wall and 2.4x the CPU of `run --once` on the same tree (README, "Live
 * cost"). So the scan's hints are gathered here instead, and the backlog goes
 * through the batch path `run --once` uses: a few files staged at once (a
 * worker pool for a large one), their commits grouped by the committer.
 *
 * Exactly once, and one run of a file at a time, are kept by a gate in front
 * of the hint stream (admit): while the scan runs every hint is held; then a
 * hint for a file of the backlog is held until that file's catch-up commit,
 * and released to the live path (whose state check finds the file as
 * committed, or with what was appended since). With a worker pool, which
 * every run of the pipeline shares, all hints are held until the end, so no
 * live run reads through a pool being closed. Files the catch-up leaves
 * (a processor waiting to settle, a failed run, a lease another node holds)
 * go to the live path as hints at the end, which handles them as before.
 */
import fs from 'node:fs';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { Processor } from '../pipeline/processor.js';
import type { ProcessorOutcome } from '../pipeline/file-run.js';
import { FILES_PER_WORKER, STAGING_CONCURRENCY, recipes, workersFor } from '../pipeline/once.js';
import { fileStatOf, sameStat, type FileStat } from '../discover/file-stat.js';
import type { FsPath } from '../discover/names.js';
import type { FileHint } from './hint.js';
import { hint } from './hint.js';
import { pendingProcessors, statSessionFile, type StatResult } from './state-check.js';
import { steadyNow } from '../loop/clock.js';
import { TimeSlicer } from '../loop/yield.js';
import { collectGarbage } from '../loop/gc.js';

const slicer = new TimeSlicer();

/**
 * Below this many files the backlog takes the live path, as any change does: its cost is
 * per file, and a small start-up backlog is done in well under a second either way.
 */
export const CATCH_UP_MIN_FILES = 200;

/**
 * Test hook (test/watch/catch-up.test.ts): each staging worker waits this long before each file.
 * On a fast machine 1,200 small files caught up between two 20 ms polls of /status, so the
 * test never saw `catching-up`. Unset, nothing waits.
 */
const PACE_MS = Number(process.env.SESSION_PIPELINE_FAULT_CATCH_UP_PACE_MS ?? 0);

/** The second collection after a large catch-up (see run()). */
const RECOLLECT_AFTER_MS = 20_000;

export type CatchUpPhase = 'scanning' | 'catching-up' | 'caught-up';

export interface CatchUpStatus {
  phase: CatchUpPhase;
  /** Files the initial scan found with work (the backlog). */
  files: number;
  /** Backlog files committed (or handed to the live path) so far. */
  done: number;
  /** Whether the backlog took the batch path (false: too small, it went down the live path). */
  batch: boolean;
  workers: number;
  durationMs: number | null;
}

/** What the catch-up needs of the daemon. */
export interface CatchUpPort {
  pipeline: Pipeline;
  workers: number | 'auto';
  /** Of these processors with work, those whose settle policy lets them run now (the others get a settle timer). */
  settled(processors: readonly Processor[], h: FileHint, stat: FileStat | null): Processor[];
  /** A processor's run ended (outcomes, retries, the 'run' event), as after a live run. */
  ran(processor: string, sessionFile: string, traceId: string, outcome: ProcessorOutcome | null): void;
  /** Hand a hint to the live path. */
  release(h: FileHint): void;
  noteStat(sessionFile: string, stat: FileStat | null): void;
  stopping(): boolean;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

export class CatchUp {
  private phase: CatchUpPhase = 'scanning';
  /** The initial scan's hints, in walk order. */
  private readonly backlog: FileHint[] = [];
  /** Backlog files not yet committed: their hints are held. */
  private readonly open = new Set<string>();
  /** Hints held by the gate, one per file (merged). */
  private readonly held = new Map<string, FileHint>();
  /** With a worker pool: hold every hint until the end. */
  private holdAll = true;
  private done = 0;
  private batch = false;
  private workers = 0;
  private started = 0;
  private durationMs: number | null = null;
  /** Files being staged or waiting for their commit. */
  private inFlight = 0;
  /** Backlog files left to the live path (settle, failures, moved meanwhile, store not answering). */
  private handedOn = 0;

  constructor(private readonly port: CatchUpPort) {}

  /** The gate in front of the hint stream: false when the hint is gathered or held here. */
  admit(h: FileHint): boolean {
    if (this.phase === 'caught-up') return true;
    if (this.phase === 'scanning' && h.reason === 'initial-scan') {
      this.backlog.push(h);
      this.open.add(h.sessionFile);
      return false;
    }
    if (this.holdAll || this.open.has(h.sessionFile)) {
      const was = this.held.get(h.sessionFile);
      // Merged as the debounce merges: the oldest trace, widened to all processors when they differ.
      this.held.set(h.sessionFile, was ? { ...was, processor: was.processor === h.processor ? was.processor : undefined } : h);
      return false;
    }
    return true;
  }

  get caughtUp(): boolean {
    return this.phase === 'caught-up';
  }

  /** Files of the catch-up being staged or committed (a graceful stop waits for them). */
  get running(): number {
    return this.inFlight;
  }

  status(): CatchUpStatus {
    return {
      phase: this.phase,
      files: this.backlog.length,
      done: this.done,
      batch: this.batch,
      workers: this.workers,
      durationMs: this.durationMs ?? (this.phase === 'scanning' ? null : Date.now() - this.started),
    };
  }

  /** The initial scan is done: work off its backlog, then open the gate (whatever happens). */
  async run(): Promise<void> {
    try {
      await this.workOff();
    } catch (err) {
      // E.g. a worker pool that would not start: the live path takes what is left, as before.
      this.port.log.warn({ err: (err as Error).message }, 'catch-up failed; the live path takes the backlog');
      const left = this.backlog.filter((h) => this.open.has(h.sessionFile));
      this.finish();
      for (const h of left) this.port.release(h);
    }
  }

  private async workOff(): Promise<void> {
    this.started = Date.now();
    const files = this.backlog.length;
    if (files < CATCH_UP_MIN_FILES || this.port.stopping()) {
      this.finish();
      for (const h of this.backlog) this.port.release(h);
      this.done = files;
      return;
    }
    this.batch = true;
    const { pipeline } = this.port;
    // One stat per file, taken now: it sizes the backlog for the worker rule, and is the stat
    // its run reads to (run --once likewise reads to its walk's stat).
    const stats = new Map<string, FileStat | null>();
    let pending = 0;
    for (const h of this.backlog) {
      // 20,000 lstats are ~100-200 ms of one loop turn: keep /health answering.
      if (slicer.due()) await slicer.yield();
      const target = pipeline.target(h.sessionFile);
      const st = target ? await statSessionFile(target.absPath) : null;
      if (!st?.ok) continue;
      stats.set(h.sessionFile, st.stat);
      if (!st.stat) continue;
      let from = st.stat.size;
      for (const p of pipeline.processors) from = Math.min(from, pipeline.checkpoints.get(p.name, h.sessionFile)?.offset ?? 0);
      pending += Math.max(0, st.stat.size - from);
    }
    const n = workersFor(pending, this.port.workers);
    const plan = n > 0 ? recipes(pipeline) : null;
    this.phase = 'catching-up';
    if (!plan) {
      // No pool: live runs of files outside the backlog may go on meanwhile.
      this.holdAll = false;
      for (const [file, h] of this.held) {
        if (this.open.has(file)) continue;
        this.held.delete(file);
        this.port.release(h);
      }
    } else {
      const { WorkerPool } = await import('../pipeline/workers/pool.js');
      pipeline.ctx.pool = await WorkerPool.start(n, plan);
      this.workers = n;
    }
    this.port.log.info({ files, bytes: pending, workers: this.workers }, 'catching up');
    const leftOver: FileHint[] = [];
    try {
      await this.stageAll(plan ? n * FILES_PER_WORKER : STAGING_CONCURRENCY, stats, leftOver);
    } finally {
      const pool = pipeline.ctx.pool;
      pipeline.ctx.pool = null;
      await pool?.close();
    }
    // The backlog's cross-file derived tables (the usage fold) now, as run --once ends, so that
    // the CHECKPOINT below takes their rows too: folded after it, at the first pause in commits,
    // they held DuckDB's IN_MEMORY_TABLE at 77 MB under the live load, against 36 MB in a daemon
    // started on a caught-up store (bench:live-cost --probe-memory, 20,200 files).
    await pipeline.upkeepNow();
    // The backlog's WAL into the database file now, while nothing live waits: else the first
    // live commit past checkpoint_threshold pays for it (0.5-1.1 s: DuckDb.open), and the
    // backlog's rows keep DuckDB's in-memory blocks (IN_MEMORY_TABLE 93 MB after 20,200 files).
    await pipeline.db.checkpoint?.().catch((err: Error) => this.port.log.warn({ err: err.message }, 'could not checkpoint after the catch-up'));
    this.finish();
    for (const h of leftOver) this.port.release(h);
    // The backlog's garbage, given back before the live load starts (src/loop/gc.ts).
    const gcMs = collectGarbage();
    // And once more when the live load has run a while. V8 sizes old space after a collection
    // from the allocation rate it saw lately, which here is the backlog's: the heap then grew from
    // 53 to 202 MB used in 60 s of live load without a mark-compact (RSS peak 439 MB). Collected
    // again 20 s later, at the live rate, it stayed at 60-67 MB (peak 319 MB), as in a daemon
    // started on a caught-up store (bench:live-cost --probe-memory, 20,200 files).
    setTimeout(() => {
      if (!this.port.stopping()) this.port.log.info({ gcMs: Math.round(collectGarbage()) }, 'collected again after the catch-up');
    }, RECOLLECT_AFTER_MS).unref();
    this.port.log.info({ files, handedOn: this.handedOn, ms: this.durationMs, gcMs: Math.round(gcMs) }, 'caught up');
  }

  private finish(): void {
    this.phase = 'caught-up';
    this.durationMs = Date.now() - this.started;
    this.open.clear();
    const held = [...this.held.values()];
    this.held.clear();
    for (const h of held) this.port.release(h);
  }

  /** One backlog file is committed (or handed on): release a hint held for it. */
  private closeFile(file: string): void {
    this.done++;
    this.open.delete(file);
    if (this.holdAll) return;
    const h = this.held.get(file);
    if (!h) return;
    this.held.delete(file);
    this.port.release(h);
  }

  private async stageAll(concurrency: number, stats: Map<string, FileStat | null>, leftOver: FileHint[]): Promise<void> {
    const { pipeline } = this.port;
    const commits: Promise<void>[] = [];
    let next = 0;
    // Closed first: the hint handed on must pass the gate (with a pool, at the end).
    const handOn = (h: FileHint) => {
      this.closeFile(h.sessionFile);
      this.handedOn++;
      if (this.holdAll) leftOver.push(h);
      else this.port.release(h);
    };
    const one = async (h: FileHint): Promise<void> => {
      const file = h.sessionFile;
      const target = pipeline.target(file);
      if (!target) return this.closeFile(file);
      const held = await pipeline.takeFile(file).catch(() => undefined);
      // Leased by another node (it brings the file up to date), or the store is not answering:
      // the live path looks again (and waits for the store as it does).
      if (held === null) return this.closeFile(file);
      if (held === undefined) return handOn(hint(file, 'retry'));
      let committed: Promise<void>;
      try {
        // Checkpoints read again under a lease are newer than the stat taken before: stat again.
        const st: StatResult = stats.has(file) && !held.reloaded ? { ok: true, stat: stats.get(file)! } : await statSessionFile(target.absPath);
        if (!st.ok) {
          handOn(hint(file, 'retry'));
          await pipeline.releaseFile(file);
          return;
        }
        this.port.noteStat(file, st.stat);
        // The state check's question, as the live path asks it.
        const { pending } = pendingProcessors(pipeline.checkpoints, pipeline.processors, file, st.stat, steadyNow());
        const due = this.port.settled(pending, h, st.stat);
        const { done } = due.length > 0 ? await pipeline.runFile({ ...target, lease: held.lease }, st.stat, due, { traceId: h.traceId, at: h.at }) : { done: null };
        committed = (done ?? Promise.resolve(new Map<string, ProcessorOutcome>())).then((outcomes) => {
          for (const p of due) this.port.ran(p.name, file, h.traceId, outcomes.get(p.name) ?? null);
          const failed = [...outcomes.values()].some((o) => o.kind === 'error');
          // As after a live run: the file moved meanwhile (a stat, no read), or some processor
          // waits to settle, or a run failed: the live path has it from here.
          if (failed || due.length < pending.length || moved(target.absPath, st.stat)) handOn(hint(file, 'requeue'));
          else this.closeFile(file);
        });
      } catch (err) {
        await pipeline.releaseFile(file);
        this.port.log.warn({ err: (err as Error).message, sessionFile: file }, 'catch-up run failed; the live path retries');
        return handOn(hint(file, 'retry'));
      }
      commits.push(
        committed
          .catch((err: Error) => {
            // The commit failed (the store went away): the live path retries the file.
            this.port.log.warn({ err: err.message.split('\n')[0], sessionFile: file }, 'catch-up commit failed; the live path retries');
            handOn(hint(file, 'retry'));
          })
          .finally(() => {
            this.inFlight--;
            return pipeline.releaseFile(file);
          }),
      );
      this.inFlight++;
    };
    const worker = async () => {
      while (next < this.backlog.length && !this.port.stopping()) {
        const h = this.backlog[next++];
        this.inFlight++;
        try {
          if (PACE_MS > 0) await new Promise((r) => setTimeout(r, PACE_MS));
          await one(h);
        } finally {
          this.inFlight--;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    // Not staged before a stop: found again at the next start.
    for (; next < this.backlog.length; next++) this.closeFile(this.backlog[next].sessionFile);
    await pipeline.committer.flush();
    await Promise.all(commits);
  }
}

/** Whether the file's stat is no longer the one its run read (sync: one lstat). */
function moved(absPath: FsPath, before: FileStat | null): boolean {
  let now: FileStat | null = null;
  try {
    const s = fs.lstatSync(absPath);
    if (s.isFile()) now = fileStatOf(s);
  } catch {
    now = null;
  }
  if (!now || !before) return now !== before;
  return !sameStat(now, before);
}
