/**
 * Commit notifications for open dashboards: every committed transaction
 * bumps a generation, and listeners hear about it at most once per
 * `minIntervalMs` (leading edge, then one trailing notice for whatever
 * committed during the wait). Nothing here runs a query or a timer while
 * nothing commits: an open page on an idle daemon costs one socket.
 */
import type { Committer } from '../pipeline/commit.js';

export interface CommitNotice {
  /** Increases by one per committed transaction since the daemon started. */
  generation: number;
  /** Epoch ms of the newest commit in this notice. */
  at: number;
  /** Processors whose units committed since the previous notice. */
  processors: string[];
  /** Transactions per second over the last minute. */
  commitsPerSecond: number;
}

export type NoticeListener = (n: CommitNotice) => void;

const RATE_WINDOW_MS = 60_000;

export class CommitFeed {
  generation = 0;
  private lastAt = 0;
  private readonly recent: number[] = [];
  private readonly listeners = new Set<NoticeListener>();
  private pendingProcessors = new Set<string>();
  private lastSent = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly minIntervalMs = 1_000) {}

  /** Feed from a committer (one listener for the committer's lifetime). */
  attach(committer: Committer): void {
    committer.onCommit((units) => this.committed(units.map((u) => u.processorName)));
  }

  committed(processors: readonly string[], at = Date.now()): void {
    this.generation++;
    this.lastAt = at;
    this.recent.push(at);
    for (const p of processors) this.pendingProcessors.add(p);
    if (this.listeners.size === 0) {
      this.pendingProcessors.clear();
      return;
    }
    this.schedule();
  }

  subscribe(l: NoticeListener): () => void {
    this.listeners.add(l);
    return () => {
      this.listeners.delete(l);
      if (this.listeners.size === 0 && this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
      }
    };
  }

  /** The current state, as a notice with no processors (what a new listener is told first). */
  snapshot(now = Date.now()): CommitNotice {
    return { generation: this.generation, at: this.lastAt, processors: [], commitsPerSecond: this.rate(now) };
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  private rate(now: number): number {
    while (this.recent.length && this.recent[0] < now - RATE_WINDOW_MS) this.recent.shift();
    const span = Math.min(RATE_WINDOW_MS, Math.max(1_000, now - (this.recent[0] ?? now)));
    return Math.round((this.recent.length / (span / 1000)) * 100) / 100;
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastSent + this.minIntervalMs - Date.now());
    if (wait === 0) {
      this.send();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.send();
    }, wait);
  }

  private send(): void {
    this.lastSent = Date.now();
    const n: CommitNotice = { ...this.snapshot(this.lastSent), processors: [...this.pendingProcessors].sort() };
    this.pendingProcessors = new Set();
    for (const l of this.listeners) l(n);
  }
}
