/**
 * What the admin API knows about a running daemon beyond `daemon.status()`:
 * lag per processor (fed by the daemon's stat observations and by every
 * committed checkpoint), unrecorded failures, and event-loop delay.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Daemon } from '../watch/daemon.js';
import type { DaemonEventMap, DaemonEvents } from '../pipeline/events.js';
import type { Config } from '../config/config.js';
import { LagTracker } from './lag.js';
import { computeHealth, type Health, type HealthThresholds } from './health.js';

/**
 * Event-loop delay sampling period. Each sample is a timer wakeup, and on
 * this kind of VM a wakeup costs ~150 us of CPU: at Node's 10 ms an
 * otherwise idle daemon spent ~0.5 % of a core on sampling alone. A stall
 * longer than this is still measured in full; shorter ones are sampled.
 */
export const LOOP_SAMPLE_MS = 100;
/**
 * A sampled delay in ms, from the histogram's nanoseconds: how late the sampling timer fired.
 * Node records the whole interval between samples, and its period is not delay.
 */
export function netDelayMs(ns: number): number {
  return Math.max(0, ns / 1e6 - LOOP_SAMPLE_MS);
}

/** How often a sampling monitor asks whether the daemon has gone idle. */
const IDLE_CHECK_MS = 250;

export function thresholdsFrom(config: Config): HealthThresholds {
  return {
    stuckMs: config.healthStuckMs,
    lagBytes: config.healthLagBytes,
    lagFiles: config.healthLagFiles,
    failuresForError: 3,
  };
}

export class OpsMonitor implements DaemonEvents {
  readonly tracker: LagTracker;
  readonly loop: IntervalHistogram;
  /**
   * Runs that failed and whose failure could not even be recorded (the
   * checkpoint did not take the failure), since the last successful commit.
   */
  unrecordedFailures = 0;
  private readonly off: (() => void)[] = [];
  private closed = false;
  /** The idle check while the delay histogram samples (see sampleWhileBusy). */
  private sampling: NodeJS.Timeout | null = null;

  constructor(
    readonly daemon: Daemon,
    readonly thresholds: HealthThresholds,
  ) {
    const { pipeline } = daemon;
    const { checkpoints } = pipeline;
    this.tracker = new LagTracker(pipeline.processors, (p, file) => checkpoints.get(p, file), (p) => checkpoints.forProcessor(p));
    for (const [file, st] of daemon.fileStats) this.tracker.observe(file, st);

    this.off.push(daemon.events.listen(this));

    pipeline.committer.onCommit(() => {
      if (!this.closed) this.unrecordedFailures = 0;
    });
    // Every checkpoint is committed through the cache (checkpoints.ts), which tells what it replaced.
    this.off.push(checkpoints.onCommitted((cp, previous) => {
      if (!this.closed) this.tracker.commit(cp, previous);
    }));

    // Sampled only while the daemon has work (a hint, a run, a rescan): an idle loop has no
    // delay to measure, and its wakeups were most of an idle daemon's CPU between rescans.
    this.loop = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
    this.sampleWhileBusy();
  }

  fileStat(e: DaemonEventMap['fileStat']): void {
    this.tracker.observe(e.sessionFile, e.stat);
  }

  ran(r: DaemonEventMap['ran']): void {
    const o = r.outcome;
    // A fenced-off commit (lease lost) is another node's file, not a failure of this one.
    if (!o || o.kind !== 'error' || o.ioError || o.leaseLost) return;
    const cp = this.daemon.pipeline.checkpoints.get(r.processor, r.sessionFile);
    const recorded = !!cp && (cp.status === 'retrying' || cp.status === 'quarantined') && cp.lastError === (o.error ?? '').slice(0, 2000);
    if (!recorded) this.unrecordedFailures++;
  }

  busy(): void {
    this.sampleWhileBusy();
  }

  private sampleWhileBusy(): void {
    if (this.closed || this.sampling) return;
    this.loop.enable();
    // Stops at the first idle check: a rescan ends, and the samples after it would measure
    // nothing but cost wakeups (2 s of them after each rescan were ~0.1 % of a core).
    this.sampling = setInterval(() => {
      if (!this.daemon.isIdle()) return;
      clearInterval(this.sampling!);
      this.sampling = null;
      this.loop.disable();
    }, IDLE_CHECK_MS);
    this.sampling.unref();
  }

  health(now = Date.now()): Health {
    const d = this.daemon;
    const s = d.status();
    return computeHealth({
      now,
      startedAt: d.startedAt,
      stopping: s.stopping,
      databaseLost: s.databaseLost,
      processors: d.pipeline.processors.map((p) => ({
        name: p.name,
        version: p.version,
        settleMs: p.settleMs ?? 0,
        lag: this.tracker.lag(p.name, now),
      })),
      watcher: s.watcher,
      lastRescan: s.lastRescan,
      root: d.opts.config.root,
      rescanIntervalMs: d.opts.config.rescanIntervalMs,
      rescanPeriodMs: s.rescanPeriodMs,
      rescanRunning: s.rescanning,
      lastCommitAt: d.pipeline.committer.stats.lastCommitAt,
      store: d.pipeline.db.health(),
      connectionLost: d.pipeline.committer.connectionLost ?? d.storeUnreachable,
      consecutiveFailures: this.unrecordedFailures,
      thresholds: this.thresholds,
      leases: d.pipeline.leases?.stats ?? null,
    });
  }

  /** Event-loop delay since start, while the daemon had work, in ms (see netDelayMs). */
  eventLoop(): { p50Ms: number; p99Ms: number; maxMs: number; meanMs: number } {
    const ms = (ns: number) => Math.round(netDelayMs(ns) * 10) / 10;
    return {
      p50Ms: ms(this.loop.percentile(50)),
      p99Ms: ms(this.loop.percentile(99)),
      maxMs: ms(this.loop.max),
      meanMs: ms(Number.isNaN(this.loop.mean) ? 0 : this.loop.mean),
    };
  }

  close(): void {
    this.closed = true;
    for (const f of this.off) f();
    if (this.sampling) clearInterval(this.sampling);
    this.sampling = null;
    this.loop.disable();
  }
}
