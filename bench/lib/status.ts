/**
 * When a benchmark may call a `watch` daemon idle, from its `GET /status`: the one
 * definition for bench:catchup and bench:live-cost. The first catch-up runs outside the
 * per-file queues and holds its hints in a gate, so queues and hints alone read as idle
 * while it still works: bench:live-cost, which did not look at `catchUp`, called a fresh
 * daemon caught up after 2.8 s (`run --once` on the tree: 13.3 s) and measured the rest of
 * the catch-up as live cost (93-110 % of a core, 657-688 MB, append -> commit p99 8-10 s).
 */
export interface IdleFields {
  queues: Record<string, { running: number; queued: number }>;
  hintsPending: number;
  commitPendingUnits: number;
  rescanning: boolean;
  lastRescan: unknown;
  catchUp?: { phase: string; files: number; done: number } | null;
}

export const idleStatus = (s: IdleFields): boolean =>
  s.lastRescan !== null &&
  !s.rescanning &&
  s.hintsPending === 0 &&
  s.commitPendingUnits === 0 &&
  (s.catchUp?.phase ?? 'caught-up') === 'caught-up' &&
  Object.values(s.queues).every((q) => q.running === 0 && q.queued === 0);
