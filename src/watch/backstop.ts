/**
 * The backstop's period: how long from the start of one periodic rescan to
 * the start of the next. Pure.
 *
 * The rescan is a backstop for changes the watcher missed, and its cost grows
 * with the tree: at a fixed 60 s period, 100,000 idle files cost 1.73 % of a
 * core (bench:idle, quiet machine), nearly all of it the rescans (a bare
 * readdir + lstat walk of that tree is 0.46 s, 0.8 % of a core at that period
 * before any other work). So the period grows with the rescan's own measured
 * cost, to keep the backstop at most BACKSTOP_SHARE of one core:
 *
 *   period = max(floor, cost / BACKSTOP_SHARE)
 *
 * The configured `--rescan-interval-ms` is the floor, and holds whenever a
 * rescan costs less than floor x BACKSTOP_SHARE (300 ms of CPU at the default
 * 60 s: ~30,000 files here); a small tree, or a test's 200 ms period on a few
 * files (well under a millisecond each), keeps the period it asked for. There
 * is no ceiling: a ceiling would put the CPU bound back at the tree's mercy,
 * and /health's overdue warning judges the current period, not the floor.
 */

/** The most of one core the periodic rescan may take: half of the 1 % idle goal (issue 15). */
export const BACKSTOP_SHARE = 0.005;

/**
 * The period after a rescan that cost `costMs` of CPU (null: not measured yet, e.g. before the
 * first periodic rescan; the initial scan also judges every file once, and is not the steady cost).
 */
export function backstopPeriodMs(floorMs: number, costMs: number | null, share = BACKSTOP_SHARE): number {
  if (costMs === null || !(costMs > 0)) return floorMs;
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
