/**
 * Watch mode: the stream topology that keeps every processor current.
 *
 *   sources (directory events, initial scan, rescans, requeues, retries)
 *     -> hints$                       one stream of {sessionFile, reason, traceId}
 *     -> debouncePerKey               per file: quiet 250 ms, max-wait 2 s
 *     -> state check                  one stat vs checkpoints; unchanged files stop here
 *     -> per processor:
 *          settle gate                (processors with settleMs wait for quiet files)
 *          singleFlightPerKey         bounded concurrency, one run per (processor, file)
 *          runFile -> committer       outputs + checkpoint in one grouped transaction
 *     -> merged outcomes              logging, requeue when the file moved meanwhile
 */
import { EventEmitter } from 'node:events';
import { Subject, Subscription, filter, merge, mergeMap, share, type Observable } from 'rxjs';
import type { Logger } from 'pino';
import { Pipeline } from '../pipeline/pipeline.js';
import type { Processor } from '../pipeline/processor.js';
import type { ProcessorOutcome } from '../pipeline/file-run.js';
import type { Config } from '../config/config.js';
import { hint, type FileHint } from './hint.js';
import { debouncePerKey } from './debounce.js';
import { singleFlightPerKey, type Outcome, type SingleFlightStats } from './single-flight.js';
import { pendingProcessors, statSessionFile } from './state-check.js';
import { directoryHints, type WatcherStatus } from './sources.js';
import { Rescanner, type RescanResult } from './rescan.js';
import { SeenFiles } from './seen-files.js';
import { TraceLog } from './trace.js';
import type { FileStat } from '../discover/file-stat.js';

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
  pending: Set<string>;
}

export interface ProcessorRun {
  processor: string;
  sessionFile: string;
  traceId: string;
  outcome: ProcessorOutcome | null;
}

export interface DaemonStatus {
  startedAt: number;
  watcher: WatcherStatus;
  lastRescan: (RescanResult & { at: number }) | null;
  queues: Record<string, SingleFlightStats>;
  hintsPending: number;
  /** Whether a rescan (or the initial scan) is under way. */
  rescanning: boolean;
  stopping: boolean;
}

export class Daemon extends EventEmitter {
  readonly trace: TraceLog;
  readonly hints$ = new Subject<FileHint>();
  readonly watcher: WatcherStatus;
  private readonly subs = new Subscription();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly settleTimers = new Map<string, NodeJS.Timeout>();
  private readonly active = new Map<string, { traceId: string; at: number }>();
  private readonly queues: Record<string, SingleFlightStats> = {};
  private stopping = false;
  private stopped: Promise<void> | null = null;
  private rescanning: Promise<RescanResult> | null = null;
  private hintsInDebounce = 0;
  lastRescan: (RescanResult & { at: number }) | null = null;
  readonly startedAt = Date.now();
  /** Last stat seen per session file (rescans, state checks, runs), for lag metrics; changes are emitted as 'stat'. */
  readonly fileStats = new SeenFiles();
  private readonly rescanner: Rescanner;

  private constructor(
    readonly pipeline: Pipeline,
    readonly opts: DaemonOptions,
  ) {
    super();
    this.trace = new TraceLog(opts.log);
    this.watcher = { state: opts.config.watcher ? 'starting' : 'off', events: 0, errors: 0, watchedDirs: 0 };
    this.rescanner = new Rescanner(pipeline, this.fileStats, (h) => this.emitHint(h), (f, st) => this.emit('stat', f, st));
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { config, log } = opts;
    let daemon: Daemon | null = null;
    const pipeline = await Pipeline.open(
      {
        root: config.root,
        dbPath: config.db,
        processors: opts.processors,
        log,
        retry: { maxAttempts: config.maxAttempts, baseDelayMs: config.retryBaseMs, maxDelayMs: 15 * 60_000 },
        maxLineBytes: config.maxLineBytes,
        committer: { maxDelayMs: opts.commitDelayMs ?? 25 },
        // Smaller batches than run --once: a processor's process() call and the parsed lines it
        // keeps alive until the commit are per batch, and both hold the event loop (admin API).
        read: { batchBytes: 512 << 10, chunkBytes: 256 << 10 },
      },
      { onStage: (e) => daemon?.onStage(e) },
    );
    daemon = new Daemon(pipeline, opts);
    daemon.wire();
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
    if (config.watcher) {
      sources.push(
        directoryHints({
          root: config.root,
          log: this.log,
          status: this.watcher,
        }),
      );
    }
    const hints = merge(...sources);

    const debounced = hints.pipe(
      filter((h) => {
        if (this.stopping) return false;
        this.hintsInDebounce++;
        this.emit('busy');
        this.trace.record('source', h.sessionFile, h.traceId, h.at, { reason: h.reason, processor: h.processor });
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
          this.trace.record('debounced', b.sessionFile, b.traceId, b.at, { mergedInto: a.traceId });
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

    const perProcessor = this.pipeline.processors.map((p) => this.processorStream(p, checked));
    this.subs.add(
      merge(...perProcessor).subscribe({
        next: (o) => this.afterRun(o),
        error: (err) => this.log.fatal({ err }, 'processing stream failed'),
      }),
    );

    // The initial scan is a rescan at t=0; then the periodic backstop.
    void this.runRescan('initial-scan');
    const t = setInterval(() => void this.runRescan('rescan'), config.rescanIntervalMs);
    this.timers.add(t);
  }

  private async stateCheck(h: FileHint): Promise<Checked | null> {
    this.trace.record('debounced', h.sessionFile, h.traceId, h.at);
    if (this.stopping) return null;
    const target = this.pipeline.target(h.sessionFile);
    if (!target) return null;
    const st = await statSessionFile(target.absPath);
    if (st.ok) this.noteStat(h.sessionFile, st.stat);
    if (!st.ok) {
      this.trace.record('state-check', h.sessionFile, h.traceId, h.at, { decision: 'skip', why: `stat failed: ${st.error}` });
      return null;
    }
    const candidates = h.processor ? this.pipeline.processors.filter((p) => p.name === h.processor) : this.pipeline.processors;
    const { pending, skipped } = pendingProcessors(this.pipeline.checkpoints, candidates, h.sessionFile, st.stat, Date.now());
    this.trace.record('state-check', h.sessionFile, h.traceId, h.at, {
      decision: pending.length ? 'go' : 'skip',
      why: pending.length ? `changed for ${pending.map((p) => p.name).join(',')}` : 'unchanged',
      skipped,
      size: st.stat?.size ?? null,
    });
    return pending.length ? { hint: h, stat: st.stat, pending: new Set(pending.map((p) => p.name)) } : null;
  }

  private noteStat(sessionFile: string, stat: FileStat | null): void {
    if (this.fileStats.note(sessionFile, stat)) this.emit('stat', sessionFile, stat);
  }

  /** One processor's observable: its settle policy, then single-flight runs per file. */
  private processorStream(p: Processor, checked: Observable<Checked>): Observable<Outcome<Checked, ProcessorRun>> {
    const stats: SingleFlightStats = { running: 0, queued: 0 };
    this.queues[p.name] = stats;
    const settleMs = p.settleMs ?? 0;
    return checked.pipe(
      filter((c) => c.pending.has(p.name)),
      filter((c) => {
        if (settleMs <= 0 || !c.stat) return true;
        const quietFor = Date.now() - c.stat.mtimeMs;
        if (quietFor >= settleMs) return true;
        this.scheduleSettle(p.name, c.hint.sessionFile, settleMs - quietFor + 5);
        this.trace.record('state-check', c.hint.sessionFile, c.hint.traceId, c.hint.at, {
          processor: p.name,
          decision: 'wait',
          why: `settle: quiet ${Math.round(quietFor)} of ${settleMs} ms`,
        });
        return false;
      }),
      singleFlightPerKey(
        (c) => c.hint.sessionFile,
        this.opts.config.concurrency,
        (c) => this.runOne(p, c),
        stats,
      ),
    );
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

  private async runOne(p: Processor, c: Checked): Promise<ProcessorRun> {
    const file = c.hint.sessionFile;
    const run: ProcessorRun = { processor: p.name, sessionFile: file, traceId: c.hint.traceId, outcome: null };
    if (this.stopping) return run;
    const target = this.pipeline.target(file)!;
    // Fresh stat: the file may have moved while this run waited in the queue.
    const st = await statSessionFile(target.absPath);
    if (!st.ok) return run;
    this.noteStat(file, st.stat);
    this.trace.record('dispatched', file, c.hint.traceId, c.hint.at, { processor: p.name, size: st.stat?.size ?? null });
    const activeKey = `${p.name}\u0000${file}`;
    this.active.set(activeKey, { traceId: c.hint.traceId, at: c.hint.at });
    try {
      const { done } = await this.pipeline.runFile(target, st.stat, [p]);
      run.outcome = (await done).get(p.name) ?? null;
    } finally {
      this.active.delete(activeKey);
    }
    // Events are hints, not truth: they can be dropped or coalesced (inotify queue overflow, a
    // change during this run), so look again now.
    const after = await statSessionFile(target.absPath);
    if (after.ok && !this.stopping) this.noteStat(file, after.stat);
    if (
      !this.stopping &&
      after.ok &&
      after.stat &&
      (!st.stat ||
        after.stat.size !== st.stat.size ||
        after.stat.mtimeMs !== st.stat.mtimeMs ||
        after.stat.ino !== st.stat.ino)
    ) {
      this.trace.record('requeued', file, c.hint.traceId, c.hint.at, { processor: p.name, size: after.stat.size });
      this.emitHint(hint(file, 'requeue'));
    }
    return run;
  }

  private afterRun(o: Outcome<Checked, ProcessorRun>): void {
    if (!o.ok) {
      this.trace.record('error', o.input.hint.sessionFile, o.input.hint.traceId, o.input.hint.at, { error: o.error.message });
      this.log.error({ err: o.error.message, sessionFile: o.input.hint.sessionFile }, 'run failed');
      return;
    }
    const { processor, sessionFile, outcome } = o.result;
    this.emit('run', o.result);
    if (!outcome || outcome.kind !== 'error' || outcome.ioError) return;
    // A processor failure: come back when the backoff is due.
    const cp = this.pipeline.checkpoints.get(processor, sessionFile);
    if (cp?.status === 'retrying' && cp.nextAttemptAt !== null) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.emitHint(hint(sessionFile, 'retry', processor));
      }, Math.max(0, cp.nextAttemptAt - Date.now()) + 5);
      this.timers.add(t);
    }
  }

  private onStage(e: import('../pipeline/file-run.js').StageEvent): void {
    const processor = 'processor' in e ? e.processor : 'processors' in e ? e.processors[0] : undefined;
    const a = processor ? this.active.get(`${processor}\u0000${e.sessionFile}`) : undefined;
    if (!a) return;
    const { stage, sessionFile, ...detail } = e;
    this.trace.record(stage, sessionFile, a.traceId, a.at, detail);
    if (stage === 'committed') this.emit('committed', { ...e, latencyMs: Date.now() - a.at });
  }

  emitHint(h: FileHint): void {
    if (!this.stopping) this.hints$.next(h);
  }

  /** A full stat-only rescan now; concurrent requests share one scan. */
  runRescan(reason: FileHint['reason'] = 'rescan'): Promise<RescanResult> {
    if (this.rescanning) return this.rescanning;
    const started = Date.now();
    this.emit('busy');
    this.rescanning = this.rescanner
      .run(reason)
      .then((r) => {
        this.lastRescan = { ...r, at: started };
        this.emit('rescan', r);
        this.log.debug({ ...r, reason }, 'rescan done');
        return r;
      })
      .catch((err) => {
        this.log.error({ err: (err as Error).message }, 'rescan failed');
        return { files: 0, hinted: 0, durationMs: Date.now() - started };
      })
      .finally(() => {
        this.rescanning = null;
      });
    return this.rescanning;
  }

  status(): DaemonStatus {
    return {
      startedAt: this.startedAt,
      watcher: { ...this.watcher },
      lastRescan: this.lastRescan,
      queues: Object.fromEntries(Object.entries(this.queues).map(([k, v]) => [k, { ...v }])),
      hintsPending: Math.max(0, this.hintsInDebounce),
      rescanning: this.rescanning !== null,
      stopping: this.stopping,
    };
  }

  /** Whether nothing is queued, running or staged. */
  isIdle(): boolean {
    return (
      this.hintsInDebounce <= 0 &&
      Object.values(this.queues).every((q) => q.running === 0 && q.queued === 0) &&
      this.pipeline.committer.pendingUnits === 0 &&
      this.rescanning === null
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
      const t0 = Date.now();
      for (const t of this.timers) clearTimeout(t);
      for (const t of this.settleTimers.values()) clearTimeout(t);
      this.timers.clear();
      this.settleTimers.clear();
      const deadline = t0 + drainTimeoutMs;
      while (Date.now() < deadline && Object.values(this.queues).some((q) => q.running > 0)) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const drained = Object.values(this.queues).every((q) => q.running === 0);
      this.subs.unsubscribe();
      this.rescanner.close();
      this.hints$.complete();
      try {
        await this.pipeline.close();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'error while closing the database');
      }
      this.log.info({ drained, ms: Date.now() - t0 }, 'stopped');
      this.log.flush();
    })();
    return this.stopped;
  }
}

export function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  return Daemon.start(opts);
}
