/**
 * A full garbage collection on demand, to hand memory back after a burst.
 *
 * After the first catch-up of 20,200 files the daemon's JS heap had grown to ~400 MB around
 * ~130 MB of live objects (with 24 GiB of RAM, V8's growing factor lets old space reach
 * ~390 MB before a mark-compact), and under live load V8 never runs the idle-time memory
 * reducer that would give the pages back: RSS stayed at 657-673 MB (bench:live-cost).
 *
 * Two collections: the first frees the heap's pages into V8's page pool, the second hands the
 * pool back to the system (a 3,000,000-object heap alone: heap 273 -> 37 MB after the first,
 * RSS 341 -> 341 -> 104 MB after the second).
 *
 * `gc` exists only with `--expose-gc`; set at run time, the flag makes it available in a new
 * context (the way Jest's --logHeapUsage gets it), so no launcher has to pass a node flag.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | null = null;

/** Collect now; returns how long it took (ms). */
export function collectGarbage(): number {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  const t0 = performance.now();
  gc();
  gc();
  return performance.now() - t0;
}
