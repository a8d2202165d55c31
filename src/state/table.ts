/**
 * A table, declared once: the committer bulk-loads by this declaration, and
 * its DDL is derived from it (`createTableSql`), so the loader and the schema
 * cannot drift. Used by the core's state tables and by every processor.
 */
import type { Migration } from './migrations.js';
import { columnTypeSql, type StoreKind } from './dialect.js';

/** Column types the bulk loader knows how to append. */
export type ColumnType = 'VARCHAR' | 'BIGINT' | 'INTEGER' | 'DOUBLE' | 'BOOLEAN' | 'TIMESTAMP';

export interface OutputColumn {
  name: string;
  type: ColumnType;
  /** NOT NULL in the DDL (key columns always are). */
  notNull?: boolean;
  /** A SQL default expression, e.g. `0` or `current_timestamp`. */
  default?: string;
  /** Filled by the database from `default`, never staged: rows leave this column out. */
  generated?: boolean;
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
   * committer fills and uses to narrow the delete to an integer join (the DDL
   * adds it; it is not one of `columns`).
   */
  replace?: { hashColumn?: string };
  /**
   * Bookkeeping of work still pending, not an output (the usage processor's noted keys): two
   * runs that end in the same outputs may differ here, so comparisons of stores skip it.
   */
  pending?: boolean;
  /**
   * Merged in its own commit even where the store journals live commits (DuckDB in watch mode:
   * src/state/journal.ts), whose merge comes up to MERGE_MAX_MS later: for a table whose DEFAULT
   * columns must be the commit's time (bench/lib/probe.ts's `committed_at`).
   */
  mergeAtOnce?: boolean;
}

/** A value for one column: numbers for BIGINT/INTEGER/DOUBLE, epoch ms for TIMESTAMP. */
export type CellValue = string | number | boolean | null;

export const quoteIdent = (id: string): string => `"${id.replace(/"/g, '""')}"`;

/**
 * Whether no two of `rows` (in `stagedColumns` order) share a key. The loaders then move the
 * staged rows as they are, without the one-row-per-key step (DuckDB's QUALIFY window,
 * PostgreSQL's DISTINCT ON), which a live commit almost never needs: on DuckDB that window cost
 * 7.7 ms of CPU per table for 40 rows (2.2 ms for the plain INSERT), about half of a live
 * commit's ~95 ms over seven tables. Key columns are never null.
 */
export function keysAreDistinct(spec: OutputTable, rows: readonly (readonly CellValue[])[]): boolean {
  if (rows.length < 2) return true;
  const columns = stagedColumns(spec);
  const at = spec.key.map((k) => columns.findIndex((c) => c.name === k));
  const seen = new Set<unknown>();
  if (at.length === 1) {
    const i = at[0];
    for (const r of rows) {
      if (seen.has(r[i])) return false;
      seen.add(r[i]);
    }
    return true;
  }
  for (const r of rows) {
    // JSON of the key tuple: exact for strings, numbers and booleans, whatever characters they hold.
    const k = JSON.stringify(at.map((i) => r[i]));
    if (seen.has(k)) return false;
    seen.add(k);
  }
  return true;
}

/** The columns a row carries, in order: every column but the generated ones. */
export function stagedColumns(t: OutputTable): readonly OutputColumn[] {
  return t.columns.some((c) => c.generated) ? t.columns.filter((c) => !c.generated) : t.columns;
}

/**
 * `CREATE TABLE IF NOT EXISTS` for a declared table, in a store's dialect. PostgreSQL gets no
 * `replace.hashColumn`: its upsert is `ON CONFLICT ... DO UPDATE` on the primary key's index, and
 * the hash narrowing is a DuckDB cost (see OutputTable.replace). Its text columns are in the "C"
 * collation: they sort by bytes as in DuckDB, so reports list the same rows in the same order
 * whatever the database's default collation (an ICU en-US database sorts `_ -z a B Z`, DuckDB
 * `-z B Z _ a`: test/usage/pg-reports.test.ts fails 36 reports without it). Equality and joins
 * with default-collation columns are unaffected.
 */
export function createTableSql(t: OutputTable, kind: StoreKind = 'duckdb'): string {
  const cols = t.columns.map((c) => {
    const notNull = c.notNull || t.key.includes(c.name) ? ' NOT NULL' : '';
    const dflt = c.default !== undefined ? ` DEFAULT ${c.default}` : '';
    return `${quoteIdent(c.name)} ${columnTypeSql(kind, c.type)}${kind === 'postgres' && c.type === 'VARCHAR' ? ' COLLATE "C"' : ''}${notNull}${dflt}`;
  });
  if (t.replace?.hashColumn && kind === 'duckdb') cols.push(`${quoteIdent(t.replace.hashColumn)} UBIGINT`);
  if (keyedIn(t, kind)) cols.push(`PRIMARY KEY (${t.key.map(quoteIdent).join(', ')})`);
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(t.name)} (${cols.join(', ')})`;
}

/**
 * Whether a table gets its PRIMARY KEY in a store. A `replace` table on DuckDB does not: its
 * rows are only ever written by DELETE + INSERT of whole keys, one row per key per commit, so
 * the key's ART index only checks what the committer already guarantees, and DuckDB holds it in
 * memory once a commit touches the table. Under live load at 20,200 files (bench:live-cost),
 * DuckDB's ART_INDEX memory went from 16 to 9-11 MB without the keys of the three replace tables
 * (the checkpoints, usage_files, lines_file_stats). PostgreSQL upserts on the key's index.
 */
export function keyedIn(t: OutputTable, kind: StoreKind): boolean {
  return !(kind === 'duckdb' && t.replace);
}

/**
 * Version 1 of a component that only has declared tables. Later versions must
 * hold on a database created from the current declarations too (e.g.
 * `ADD COLUMN IF NOT EXISTS`), since version 1 always creates today's tables.
 */
export function tablesMigration(tables: readonly OutputTable[], description = tables.map((t) => t.name).join(', ')): Migration {
  return { version: 1, description, up: tables.map((t) => createTableSql(t)), postgres: tables.map((t) => createTableSql(t, 'postgres')) };
}
