/**
 * Deferred merges (DuckDB, watch mode): a live commit appends its rows to the journal, and
 * the rows are merged into their tables later, many commits at once.
 *
 * Why: a live commit's cost in DuckDB is per statement, not per row. Staged into temporary
 * tables and merged at once (`INSERT ... SELECT ... ON CONFLICT` or DELETE + INSERT, then
 * emptying the stage: ~3 statements a table, 7 tables), a commit of 240 units cost 34.4 ms of
 * CPU; journaled, 4.6 ms, and the merge of 17 such commits 84.7 ms (bench:commit-cost, 20,000
 * files). At 200 live files the daemon commits ~1.7 times a second within its latency
 * budget, and without any database write it used 10.3 % of a core against 19.4-19.9 % with them
 * (bench:live-cost, same hour).
 *
 * One journal table for all of them, a row's values as one JSON array: a DuckDB table holds a
 * 256 KiB block per column while it has rows not yet checkpointed, and seven journals of the
 * tables' own columns held ~18 MB more (IN_MEMORY_TABLE 36 -> 55-66 MB at 200 live files), with
 * an appender and its flush per table per commit. The merge takes the values out with
 * `json_extract_string` and casts them to the column's type; each value is checked here first
 * as the appender would check it (a key column's NULL, an integer out of range), so a row the
 * table would refuse fails its own commit, never a later merge.
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
 * random histories). One difference is left: a DEFAULT column (the secrets' `created_at`) takes
 * the merge's time, up to MERGE_MAX_MS after the commit; a table that needs the commit's time
 * says `mergeAtOnce` and is not journaled.
 */
import { quoteIdent, stagedColumns, type CellValue, type OutputColumn, type OutputTable } from './table.js';

/** Commits pausing this long merge the journal (a dashboard's read then finds it merged). */
export const MERGE_IDLE_MS = 1_000;
/**
 * Under sustained commits, a merge at least this often: it bounds the journal (and the rows a
 * read's merge waits for).
 */
export const MERGE_MAX_MS = 10_000;

export const JOURNAL_TABLE = '_journal';

/** The journal: the order of appends across commits, the table, the row's values as JSON. */
export const JOURNAL_DDL = `CREATE TABLE IF NOT EXISTS ${JOURNAL_TABLE} (_seq BIGINT NOT NULL, tbl VARCHAR NOT NULL, "row" VARCHAR NOT NULL)`;

const INT32 = 2 ** 31;
const INT64 = 2 ** 63;

class JournalValueError extends Error {}

/** Node 20 has String.prototype.toWellFormed; TypeScript's lib here does not declare it. */
const wellFormed = (s: string): string => (s as string & { toWellFormed(): string }).toWellFormed();

/** A value as the appender would take it (duckdb.ts appendRows), for the JSON array. */
function encode(c: OutputColumn, v: CellValue, key: boolean): unknown {
  if (v === null || v === undefined) {
    if (key || c.notNull) throw new JournalValueError(`NOT NULL constraint failed: ${c.name} is null`);
    return null;
  }
  switch (c.type) {
    case 'VARCHAR':
      // As the appender stores it: a lone surrogate becomes U+FFFD in UTF-8.
      return wellFormed(typeof v === 'string' ? v : String(v));
    case 'BIGINT':
    case 'INTEGER': {
      const n = Math.trunc(Number(v));
      const limit = c.type === 'INTEGER' ? INT32 : INT64;
      if (!Number.isFinite(n) || n < -limit || n >= limit) throw new JournalValueError(`${c.name}: ${String(v)} is not a ${c.type}`);
      return n;
    }
    case 'DOUBLE':
      // Text: exact for every double, NaN and the infinities included (JSON has none of them).
      return Object.is(Number(v), -0) ? '-0' : String(Number(v));
    case 'BOOLEAN':
      return Boolean(v);
    case 'TIMESTAMP': {
      const micros = Math.round(Number(v) * 1000);
      if (!Number.isFinite(micros) || Math.abs(micros) >= INT64) throw new JournalValueError(`${c.name}: ${String(v)} is not a timestamp`);
      return micros;
    }
  }
}

/** A row (values in `stagedColumns` order) as the journal holds it. Pure; throws what the table would refuse. */
export function journalRow(columns: readonly OutputColumn[], keys: readonly boolean[], row: readonly CellValue[]): string {
  const out = new Array<unknown>(columns.length);
  for (let i = 0; i < columns.length; i++) out[i] = encode(columns[i], row[i], keys[i]);
  return JSON.stringify(out);
}

/** Which staged columns are key columns, in order (for journalRow). */
export const keyFlags = (spec: OutputTable): boolean[] => stagedColumns(spec).map((c) => spec.key.includes(c.name));

const castOf = (c: OutputColumn, v: string): string => {
  switch (c.type) {
    case 'VARCHAR':
      return v;
    case 'TIMESTAMP':
      return `make_timestamp(CAST(${v} AS BIGINT))`;
    default:
      return `CAST(${v} AS ${c.type})`;
  }
};

/**
 * `spec`'s journaled rows as a relation of `_seq` and its staged columns, for the merge.
 * `written`: how many values the rows hold, when a migration may have added columns since they
 * were written (a killed daemon's journal, merged after an upgrade): the newer columns take
 * their default.
 */
export function journalSource(spec: OutputTable, written?: 'any'): string {
  const columns = stagedColumns(spec);
  const paths = columns.map((_, i) => `'$[${i}]'`).join(', ');
  const cols = columns.map((c, i) => {
    const v = castOf(c, `v[${i + 1}]`);
    const value = written && c.default !== undefined ? `CASE WHEN json_array_length("row") > ${i} THEN ${v} ELSE ${c.default} END` : v;
    return `${value} AS ${quoteIdent(c.name)}`;
  });
  const name = `'${spec.name.replace(/'/g, "''")}'`;
  return `(SELECT _seq, ${cols.join(', ')} FROM (SELECT _seq, "row", json_extract_string("row", [${paths}]) AS v FROM ${JOURNAL_TABLE} WHERE tbl = ${name}))`;
}

/**
 * When the next merge is due, after a commit that journaled at `now` (`pendingSince`: the first
 * commit not merged yet). Pure.
 */
export function mergeDelayMs(now: number, pendingSince: number, idleMs = MERGE_IDLE_MS, maxMs = MERGE_MAX_MS): number {
  return Math.max(0, Math.min(idleMs, pendingSince + maxMs - now));
}
