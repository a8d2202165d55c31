/**
 * Watch mode: the stream topology that keeps every processor current.
 *
 *   sources (directory events, initial scan, rescans, requeues, retries)
 *     -> hints$                       one stream of {sessionFile, reason, traceId}
 *     -> catch-up gate                the initial scan's backlog goes to the batch path
 *                                     (catch-up.ts); hints for its files wait for their commit
 *     -> debouncePerKey               per file: quiet 250 ms, max-wait 2 s
 *     -> state check                  one stat vs checkpoints; unchanged files stop here
 *     -> settle gate                  processors with settleMs wait for quiet files
 *     -> fileLanes                    bounded concurrency; one run per file for all its
 *                                     processors due together (one read and parse), never
 *                                     two runs of one (processor, file) at once
 *     -> runFile -> committer         outputs + checkpoints in one grouped transaction
 *     -> outcomes                     per processor: logging, retries; requeue when the
 *                                     file moved meanwhile
 *
 * One run per file, not per (processor, file): with one flow per processor,
 * each live processor read and parsed every appended line again (measured
 * with two live processors: ~half the daemon's CPU under live load went to
 * the second read, parse and stat round).
 */
import { Subject, Subscription, filter, map, merge, mergeMap, share, type Observable } from 'rxjs';
import type { Logger } from 'pino';
import { Pipeline } from '../pipeline/pipeline.js';
import type { Processor } from '../pipeline/processor.js';
import type { FileTarget } from '../pipeline/file-run.js';
import type { EventPort, ProcessorRun, RunTrace } from '../pipeline/events.js';
import type { Config } from '../config/config.js';
import { hint, type FileHint } from './hint.js';
import { debouncePerKey } from './debounce.js';
import type { Outcome, SingleFlightStats } from './single-flight.js';
import { fileLanes, type LaneStats, type RunControl } from './file-lanes.js';
import { ProcessorPace, shareGroups } from './share.js';
import { pendingProcessors, statSessionFile } from './state-check.js';
import { watchHints, type WatcherStatus } from './sources.js';
import { Rescanner, type RescanResult } from './rescan.js';

export type { ProcessorRun } from '../pipeline/events.js';
import { SeenFiles } from './seen-files.js';
import { TraceLog } from './trace.js';
import { sameStat, type FileStat } from '../discover/file-stat.js';
import { DB_FILE_CHECK_MS, dbFileProblem, fileIdentity } from '../state/db-file.js';
import { isConnectionError } from '../state/errors.js';
import type { FsPath } from '../discover/names.js';
import { monoNow, steadyNow } from '../loop/clock.js';
import { quietForMs, settleWaitMs } from './settle.js';
import { CatchUp, type CatchUpStatus } from './catch-up.js';
import { backstopPeriodMs } from './backstop.js';

/**
 * Append -> commit under sustained load, the debounce included: the 1 s goal less a fifth of
 * margin for the run itself (stat, read, parse) and for a checkpoint. The group interval takes
 * what the debounce leaves of it, less the slowest recent commit (commit-interval.ts).
 */
export const LATENCY_BUDGET_MS = 800;

/** After a lease could not be taken (store down) or a commit was fenced off: look at the file again this much later. */
const LEASE_RETRY_MS = 1000;

export interface DaemonOptions {
  config: Config;
  processors: Processor[];
  log: Logger;
  /** Committer flush delay: how long a commit group stays open (default 25 ms). */
  commitDelayMs?: number;
}

interface Checked {
  hint: FileHint;
  stat: FileStat | null;
  /** The processors with work for this file, in pipeline order. */
  pending: Processor[];
}

export interface DaemonStatus {
  startedAt: number;
  watcher: WatcherStatus;
  lastRescan: (RescanResult & { at: number }) | null;
  /** The periodic rescan's current period: the configured one, or longer for a costly rescan (backstop.ts). */
  rescanPeriodMs: number;
  queues: Record<string, SingleFlightStats>;
  hintsPending: number;
  /** Whether a rescan (or the initial scan) is under way. */
  rescanning: boolean;
  stopping: boolean;
  /** Set once the database file was found deleted or replaced under the daemon (it then stops). */
  databaseLost: string | null;
  /** The first catch-up: scanning, catching up (the backlog on the batch path), or caught up. */
  catchUp: CatchUpStatus;
}

export class Daemon {
  readonly trace: TraceLog;
  /** Every domain event of the daemon and its runs, typed (src/pipeline/events.ts): trace, metrics and the monitor listen. */
  readonly events: EventPort;
  readonly hints$ = new Subject<FileHint>();
  readonly watcher: WatcherStatus;
  private readonly subs = new Subscription();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly settleTimers = new Map<string, NodeJS.Timeout>();
  /** Files whose run found the store unreachable: hinted again after STORE_RETRY_MS. */
  private readonly storeRetries = new Map<string, NodeJS.Timeout>();
  /** Since when runs find the store unreachable, and why (logged once until a run works again). */
  private storeDown: { at: number; error: string } | null = null;

  /** Runs are waiting for an unreachable store: since when (epoch ms) and why; null while it answers. */
  get storeUnreachable(): { at: number; error: string } | null {
    return this.storeDown;
  }
  /** The scheduler's counts: runs in flight and files waiting, per processor and in all. */
  private readonly lanes: LaneStats = { lanes: {}, runs: 0, waiting: 0 };
  /** How fast each processor has been going, to decide which may share a read. */
  private readonly pace = new ProcessorPace();
  private stopping = false;
  /** Taking a lease failed (the store is not answering) and has not succeeded since. */
  private leaseOutage = false;
  private databaseLost: string | null = null;
  private stopped: Promise<void> | null = null;
  private rescanning: Promise<RescanResult> | null = null;
  private hintsInDebounce = 0;
  lastRescan: (RescanResult & { at: number }) | null = null;
  /** The periodic rescan's period now: `--rescan-interval-ms`, stretched by the last rescan's cost (backstop.ts). */
  rescanPeriodMs: number;
  private backstopTimer: NodeJS.Timeout | null = null;
  readonly startedAt = Date.now();
  /** Last stat seen per session file (rescans, state checks, runs), for lag metrics; changes are told as `fileStat`. */
  readonly fileStats = new SeenFiles();
  private readonly rescanner: Rescanner;
  private readonly catchUp: CatchUp;

  private constructor(
    readonly pipeline: Pipeline,
    readonly opts: DaemonOptions,
  ) {
    this.events = pipeline.events;
    this.rescanPeriodMs = opts.config.rescanIntervalMs;
    this.trace = new TraceLog(opts.log);
    this.events.listen(this.trace);
    // Which processors may share a read, from each one's measured pace.
    this.events.listen({ processed: (e) => this.pace.note(e.processor, e.bytes, e.ms) });
    const source = opts.config.watcher;
    this.watcher = { source, state: source !== 'off' ? 'starting' : 'off', events: 0, errors: 0, watchedDirs: 0 };
    if (source === 'chokidar') this.watcher.pollMs = opts.config.watchPollMs;
    // A graceful stop ends a run between batches: a 1 GB file in flight took 6-10 s to read to its end.
    pipeline.ctx.stopping = () => this.stopping;
    this.rescanner = new Rescanner(pipeline, this.fileStats, (h) => this.emitHint(h), (f, st) => this.events.emit('fileStat', { sessionFile: f, stat: st }));
    this.catchUp = new CatchUp({
      pipeline,
      workers: opts.config.workers ?? 'auto',
      log: opts.log,
      settled: (ps, h, stat) => this.settled(ps, h, stat),
      ran: (processor, sessionFile, traceId, outcome) => this.afterProcessorRun({ processor, sessionFile, traceId, outcome }),
      release: (h) => this.emitHint(h),
      noteStat: (f, st) => this.noteStat(f, st),
      stopping: () => this.stopping,
    });
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { config, log } = opts;
    const pipeline = await Pipeline.open({
        root: config.root,
        dbPath: config.db,
        pgPoolMax: config.pgPoolMax,
        // One thread: a report's query on two threads took the core the commits need. On
        // bench:live-reads (200 live files, a `report usage --by session` loop) append -> commit
        // p99 went from 1,780 to 875 ms, the daemon's CPU without the reader from 93 to 69 %, and
        // the report itself ran no slower (2.36 -> 2.26 s: its time is the JS side's).
        dbThreads: config.dbThreads === 'auto' ? 1 : config.dbThreads,
        processors: opts.processors,
        log,
        retry: { maxAttempts: config.maxAttempts, baseDelayMs: config.retryBaseMs, maxDelayMs: 15 * 60_000 },
        maxLineBytes: config.maxLineBytes,
        // 25 ms when changes come seldom; under sustained load, as long as the latency budget
        // allows (commit-interval.ts): what is left of LATENCY_BUDGET_MS after the debounce.
        committer: {
          maxDelayMs: opts.commitDelayMs ?? 25,
          loadedDelayMs: Math.max(opts.commitDelayMs ?? 25, LATENCY_BUDGET_MS - config.quietMs),
        },
        // Smaller batches than run --once: a processor's process() call and the parsed lines it
        // keeps alive until the commit are per batch, and both hold the event loop (admin API).
        read: { batchBytes: 512 << 10, chunkBytes: 256 << 10 },
        // A shared (PostgreSQL) store only: an embedded one ignores both.
        source: config.sourceName,
        lease: { node: config.nodeName, ttlMs: config.leaseTtlMs },
        // Live commits are small and ~2 a second: journaled, they cost a fifth (src/state/journal.ts).
        deferMerges: true,
    });
    const daemon = new Daemon(pipeline, opts);
    daemon.wire();
    pipeline.startUpkeep();
    return daemon;
  }

  private get log(): Logger {
    return this.opts.log;
  }

  private wire(): void {
    const { config } = this.opts;
    this.pipeline.committer.onCommit((units, ms) => {
      const files = new Set(units.map((u) => u.sessionFile)).size;
      const rows = units.reduce((n, u) => n + u.rowCount, 0);
      this.log.info({ files, units: units.length, rows, ms }, 'committed');
    });

    const sources: Observable<FileHint>[] = [this.hints$];
    if (config.watcher !== 'off') {
      sources.push(watchHints(config.watcher, { root: config.root, log: this.log, status: this.watcher, pollMs: config.watchPollMs }));
    }
    // The first catch-up gathers the initial scan's hints, and holds those of its files meanwhile.
    const hints = merge(...sources).pipe(filter((h) => this.catchUp.admit(h)));

    const debounced = hints.pipe(
      filter((h) => {
        if (this.stopping) return false;
        this.hintsInDebounce++;
        this.events.emit('busy', { why: 'hint' });
        this.events.emit('hint', { sessionFile: h.sessionFile, trace: traceOf(h), reason: h.reason, processor: h.processor });
        return true;
      }),
      debouncePerKey(
        (h) => h.sessionFile,
        config.quietMs,
        config.maxWaitMs,
        (a, b) => {
          // Coalesced hints keep the oldest trace (and its start time); a processor-restricted
          // hint widens to all processors when merged with an unrestricted one.
          this.hintsInDebounce--;
          this.events.emit('coalesced', { sessionFile: b.sessionFile, trace: traceOf(b), into: a.traceId });
          return { ...a, processor: a.processor === b.processor ? a.processor : undefined };
        },
      ),
    );

    const checked = debounced.pipe(
      mergeMap(async (h): Promise<Checked | null> => {
        // Counted as pending until the state check decides, so status() never shows an idle gap
        // between the debounce and the processor queues.
        try {
          return await this.stateCheck(h);
        } finally {
          this.hintsInDebounce--;
        }
      }, 16),
      filter((c): c is Checked => c !== null),
      share(),
    );

    this.subs.add(
      this.fileRuns(checked).subscribe({
        next: (o) => this.afterRun(o),
        error: (err) => this.log.fatal({ err }, 'processing stream failed'),
      }),
    );

    // The initial scan is a rescan at t=0; then the periodic backstop.
    void this.runRescan('initial-scan').then(() => this.catchUp.run());
    // A shared store: renew this node's leases, and take over the files of a node that stopped renewing.
    this.pipeline.leases?.start((f) => this.emitHint(hint(f, 'lease')));
    this.armBackstop(config.rescanIntervalMs);
    this.watchDatabaseFile();
  }

  private async stateCheck(h: FileHint): Promise<Checked | null> {
    this.events.emit('debounced', { sessionFile: h.sessionFile, trace: traceOf(h) });
    if (this.stopping) return null;
    const target = this.pipeline.target(h.sessionFile);
    if (!target) return null;
    if (h.reason === 'lease' && this.pipeline.leases) {
      // Another node's lease lapsed: take it (reading the file's checkpoints as that node left
      // them) and hand it back, so the check below judges the file on what is committed.
      try {
        const taken = await this.pipeline.takeFile(h.sessionFile);
        if (taken) await this.pipeline.releaseFile(h.sessionFile);
      } catch {
        // The store is not answering: the next heartbeat finds the lapsed lease again.
        return null;
      }
    }
    const st = await statSessionFile(target.absPath);
    if (st.ok) this.noteStat(h.sessionFile, st.stat);
    if (!st.ok) {
      this.events.emit('stateChecked', { sessionFile: h.sessionFile, trace: traceOf(h), decision: 'skip', cause: 'stat-failed', why: `stat failed: ${st.error}` });
      return null;
    }
    const candidates = h.processor ? this.pipeline.processors.filter((p) => p.name === h.processor) : this.pipeline.processors;
    const { pending, skipped } = pendingProcessors(this.pipeline.checkpoints, candidates, h.sessionFile, st.stat, steadyNow());
    this.events.emit('stateChecked', {
      sessionFile: h.sessionFile,
      trace: traceOf(h),
      decision: pending.length ? 'go' : 'skip',
      cause: pending.length ? 'changed' : 'unchanged',
      why: pending.length ? `changed for ${pending.map((p) => p.name).join(',')}` : 'unchanged',
      skipped,
      size: st.stat?.size ?? null,
    });
    return pending.length ? { hint: h, stat: st.stat, pending } : null;
  }

  private noteStat(sessionFile: string, stat: FileStat | null): void {
    if (this.fileStats.note(sessionFile, stat)) this.events.emit('fileStat', { sessionFile, stat });
  }

  /** The settle gate, then runs per file, each for all the file's processors due together. */
  private fileRuns(checked: Observable<Checked>): Observable<Outcome<Checked, ProcessorRun[]>> {
    const byName = new Map(this.pipeline.processors.map((p) => [p.name, p]));
    for (const p of this.pipeline.processors) this.lanes.lanes[p.name] = { running: 0, queued: 0 };
    return checked.pipe(
      map((c) => ({ ...c, pending: this.settled(c.pending, c.hint, c.stat) })),
      filter((c) => c.pending.length > 0),
      fileLanes(
        (c) => c.hint.sessionFile,
        (c) => c.pending.map((p) => p.name),
        this.opts.config.concurrency,
        (c, names, control) => this.runOne(c, names.map((n) => byName.get(n)!), control),
        // A file waiting for its run keeps its oldest trace (and start time).
        (a, b) => ({ ...b, hint: a.hint }),
        this.lanes,
      ),
    );
  }

  /** The processors whose settle policy lets them run on this stat; the others get a timer. */
  private settled(processors: readonly Processor[], h: FileHint, stat: FileStat | null): Processor[] {
    const ready: Processor[] = [];
    for (const p of processors) {
      const settleMs = p.settleMs ?? 0;
      const quietFor = settleMs > 0 && stat ? quietForMs(stat.mtimeMs, steadyNow(), this.fileStats.seenForMs(h.sessionFile)) : Infinity;
      const wait = settleWaitMs(settleMs, quietFor);
      if (wait === 0) {
        ready.push(p);
        continue;
      }
      this.scheduleSettle(p.name, h.sessionFile, wait);
      this.events.emit('stateChecked', {
        sessionFile: h.sessionFile,
        trace: traceOf(h),
        processor: p.name,
        decision: 'wait',
        cause: 'settle',
        why: `settle: quiet ${Math.round(quietFor)} of ${settleMs} ms`,
      });
    }
    return ready;
  }

  private scheduleSettle(processor: string, sessionFile: string, delayMs: number): void {
    const key = `${processor}\u0000${sessionFile}`;
    if (this.settleTimers.has(key)) return;
    const t = setTimeout(() => {
      this.settleTimers.delete(key);
      this.emitHint(hint(sessionFile, 'settle', processor));
    }, delayMs);
    this.settleTimers.set(key, t);
  }

  private async runOne(c: Checked, due: readonly Processor[], control: RunControl): Promise<ProcessorRun[]> {
    const file = c.hint.sessionFile;
    const trace = traceOf(c.hint);
    const runs = (ps: readonly Processor[]) =>
      ps.map((p): ProcessorRun => ({ processor: p.name, sessionFile: file, traceId: trace.traceId, outcome: null }));
    if (this.stopping) return runs(due);
    const target = this.pipeline.target(file)!;
    // A shared store: the file is this node's only under its lease (and its checkpoints are
    // read again when it comes from another node, before the plan below).
    let held: { lease: number | null } | null;
    try {
      held = await this.pipeline.takeFile(file);
      this.leaseOutage = false;
      this.storeAnswers();
    } catch (err) {
      // The store is not answering: nothing ran, so nothing is lost; look again in a second
      // (the committer retries its own groups meanwhile). Logged once per outage, not per file.
      if (!this.leaseOutage) this.log.warn({ err: (err as Error).message }, 'cannot take leases: the store is not answering; retrying');
      this.leaseOutage = true;
      this.storeUnreachableSince(err as Error, false);
      this.later(LEASE_RETRY_MS, () => this.emitHint(hint(file, 'retry')));
      return runs(due);
    }
    if (!held) {
      this.events.emit('stateChecked', { sessionFile: file, trace, decision: 'skip', cause: 'leased', why: 'leased by another node' });
      return runs(due);
    }
    try {
      // Fresh stat, taken under the lease: the file may have moved while this run waited in the
      // queue, and a stat older than checkpoints just read again made a file look truncated.
      const st = await statSessionFile(target.absPath);
      if (!st.ok) return runs(due);
      this.noteStat(file, st.stat);
      // A settle processor queued on an older stat must not run on a file that moved since.
      const processors = this.settled(due, c.hint, st.stat);
      if (processors.length === 0) return [];
      return await this.runGroups(file, { ...target, lease: held.lease }, st.stat, processors, trace, control);
    } finally {
      await this.pipeline.releaseFile(file);
    }
  }

  private async runGroups(
    file: string,
    target: FileTarget,
    stat: FileStat | null,
    processors: readonly Processor[],
    trace: RunTrace,
    control: RunControl,
  ): Promise<ProcessorRun[]> {
    const runs = (ps: readonly Processor[]) =>
      ps.map((p): ProcessorRun => ({ processor: p.name, sessionFile: file, traceId: trace.traceId, outcome: null }));
    const groups = shareGroups(processors, (p) => this.pipeline.checkpoints.get(p.name, file), stat, this.pace);
    const out = await Promise.all(
      groups.map(async (group) => {
        const names = group.map((p) => p.name);
        this.events.emit('dispatched', { sessionFile: file, trace, processors: names, size: stat?.size ?? null });
        const { done } = await this.pipeline.runFile(target, stat, group, trace);
        control.staged(names);
        const outcomes = await done;
        control.release(names);
        // Events are hints, not truth: they can be dropped or coalesced (inotify queue overflow, a
        // change during this run), so look again now.
        await this.requeueIfMoved(file, target.absPath, stat, trace, names);
        return runs(group).map((r) => ({ ...r, outcome: outcomes.get(r.processor) ?? null }));
      }),
    );
    return out.flat();
  }

  private async requeueIfMoved(file: string, absPath: FsPath, before: FileStat | null, trace: RunTrace, names: string[]): Promise<void> {
    const after = await statSessionFile(absPath);
    if (this.stopping || !after.ok) return;
    this.noteStat(file, after.stat);
    const s = after.stat;
    if (s && (!before || !sameStat(s, before))) {
      this.events.emit('requeued', { sessionFile: file, trace, processors: names, size: s.size });
      this.emitHint(hint(file, 'requeue'));
    }
  }

  /** A run found the store unreachable: remembered for /health (and logged, once per outage). */
  private storeUnreachableSince(err: Error, log: boolean): void {
    if (this.storeDown) return;
    const error = err.message.split('\n')[0];
    if (log) this.log.warn({ err: error }, 'the database is unreachable; runs wait for it');
    this.storeDown = { at: Date.now(), error };
  }

  /** The store answered a run again. */
  private storeAnswers(): void {
    if (!this.storeDown) return;
    this.storeDown = null;
    this.log.info('the database answers again; runs resumed');
  }

  private afterRun(o: Outcome<Checked, ProcessorRun[]>): void {
    if (!o.ok && isConnectionError(o.error)) {
      // The store went away (PostgreSQL restarting): not the file's fault. Say so once, and try the
      // file again shortly rather than waiting for its next change or the rescan.
      const file = o.input.hint.sessionFile;
      this.storeUnreachableSince(o.error, true);
      if (!this.storeRetries.has(file) && !this.stopping) {
        const t = setTimeout(() => {
          this.storeRetries.delete(file);
          this.emitHint(hint(file, 'requeue'));
        }, STORE_RETRY_MS);
        this.storeRetries.set(file, t);
      }
      return;
    }
    // With leases, a lease taken says the store answers; without, a run that went through does.
    if (o.ok && !this.pipeline.leases) this.storeAnswers();
    if (!o.ok) {
      this.events.emit('failed', { sessionFile: o.input.hint.sessionFile, trace: traceOf(o.input.hint), error: o.error.message });
      this.log.error({ err: o.error.message, sessionFile: o.input.hint.sessionFile }, 'run failed');
      return;
    }
    for (const r of o.result) this.afterProcessorRun(r);
  }

  private afterProcessorRun(run: ProcessorRun): void {
    const { processor, sessionFile, outcome } = run;
    this.events.emit('ran', run);
    if (outcome?.leaseLost && this.pipeline.leases) {
      // Fenced off: this node's view of the file is behind the store. Read it again at the next
      // take, and look at the file once more: its holder has it, or (a lapse nobody took) this node.
      this.pipeline.leases.markStale(sessionFile);
      this.later(LEASE_RETRY_MS, () => this.emitHint(hint(sessionFile, 'requeue')));
      return;
    }
    if (!outcome || outcome.kind !== 'error' || outcome.ioError) return;
    // A processor failure: come back when the backoff is due.
    const cp = this.pipeline.checkpoints.get(processor, sessionFile);
    if (cp?.status === 'retrying' && cp.nextAttemptAt !== null) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.emitHint(hint(sessionFile, 'retry', processor));
      }, Math.max(0, cp.nextAttemptAt - steadyNow()) + 5);
      this.timers.add(t);
    }
  }

  /** A timer cleared by stop(). */
  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Notice the database file being deleted or replaced; `databaseLost` tells the command to stop. */
  private watchDatabaseFile(): void {
    if (this.pipeline.db.kind !== 'duckdb') return; // a server's store has no file here to lose
    const dbPath = this.opts.config.db;
    const opened = dbPath === ':memory:' ? null : fileIdentity(dbPath);
    if (!opened) return;
    const t = setInterval(() => {
      const problem = dbFileProblem(dbPath, opened, fileIdentity(dbPath));
      if (!problem || this.databaseLost) return;
      this.databaseLost = problem;
      clearInterval(t);
      this.log.fatal({ db: dbPath }, problem);
      this.events.emit('databaseLost', { problem });
    }, DB_FILE_CHECK_MS);
    this.timers.add(t);
  }

  emitHint(h: FileHint): void {
    if (!this.stopping) this.hints$.next(h);
  }

  /** The next periodic rescan, `delayMs` from now (one timer: re-armed after each rescan). */
  private armBackstop(delayMs: number): void {
    if (this.backstopTimer) {
      clearTimeout(this.backstopTimer);
      this.timers.delete(this.backstopTimer);
    }
    if (this.stopping) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.backstopTimer = null;
      void this.runRescan('rescan');
    }, delayMs);
    this.backstopTimer = t;
    this.timers.add(t);
  }

  /** A full stat-only rescan now; concurrent requests share one scan. */
  runRescan(reason: FileHint['reason'] = 'rescan'): Promise<RescanResult> {
    if (this.rescanning) return this.rescanning;
    const started = Date.now();
    this.events.emit('busy', { why: 'rescan' });
    this.rescanning = this.rescanner
      .run(reason)
      .then((r) => {
        this.lastRescan = { ...r, at: started };
        // Any rescan but the initial scan (which also judges every file once) measures the steady
        // cost; the next periodic one is due a period after this one started.
        if (reason !== 'initial-scan') this.rescanPeriodMs = backstopPeriodMs(this.opts.config.rescanIntervalMs, r.cpuMs ?? null);
        this.events.emit('rescanned', r);
        this.log.debug({ ...r, reason, periodMs: this.rescanPeriodMs }, 'rescan done');
        return r;
      })
      .catch((err) => {
        this.log.error({ err: (err as Error).message }, 'rescan failed');
        return { files: 0, hinted: 0, durationMs: Date.now() - started };
      })
      .finally(() => {
        this.rescanning = null;
        this.armBackstop(Math.max(0, started + this.rescanPeriodMs - Date.now()));
      });
    return this.rescanning;
  }

  status(): DaemonStatus {
    return {
      startedAt: this.startedAt,
      watcher: { ...this.watcher },
      lastRescan: this.lastRescan,
      rescanPeriodMs: this.rescanPeriodMs,
      queues: Object.fromEntries(Object.entries(this.lanes.lanes).map(([k, v]) => [k, { ...v }])),
      hintsPending: Math.max(0, this.hintsInDebounce),
      rescanning: this.rescanning !== null,
      stopping: this.stopping,
      databaseLost: this.databaseLost,
      catchUp: this.catchUp.status(),
    };
  }

  /** Whether nothing is queued, running or staged. */
  isIdle(): boolean {
    return (
      this.hintsInDebounce <= 0 &&
      this.lanes.runs === 0 &&
      this.lanes.waiting === 0 &&
      this.pipeline.committer.pendingUnits === 0 &&
      this.rescanning === null &&
      this.catchUp.caughtUp
    );
  }

  /**
   * Graceful stop: stop sources, drain in-flight runs within the deadline,
   * commit, checkpoint and close DuckDB. Whatever is not drained in time is
   * simply not committed, and is found again at the next start.
   */
  stop(drainTimeoutMs = this.opts.config.drainTimeoutMs): Promise<void> {
    if (this.stopped) return this.stopped;
    this.stopping = true;
    this.stopped = (async () => {
      const t0 = monoNow();
      for (const t of this.timers) clearTimeout(t);
      for (const t of this.settleTimers.values()) clearTimeout(t);
      for (const t of this.storeRetries.values()) clearTimeout(t);
      this.storeRetries.clear();
      this.timers.clear();
      this.settleTimers.clear();
      const deadline = t0 + drainTimeoutMs;
      while (monoNow() < deadline && (this.lanes.runs > 0 || this.catchUp.running > 0)) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const drained = this.lanes.runs === 0 && this.catchUp.running === 0;
      this.subs.unsubscribe();
      this.rescanner.close();
      this.hints$.complete();
      try {
        await this.pipeline.close();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'error while closing the database');
      }
      this.log.info({ drained, ms: Math.round(monoNow() - t0) }, 'stopped');
      this.log.flush();
    })();
    return this.stopped;
  }
}

/** The trace a hint starts (or, coalesced, continues). */
function traceOf(h: FileHint): RunTrace {
  return { traceId: h.traceId, at: h.at };
}

/** How soon a run that found the store unreachable is tried again (a restart takes seconds). */
export const STORE_RETRY_MS = 1_000;

export function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  return Daemon.start(opts);
}


