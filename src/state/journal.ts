/**
 * Deferred merges (DuckDB, watch mode): a live commit appends its rows to a journal table per
 * output table, and the rows are merged into their tables later, many commits at once.
 *
 * Why: a live commit's cost in DuckDB is per statement, not per row. Staged into temporary
 * tables and merged at once (`INSERT ... SELECT ... ON CONFLICT` or DELETE + INSERT, then
 * emptying the stage: ~3 statements a table, 7 tables), a commit of 240 units cost 42.8 ms of
 * CPU; the same rows appended to journals, one appender a table, 8.6 ms (bench:commit-cost,
 * 20,000 files). At 200 live files the daemon commits ~1.7 times a second within its latency
 * budget, and without any database write it used 10.3 % of a core against 19.4-19.9 % with them
 * (bench:live-cost, same hour).
 *
 * The journal is invisible to readers. The store merges it before anything else touches the
 * tables: any statement or query on the writer (the fold, a retraction, a migration, an audit
 * row) and every read snapshot, and at close. It also merges once commits pause for
 * MERGE_IDLE_MS, and at least every MERGE_MAX_MS under sustained commits. A process killed with
 * rows in its journals left them committed: the next read-write open merges them first
 * (`DuckDb.useJournal`). A read-only open cannot, and reads the tables as of the last merge,
 * outputs and checkpoints alike: a consistent, older snapshot.
 *
 * The merge gives what committing each group at once would have: `_seq` grows across commits,
 * so a table's `prefer` order (`_seq DESC`: the last write wins; `_seq ASC`: the first) and its
 * conflict action pick the same row (test/journal.test.ts checks it against immediate loads on
 * random histories). The journal's columns are NOT NULL where the table's are, so a row the
 * table would refuse fails its own commit, not a later merge.
 */
import { columnTypeSql } from './dialect.js';
import { quoteIdent, stagedColumns, type OutputTable } from './table.js';

/** Commits pausing this long merge the journal (a dashboard's read then finds it merged). */
export const MERGE_IDLE_MS = 1_000;
/**
 * Under sustained commits, a merge at least this often: it bounds the journals (and the rows a
 * read's merge waits for). At 200 live files a merge of 10 s of commits cost ~X ms (bench:commit-cost).
 */
export const MERGE_MAX_MS = 10_000;

export const journalName = (spec: OutputTable): string => `_journal_${spec.name}`;

/** The journal of `spec`: `_seq` (the order of appends, across commits), then the staged columns. */
export function journalDdl(spec: OutputTable): string {
  const cols = stagedColumns(spec).map((c) => {
    const notNull = c.notNull || spec.key.includes(c.name) ? ' NOT NULL' : '';
    return `${quoteIdent(c.name)} ${columnTypeSql('duckdb', c.type)}${notNull}`;
  });
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(journalName(spec))} (_seq BIGINT NOT NULL, ${cols.join(', ')})`;
}

/**
 * When the next merge is due, after a commit that journaled at `now` (`pendingSince`: the first
 * commit not merged yet). Pure.
 */
export function mergeDelayMs(now: number, pendingSince: number, idleMs = MERGE_IDLE_MS, maxMs = MERGE_MAX_MS): number {
  return Math.max(0, Math.min(idleMs, pendingSince + maxMs - now));
}
