/**
 * How long a commit group stays open: adaptive group commit.
 *
 * DuckDB pays per transaction, not per row: each commit runs a fixed set of
 * statements per table and rewrites checkpoints with a join against the whole
 * state table. With a fixed 25 ms interval, 200 live files at one line a
 * second meant ~40 commits a second of a few units each. So the interval grows
 * while groups follow each other back to back (a group opens before the last
 * one has been closed for longer than the interval), by half each time, up to
 * `maxMs`; once groups come seldom (a gap of four intervals), it halves back
 * towards `minMs`. A lone change still commits after `minMs`.
 */
export interface IntervalOptions {
  /** The interval when changes come seldom. */
  minMs: number;
  /** The ceiling under sustained load (latency budget: debounce + this + one commit). */
  maxMs: number;
}

export class GroupInterval {
  private current: number;
  private lastFlushAt = -Infinity;

  constructor(private readonly opts: IntervalOptions) {
    this.current = opts.minMs;
  }

  /** A group opens now: how long to keep it open. */
  open(now: number): number {
    const gap = now - this.lastFlushAt;
    if (gap < this.current) this.current = Math.min(this.opts.maxMs, this.current * 1.5);
    else if (gap >= 4 * this.current) this.current = Math.max(this.opts.minMs, this.current / 2);
    return this.current;
  }

  /** A group was closed (handed to DuckDB) now. */
  flushed(now: number): void {
    this.lastFlushAt = now;
  }

  get ms(): number {
    return this.current;
  }
}
