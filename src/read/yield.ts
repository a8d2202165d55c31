/**
 * Cooperative time slicing. Session files are read with synchronous calls
 * (on this kind of machine a threadpool round trip costs ~20x a page-cache
 * read of a small file), so long loops give the event loop back every few
 * milliseconds: the admin API and the watcher stay responsive under a backlog.
 */
import { setImmediate as tick } from 'node:timers/promises';

export class TimeSlicer {
  private last = performance.now();

  constructor(private readonly budgetMs = 8) {}

  /** Yield to the event loop if this slice has used its budget. */
  async maybeYield(): Promise<void> {
    if (performance.now() - this.last < this.budgetMs) return;
    await tick();
    this.last = performance.now();
  }
}
