/**
 * The processor contract. A processor turns newly completed lines of one
 * session file into rows, and can take back (retract) everything it wrote for
 * a file. The runner owns offsets, fingerprints, retries and transactions; a
 * processor owns only its output tables.
 *
 * Everything a processor writes goes through the `ProcessorTx` handle and is
 * committed in the same DuckDB transaction as the file's new checkpoint, so a
 * crash can never separate an output from the offset that produced it.
 */
import type { SessionFileRef } from '../discover/session-path.js';
import type { Migration } from '../state/migrations.js';
import type { Db } from '../state/db.js';
import type { ReportDefinition } from './report.js';

/** One complete, parsed line. `offset` is the byte offset of its first byte. */
export interface SessionLine {
  offset: number;
  /** Bytes including the trailing `\n`. */
  length: number;
  /** The parsed JSON object. Lines that are not JSON objects never reach a processor. */
  value: Record<string, unknown>;
}

export interface Batch<Carry = unknown> {
  file: SessionFileRef;
  lines: readonly SessionLine[];
  /** Byte range this batch covers: [fromOffset, toOffset). `toOffset` ends just after a `\n`. */
  fromOffset: number;
  toOffset: number;
  /** Carry state committed with the previous batch of this file (undefined at offset 0). */
  carry: Carry | undefined;
}

/** Column types the bulk loader knows how to append. */
export type ColumnType = 'VARCHAR' | 'BIGINT' | 'INTEGER' | 'DOUBLE' | 'BOOLEAN' | 'TIMESTAMP';

export interface OutputColumn {
  name: string;
  type: ColumnType;
}

/**
 * A table a processor bulk-loads into. Rows go through the DuckDB appender into
 * a temporary staging table, then into the target with one set-wise
 * `INSERT ... SELECT ... ON CONFLICT` per commit.
 */
export interface OutputTable {
  name: string;
  columns: readonly OutputColumn[];
  /** Primary-key columns: rows staged twice in one commit are collapsed on these. */
  key: readonly string[];
  /**
   * Which staged row wins when one commit stages the same key twice, as a SQL
   * ORDER BY over the staging columns (first row wins). `_seq` is the staging
   * order, so the default `_seq DESC` means "last write wins".
   */
  prefer?: string;
  /** The conflict action against rows already in the table, e.g. `DO NOTHING`. Ignored with `replace`. */
  onConflict?: string;
  /**
   * Rows replace any existing row with the same key, by DELETE + INSERT in the
   * commit transaction. On large tables this is several times cheaper in DuckDB
   * than `ON CONFLICT DO UPDATE`, which joins the whole table for every commit.
   * `hashColumn` names a UBIGINT column holding `hash(<key columns>)`, which the
   * committer fills and uses to narrow the delete to an integer join.
   */
  replace?: { hashColumn?: string };
}

/** A value for one column: numbers for BIGINT/INTEGER/DOUBLE, epoch ms for TIMESTAMP. */
export type CellValue = string | number | boolean | null;

export interface ProcessorTx {
  /** Stage one row for bulk load, values in the table's column order. */
  insert(table: string, row: readonly CellValue[]): void;
  /** Run a statement in the commit transaction, before any staged rows are loaded. */
  run(sql: string, params?: readonly CellValue[]): void;
  /** Replace this file's carry state; it is committed with the new offset. */
  setCarry(carry: unknown): void;
  /** Count output items for progress reporting (rows, findings, ...). */
  countItems(n: number): void;
}

/** What `init` gets: the database (after migrations, before any batch) and the session root. */
export interface ProcessorInit {
  db: Db;
  root: string;
}

export interface Processor<Carry = unknown> {
  readonly name: string;
  /** Bumping the version retracts and reprocesses every file from offset 0. */
  readonly version: number;
  /** Versioned migrations for this processor's own tables. */
  readonly migrations: readonly Migration[];
  /** Tables this processor bulk-loads through `tx.insert`. */
  readonly tables: readonly OutputTable[];
  /**
   * Watch mode: process a file only once it has been quiet this long.
   * 0 (the default) processes live.
   */
  readonly settleMs?: number;
  /**
   * Reports over this processor's tables and views (`src/pipeline/report.ts`), served by
   * `report <name>` and `GET /reports/<name>` alike, live or offline.
   */
  readonly reports?: readonly ReportDefinition[];
  /** Optional one-time setup once the processor's migrations ran (e.g. reading its own state). */
  init?(ctx: ProcessorInit): Promise<void>;
  process(batch: Batch<Carry>, tx: ProcessorTx): void | Promise<void>;
  /** Remove every output this processor wrote for the file. */
  retract(sessionFile: string, tx: ProcessorTx): void | Promise<void>;
}
