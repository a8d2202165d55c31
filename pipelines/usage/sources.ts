/**
 * Where a report reads the deduplicated rows and the rollups.
 *
 * The views (usage_messages_dedup, usage_events_dedup, the rollups' `_current`) are exact at
 * every commit: each is its folded table plus the noted keys' change (picks.ts, rollup.ts). In a
 * snapshot where no key is noted, the change is empty and each view is its table alone, which
 * is what a quiet daemon holds two seconds after its last commit (fold.ts, FOLD_IDLE_MS). A
 * report then reads the tables and skips planning the views: binding a rollup's `_current`
 * cost 25-35 ms a query at 1,000,000 messages (one DuckDB thread), more than a whole report by
 * model or owner read from the table (7-9 ms); the dashboard overview's five reports went from
 * 444 to 214 ms. The same rows either way (test/usage/sources.test.ts), read in one snapshot
 * with the check (src/state/read.ts), so no commit lands between the two.
 */
import type { ReadQuery } from '../../src/pipeline/report.js';
import { kindOf, type StoreKind } from '../../src/state/dialect.js';
import { dedupTimes, EVENT_PICKS, MESSAGE_PICKS, pricedPicks } from './picks.js';
import type { Rollup } from './rollup.js';
import { DIRTY } from './tables.js';

/** Relations to read, each usable as `FROM <relation> <alias>`, with the views' columns. */
export interface UsageSources {
  /** No key is noted: each relation is a folded table. */
  readonly settled: boolean;
  /** usage_messages_dedup's rows. */
  readonly messages: string;
  /** usage_events_dedup's rows. */
  readonly events: string;
  /** usage_messages_dedup's `owner` and `ts` alone, unpriced (`report blocks`). */
  readonly times: string;
  /** The rollup's rows now (its `current` view's columns; a group may repeat, signed). */
  rollup(r: Rollup): string;
}

/** The views: exact in any snapshot, and what the CLI's views and `sql` users read. */
export const viewSources = (kind: StoreKind): UsageSources => ({
  settled: false,
  messages: 'usage_messages_dedup',
  events: 'usage_events_dedup',
  times: `(${dedupTimes(kind)})`,
  rollup: (r) => r.current,
});

/** The folded tables: the views' rows in a snapshot where no key is noted. */
export const settledSources: UsageSources = {
  settled: true,
  messages: `(${pricedPicks(MESSAGE_PICKS)})`,
  // The event pick table's columns are the view's, in order (picks.ts).
  events: EVENT_PICKS,
  times: `(SELECT first_owner AS owner, first_ts AS ts FROM ${MESSAGE_PICKS})`,
  rollup: (r) => r.table,
};

/** The sources for a read in snapshot `q`: the tables when no key is noted there, else the views. */
export async function sourcesOf(q: ReadQuery): Promise<UsageSources> {
  const rows = await q.all<{ noted: unknown }>(`SELECT EXISTS (SELECT 1 FROM ${DIRTY.name}) AS noted`);
  return rows[0]?.noted === false ? settledSources : viewSources(kindOf(q));
}
