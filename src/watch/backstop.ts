/**
 * The backstop's period: how long from the start of one periodic rescan to
 * the start of the next. Pure.
 *
 * The rescan is a backstop for changes the watcher missed, and its cost grows
 * with the tree: at a fixed 60 s period, 100,000 idle files cost 1.73 % of a
 * core (bench:idle, quiet machine), nearly all of it the rescans (a bare
 * readdir + lstat walk of that tree is 0.46 s, 0.8 % of a core at that period
 * before any other work). So the period grows with the rescan's own measured
 * cost, to keep the backstop within a fixed share of one core:
 *
 *   period = max(floor, cost / BACKSTOP_SHARE)
 *
 * The share is 0.25 % for the rescan itself because a rescan leaves about as
 * much again to the garbage collector after it: at 100,000 files a rescan
 * measured 515-585 ms of its own CPU, and the process spent 1.0-1.8 s of CPU
 * around each (scavenges of ~50 MB of Stats and paths, then V8's memory
 * reducer: 2-3 mark-compacts of the 175 MB heap, ~200 ms each). With its GC
 * the backstop stays near 0.5 % of a core, half the 1 % idle goal (issue 15).
 *
 * The configured `--rescan-interval-ms` is the floor, and holds whenever a
 * rescan costs less than floor x BACKSTOP_SHARE (150 ms of CPU at the default
 * 60 s: ~25,000 files here) or less than MIN_STRETCH_COST_MS (a test's 200 ms
 * period on a few files keeps it exactly). There is no ceiling: a ceiling would
 * put the CPU bound back at the tree's mercy, and /health's overdue warning
 * judges the current period, not the floor.
 */

/** The most of one core a periodic rescan's own CPU may take (its GC takes about as much again). */
export const BACKSTOP_SHARE = 0.0025;

/**
 * A rescan that costs less never stretches the period: its tree is small (~3,000 files here), and
 * a period short enough for it to matter (under 8 s) was asked for. The share bounds what the
 * default period costs on a large tree. Without this, a 60-file rescan measured at 5 ms under a
 * loaded test suite (GC and other processes in its window; 0.4-1.4 ms quiet) stretched a 300 ms
 * period to 2 s, and a fault test waiting 2 s for a rescan saw none.
 */
export const MIN_STRETCH_COST_MS = 20;

/**
 * The period after a rescan that cost `costMs` of CPU (null: not measured yet, e.g. before the
 * first periodic rescan; the initial scan also judges every file once, and is not the steady cost).
 */
export function backstopPeriodMs(floorMs: number, costMs: number | null, share = BACKSTOP_SHARE): number {
  if (costMs === null || !(costMs >= MIN_STRETCH_COST_MS)) return floorMs;
  return Math.max(floorMs, Math.ceil(costMs / share));
}

/**
 * What a rescan cost, from two upper bounds of its own CPU time: the process's CPU time while it
 * ran (which also counts other threads' work meanwhile: commits, GC) and the wall time of its
 * slices on the event loop (which also counts time the kernel gave other processes). The smaller
 * is the better bound: each one is inflated by a different kind of other work.
 */
export function rescanCostMs(processCpuMs: number, busyWallMs: number): number {
  return Math.max(0, Math.min(processCpuMs, busyWallMs));
}
