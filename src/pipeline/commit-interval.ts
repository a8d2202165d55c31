/**
 * How long a commit group stays open: adaptive group commit within a latency budget.
 *
 * DuckDB pays per transaction, not per row: a live commit runs ~19 statements and costs ~31 ms
 * of CPU for 80 units, ~40 ms for 240 (bench:commit-cost, 2026-12-02): the commit rate is the
 * live path's CPU. With a fixed 25 ms interval, 200 live files at one line a second meant ~40
 * commits a second of a few units each. So the interval grows while groups follow each other
 * back to back (a group opens before the last one has been closed for longer than the
 * interval), by half each time; once groups come seldom (a gap of four intervals), it halves
 * back towards `minMs`. A lone change still commits after `minMs`.
 *
 * The ceiling is a latency budget, not a constant: a unit waits in its group for at most
 * `maxMs` minus the longest of the last few commits, since its rows are committed only when
 * the next commit ends. A slow store (or a starved machine) shortens the wait instead of
 * breaking the budget. bench:live-cost, 200 live files: at a fixed 250 ms ceiling 4 commits a
 * second, 27.6 % of a core, append -> commit p99 544 ms; with the watch daemon's budget (800 ms
 * less a 100 ms debounce, so ~650 ms) 1.7 a second, 19.5 %, p99 803 ms.
 */
export interface IntervalOptions {
  /** The interval when changes come seldom. */
  minMs: number;
  /** The budget under sustained load: how long a unit may take from staged to committed. */
  maxMs: number;
}

/** The commits whose duration the ceiling keeps room for (the longest of them). */
const RECENT_COMMITS = 8;

export class GroupInterval {
  private current: number;
  private lastFlushAt = -Infinity;
  private readonly recent: number[] = [];

  constructor(private readonly opts: IntervalOptions) {
    this.current = opts.minMs;
  }

  /** A group opens now: how long to keep it open. */
  open(now: number): number {
    const gap = now - this.lastFlushAt;
    if (gap < this.current) this.current *= 1.5;
    else if (gap >= 4 * this.current) this.current = Math.max(this.opts.minMs, this.current / 2);
    this.current = Math.min(this.current, this.ceiling());
    return this.current;
  }

  /** A group was closed (handed to the store) now. */
  flushed(now: number): void {
    this.lastFlushAt = now;
  }

  /** A group's transaction took `ms` (wall time, from hand-over to commit). */
  committed(ms: number): void {
    this.recent.push(ms);
    if (this.recent.length > RECENT_COMMITS) this.recent.shift();
  }

  /** The longest a group may stay open now: the budget less the slowest recent commit, never under `minMs`. */
  ceiling(): number {
    let slowest = 0;
    for (const ms of this.recent) if (ms > slowest) slowest = ms;
    return Math.max(this.opts.minMs, this.opts.maxMs - slowest);
  }

  get ms(): number {
    return this.current;
  }
}
