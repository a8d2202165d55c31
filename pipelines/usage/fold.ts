/**
 * The usage processor's fold: the noted keys' cross-file picks (picks.ts) recomputed and the
 * rollup of their sums (rollup.ts) kept in step, in one transaction, off the commit path.
 */
import type { Db } from '../../src/state/db.js';
import type { StoreKind } from '../../src/state/dialect.js';
import { DIRTY } from './tables.js';
import { EVENT_PICKS, foldSql, MESSAGE_PICKS } from './picks.js';
import { rollupFoldSql } from './rollup.js';

/** The statements of a fold: of the noted keys, or of every key (`all`). */
export const usageFoldSql = (kind: StoreKind, all: boolean): string[] => foldSql(kind, { all, aroundMessages: rollupFoldSql(kind, all) });

/**
 * When the daemon folds: once commits pause for FOLD_IDLE_MS, or after FOLD_MAX_WAIT_MS of
 * commits without a pause. A fold holds the writer for its scan (bench:live-reads, 20,000 files,
 * load 6-8: 0.5-0.7 s; 1,000,000 messages: 0.7-2.1 s), and every line appended meanwhile waits:
 * for the append -> commit p99 not to move, a fold under sustained appends must hold the writer
 * under 1 % of the time, so at most one per 5 minutes. The views are exact either way; the
 * noted keys only make a read's window larger.
 */
export const FOLD_IDLE_MS = 2_000;
export const FOLD_MAX_WAIT_MS = 5 * 60_000;

/**
 * Recompute everything instead once the noted keys are more than this share of the picks: at
 * 1,000,000 messages (two threads, load 4) the keyed fold of all 1,500,000 keys (after a
 * backfill) took 181 s, a full recompute 11.5 s; the keyed fold of 60,000 keys 2.1 s.
 */
export const REBUILD_ABOVE = 1 / 8;

/**
 * Fold the noted keys into the picks and the rollup, in one transaction on the writer (serialised with
 * commits). `rebuildAbove`: the share of noted keys to picks above which every pick is
 * recomputed (the same result, cheaper for many keys).
 */
export async function fold(db: Db, rebuildAbove = REBUILD_ABOVE): Promise<{ keys: number; rebuilt: boolean }> {
  return db.transaction(async () => {
    const [c] = await db.all<{ keys: bigint | number; picks: bigint | number }>(
      `SELECT (SELECT count(*) FROM ${DIRTY.name}) AS keys, (SELECT count(*) FROM ${MESSAGE_PICKS}) + (SELECT count(*) FROM ${EVENT_PICKS}) AS picks`,
    );
    const keys = Number(c.keys);
    if (keys === 0) return { keys, rebuilt: false };
    const rebuilt = keys > Number(c.picks) * rebuildAbove;
    for (const sql of usageFoldSql(db.kind, rebuilt)) await db.run(sql);
    return { keys, rebuilt };
  });
}

