/**
 * The settle policy's question: how long has a file been quiet, and how long to wait
 * before asking again. Pure.
 *
 * Quiet is measured from the file's mtime, unless the mtime is in the future (a clock set
 * wrong where the file was written, or stepped back here since): then from when this
 * daemon first saw the file with its current stat, on the monotonic clock. A wait is
 * never longer than the settle period itself, so it always fits a timer (an mtime in 2100
 * asked for one of ~2.3e12 ms).
 */
export function quietForMs(mtimeMs: number, wallNow: number, seenForMs: number): number {
  const byMtime = wallNow - mtimeMs;
  return byMtime >= 0 ? byMtime : seenForMs;
}

/** 0 when quiet long enough; else the wait before asking again, at most settleMs (+5 ms past the edge). */
export function settleWaitMs(settleMs: number, quietMs: number): number {
  if (quietMs >= settleMs) return 0;
  return Math.min(settleMs - Math.max(0, quietMs), settleMs) + 5;
}
