/**
 * Lag tracking for health and metrics: how far each processor's committed
 * checkpoints are behind the files as last seen, kept incrementally so that
 * `GET /health` costs O(processors + pending files), never a pass over every
 * checkpoint.
 *
 * Fed by two streams:
 *   - observations: a file's stat as the daemon saw it (rescans, state checks,
 *     runs), or null when it is gone;
 *   - commits: every checkpoint the committer commits (outputs, failure
 *     records, deletes, requeues).
 *
 * "Pending since": for each (processor, file) behind its last-seen stat, the
 * time the first change not covered by the committed checkpoint was seen.
 * Each file keeps a short history of the distinct stats seen, so when a
 * commit catches up to an older observation while the file kept growing, the
 * pending time moves on to the next observation instead of staying at the
 * first one: a live file that is kept up with never looks stuck.
 */
import type { Checkpoint } from '../state/checkpoint.js';
import { sameStat, type FileStat } from '../discover/file-stat.js';
import { statMatches } from '../state/classify.js';

export interface TrackedProcessor {
  readonly name: string;
  readonly version: number;
  readonly settleMs?: number;
}

interface Observation extends FileStat {
  at: number;
}

/** How far a (processor, file) is behind; a pair not in `behind` is caught up (CAUGHT_UP). */
interface Behind {
  lagBytes: number;
  pending: boolean;
  since: number | null;
}

/**
 * Nearly every file of an idle tree is caught up: it has no Behind of its own. One object per
 * (processor, file) was ~170 bytes a file with three processors, for a state that is all zeros.
 */
const CAUGHT_UP: Readonly<Behind> = Object.freeze({ lagBytes: 0, pending: false, since: null });

export interface OldestPending {
  sessionFile: string;
  /** When the oldest uncommitted change was first seen (settle-adjusted), epoch ms. */
  since: number;
  ageMs: number;
  /** Whether a change seen later than this one has been committed meanwhile (FIFO check). */
  newerCommitted: boolean;
}

export interface ProcessorLag {
  lagBytes: number;
  lagFiles: number;
  retrying: number;
  quarantined: number;
  lastCommitAt: number | null;
  oldestPending: OldestPending | null;
}

interface Agg {
  lagBytes: number;
  lagFiles: number;
  retrying: number;
  quarantined: number;
  lastCommitAt: number | null;
  /** Latest "pending since" among changes that were committed (for the FIFO check). */
  newestCaughtUp: number | null;
  bytesCommitted: number;
}

const HISTORY = 8;

/**
 * A file's history: its one observation, as nearly every idle file has, or several. An array
 * for the one was 56 bytes a file more.
 */
type History = Observation | Observation[];
const asList = (h: History): readonly Observation[] => (Array.isArray(h) ? h : [h]);
const latestOf = (h: History): Observation => (Array.isArray(h) ? h[h.length - 1] : h);

const cpMatches = statMatches;

export class LagTracker {
  private readonly seen = new Map<string, History>();
  /** Per processor, the files that are behind (lag, pending or a pending-since): few when idle. */
  private readonly behind = new Map<string, Map<string, Behind>>();
  private readonly aggs = new Map<string, Agg>();
  /** Pending (processor, file) pairs with their since; scanned for the oldest. */
  private readonly pendingSince = new Map<string, Map<string, number>>();
  /** Non-ok checkpoints (retrying / quarantined), for listings. */
  private readonly troubled = new Map<string, Map<string, Checkpoint>>();
  private readonly byName = new Map<string, TrackedProcessor>();
  /**
   * Per processor, the last oldest-pending scan, good until any of its entries is evaluated
   * again or (settle) a skipped file becomes due. During a catch-up of 5,000 files, /health
   * every 50 ms spent 1.1 s of the daemon's CPU in that scan (12 ms a call, under load);
   * commits come in groups of thousands, so most calls now find the scan still good.
   */
  private readonly oldestScan = new Map<string, { at: number; until: number; file: string | null; since: number }>();

  constructor(
    readonly processors: readonly TrackedProcessor[],
    /**
     * The committed checkpoint of a (processor, file): the checkpoint cache's, read when a file
     * is evaluated. A map of its own here held a second reference to every checkpoint of an idle
     * tree, so the cache could not keep them compact (state/checkpoint-rows.ts).
     */
    private readonly committed: (processor: string, sessionFile: string) => Checkpoint | undefined = () => undefined,
    /** Each processor's committed checkpoints at start, for the retrying and quarantined counts. */
    initial: (processor: string) => Iterable<Checkpoint> = () => [],
  ) {
    for (const p of processors) {
      this.byName.set(p.name, p);
      this.behind.set(p.name, new Map());
      this.pendingSince.set(p.name, new Map());
      this.troubled.set(p.name, new Map());
      this.aggs.set(p.name, {
        lagBytes: 0,
        lagFiles: 0,
        retrying: 0,
        quarantined: 0,
        lastCommitAt: null,
        newestCaughtUp: null,
        bytesCommitted: 0,
      });
      for (const cp of initial(p.name)) if (cp.status === 'retrying' || cp.status === 'quarantined') this.countStatus(p.name, undefined, cp);
    }
  }

  /** Files currently known to exist (with a stat seen). */
  get filesSeen(): number {
    return this.seen.size;
  }

  /** A file's stat as the daemon saw it at `at`; null when it is gone. */
  observe(sessionFile: string, stat: FileStat | null, at = Date.now()): void {
    if (!stat) {
      if (!this.seen.delete(sessionFile)) return;
      for (const p of this.processors) this.evaluate(p, sessionFile);
      return;
    }
    // Fields named, not spread: a spread object gets a hidden class of its own (seen-files.ts).
    const obs: Observation = { size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, ino: stat.ino, at };
    const hist = this.seen.get(sessionFile);
    if (!hist) this.seen.set(sessionFile, obs);
    else if (sameStat(latestOf(hist), stat)) return;
    else if (!Array.isArray(hist)) this.seen.set(sessionFile, [hist, obs]);
    else {
      hist.push(obs);
      if (hist.length > HISTORY) hist.splice(0, hist.length - HISTORY);
    }
    for (const p of this.processors) this.evaluate(p, sessionFile);
  }

  /** A checkpoint was committed at `at`, replacing `old` (undefined: the file's first for this processor). */
  commit(cp: Checkpoint, old: Checkpoint | undefined, at = Date.now()): void {
    const p = this.byName.get(cp.processorName);
    if (!p) return;
    const agg = this.aggs.get(p.name)!;
    const oldOffset = old ? old.offset : 0;
    // A retraction starts over from 0: what it commits again counts again.
    agg.bytesCommitted += cp.offset >= oldOffset ? cp.offset - oldOffset : cp.offset;
    agg.lastCommitAt = at;
    this.countStatus(p.name, old, cp);
    this.evaluate(p, cp.sessionFile, cp);
  }

  private countStatus(processor: string, old: Checkpoint | undefined, cp: Checkpoint): void {
    const agg = this.aggs.get(processor)!;
    const troubled = this.troubled.get(processor)!;
    if (old?.status === 'retrying') agg.retrying--;
    if (old?.status === 'quarantined') agg.quarantined--;
    if (cp.status === 'retrying') agg.retrying++;
    if (cp.status === 'quarantined') agg.quarantined++;
    if (cp.status === 'retrying' || cp.status === 'quarantined') troubled.set(cp.sessionFile, cp);
    else troubled.delete(cp.sessionFile);
  }

  private evaluate(p: TrackedProcessor, file: string, cp = this.committed(p.name, file)): void {
    this.oldestScan.delete(p.name);
    const seen = this.seen.get(file);
    const hist = seen === undefined ? undefined : asList(seen);
    const behindOf = this.behind.get(p.name)!;
    const stored = behindOf.get(file);
    // Neither seen nor committed, and nothing counted for it: nothing to evaluate.
    if (!hist && cp === undefined && !stored && !this.pendingSince.get(p.name)!.has(file)) return;
    const e = stored ?? CAUGHT_UP;
    const agg = this.aggs.get(p.name)!;
    let lagBytes = 0;
    let pending = false;
    let since: number | null = null;
    if (hist && hist.length > 0) {
      const latest = hist[hist.length - 1];
      const versionOk = !!cp && cp.processorVersion === p.version;
      const behind =
        !cp || !versionOk || cp.status === 'deleted' || cp.status === 'retrying' || !cpMatches(cp, latest);
      if (behind) {
        const base = versionOk ? cp!.offset : 0;
        lagBytes = Math.max(0, latest.size - base);
        pending = cp?.status !== 'quarantined';
      }
      if (pending) {
        let match = -1;
        if (cp && versionOk) for (let i = hist.length - 1; i >= 0; i--) if (cpMatches(cp, hist[i])) { match = i; break; }
        if (match >= 0 && match + 1 < hist.length) since = hist[match + 1].at;
        else since = e.since ?? hist[0].at;
      }
    }
    // Aggregates.
    agg.lagBytes += lagBytes - e.lagBytes;
    agg.lagFiles += (pending ? 1 : 0) - (e.pending ? 1 : 0);
    if (e.since !== null && (since === null || since > e.since) && hist) {
      agg.newestCaughtUp = Math.max(agg.newestCaughtUp ?? 0, e.since);
    }
    const order = this.pendingSince.get(p.name)!;
    if (since === null) order.delete(file);
    else if (since !== e.since || !order.has(file)) order.set(file, since);
    if (lagBytes === 0 && !pending && since === null) behindOf.delete(file);
    else if (!stored) behindOf.set(file, { lagBytes, pending, since });
    else {
      stored.lagBytes = lagBytes;
      stored.pending = pending;
      stored.since = since;
    }
  }

  /** The processor's lag now. O(pending files) for the oldest-pending scan. */
  lag(processor: string, now = Date.now()): ProcessorLag {
    const agg = this.aggs.get(processor);
    if (!agg) throw new Error(`unknown processor ${processor}`);
    let scan = this.oldestScan.get(processor);
    if (!scan || now < scan.at || now >= scan.until) {
      const settle = this.byName.get(processor)!.settleMs ?? 0;
      scan = { at: now, until: Infinity, file: null, since: 0 };
      for (const [file, since] of this.pendingSince.get(processor)!) {
        let eff = since;
        if (settle > 0) {
          // A settle-policy processor waits by design until the file is quiet: count from then.
          const hist = this.seen.get(file);
          const mtime = hist === undefined ? 0 : latestOf(hist).mtimeMs;
          eff = Math.max(since, mtime + settle);
          if (eff > now) {
            scan.until = Math.min(scan.until, eff);
            continue;
          }
        }
        if (scan.file === null || eff < scan.since) {
          scan.file = file;
          scan.since = eff;
        }
      }
      this.oldestScan.set(processor, scan);
    }
    const oldest = scan.file === null ? null : { file: scan.file, since: scan.since };
    return {
      lagBytes: agg.lagBytes,
      lagFiles: agg.lagFiles,
      retrying: agg.retrying,
      quarantined: agg.quarantined,
      lastCommitAt: agg.lastCommitAt,
      oldestPending: oldest
        ? {
            sessionFile: oldest.file,
            since: oldest.since,
            ageMs: Math.max(0, now - oldest.since),
            newerCommitted: agg.newestCaughtUp !== null && agg.newestCaughtUp > oldest.since,
          }
        : null,
    };
  }

  bytesCommitted(processor: string): number {
    return this.aggs.get(processor)?.bytesCommitted ?? 0;
  }

  /** Retrying and quarantined checkpoints of a processor. */
  troubledCheckpoints(processor: string): Checkpoint[] {
    return [...(this.troubled.get(processor)?.values() ?? [])];
  }
}
