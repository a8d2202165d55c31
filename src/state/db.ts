/**
 * The store: where checkpoints, outputs and views live. Two implementations
 * behind one interface, picked by the location (`openStore`, src/state/open.ts):
 * - DuckDB (src/state/duckdb.ts), the embedded default: one process per file;
 * - PostgreSQL (src/state/postgres.ts), for a team: a `postgres://` URL.
 *
 * Writes (the committer, migrations, a processor's `init`) go through one
 * writer connection, serialised: a transaction belongs to a connection, and two
 * async callers interleaved on one would mix their statements into one
 * transaction. Reads for people go through `snapshot` (read-only transactions
 * on connections of their own, never queued behind the committer).
 */
import type { StoreKind } from './dialect.js';
import type { CellValue, OutputTable } from './table.js';
import type { ReadOptions, ReadSnapshot } from './read.js';

export { DatabaseLockedError, DatabaseOpenError, DatabaseWriteError, StoreUnreachableError } from './errors.js';

export type Params = readonly (string | number | boolean | bigint | null)[];

export interface Db {
  readonly kind: StoreKind;
  /** Where the store is, as logs, errors and /health show it (a URL without its password). */
  readonly location: string;
  /** Serialise `fn` after everything queued before it (re-entrant inside `transaction`). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  run(sql: string, params?: Params): Promise<void>;
  /** Rows as JS objects: BIGINT as bigint, DOUBLE as number, TIMESTAMP as a Date of its UTC value. */
  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]>;
  /** Stream a query's rows to `onRows` chunk by chunk (about 2k rows), so a large result never exists twice over. */
  each<T = Record<string, unknown>>(sql: string, onRows: (rows: T[]) => void, params?: Params): Promise<void>;
  /** Run `fn` in one transaction; statements inside must use this Db (re-entrant; a nested transaction joins it). */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Bulk-load `rows` (values in `stagedColumns(spec)` order) into `spec`'s table, inside the
   * running transaction: into a staging table of this connection, then one set-wise statement
   * that keeps one row per key (`spec.prefer`) and applies `spec.onConflict` / `spec.replace`.
   */
  loadStaged(spec: OutputTable, rows: readonly CellValue[][]): Promise<void>;
  /**
   * DuckDB: merge what a killed process left journaled in `specs`' journals; with `defer`,
   * later loads of these tables are journaled and merged many commits at once (journal.ts).
   * Absent on PostgreSQL, whose loads always merge at once.
   */
  useJournal?(specs: readonly OutputTable[], opts: { defer: boolean }): Promise<void>;
  /** DuckDB: write the WAL into the database file now. Absent on PostgreSQL, which checkpoints on its own. */
  checkpoint?(): Promise<void>;
  /** Run `fn` over one committed snapshot, read-only, beside the writer. */
  snapshot<T>(opts: ReadOptions, fn: (s: ReadSnapshot) => Promise<T>): Promise<T>;
  /** What /health shows about the store (pool use, last connection error). */
  health(): StoreHealth;
  close(): Promise<void>;
}

export interface StoreHealth {
  kind: StoreKind;
  location: string;
  /** PostgreSQL: the readers' pool and the writer connection. */
  pool?: { total: number; idle: number; waiting: number; max: number };
  writerConnected?: boolean;
  /** The last connection error, and when (ISO); cleared by nothing: it is history. */
  lastError?: { message: string; at: string } | null;
}
