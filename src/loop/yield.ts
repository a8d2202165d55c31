/**
 * Cooperative time slicing. Session files are read with synchronous calls
 * (on this kind of machine a threadpool round trip costs ~20x a page-cache
 * read of a small file), so long loops give the event loop back every few
 * milliseconds: the admin API and the watcher stay responsive under a backlog.
 *
 * The budget is per event-loop turn and shared by every slicer: watch mode
 * reads up to (processors x concurrency) files at once, and if each slicer
 * had its own budget and yielded with a bare setImmediate, all of them would
 * resume back to back in the same check phase, holding the loop for N
 * budgets before the poll phase serves I/O. Instead, slicers that used up the
 * turn's budget wait in one queue, and one of them resumes per loop turn.
 */
import { performance } from 'node:perf_hooks';

let turnStart = performance.now();
let scheduled = false;
const waiting: (() => void)[] = [];

function resumeNext(): void {
  scheduled = false;
  turnStart = performance.now();
  const next = waiting.shift();
  if (waiting.length > 0) {
    // Queued from the check phase, so it runs in the next loop turn, after a poll.
    scheduled = true;
    setImmediate(resumeNext);
  }
  next?.();
}

export class TimeSlicer {
  constructor(private readonly budgetMs = 8) {}

  /** Whether this loop turn has used its budget; then `await yield()`. No promise when it has not. */
  due(): boolean {
    return performance.now() - turnStart >= this.budgetMs;
  }

  /** Give the event loop back now; resumes in a later turn, one waiting slicer per turn. */
  yield(): Promise<void> {
    return new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (!scheduled) {
        scheduled = true;
        setImmediate(resumeNext);
      }
    });
  }
}
