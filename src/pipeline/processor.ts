/**
 * The processor contract. A processor turns newly completed lines of one
 * session file into rows, and can take back (retract) everything it wrote for
 * a file. The runner owns offsets, fingerprints, retries and transactions; a
 * processor owns only its output tables.
 *
 * Everything a processor writes goes through the `ProcessorTx` handle and is
 * committed in the same DuckDB transaction as the file's new checkpoint, so a
 * crash can never separate an output from the offset that produced it.
 *
 * A processor is one folder under `pipelines/` exporting a
 * `ProcessorDefinition`: its settings (merged into the CLI and config), its
 * reports, and `create`, which builds the `Processor` from the settings.
 * docs/processors.md describes the contract; `pipelines/lines` is the
 * minimal example.
 */
import type { SessionFileRef } from '../discover/session-path.js';
import type { Migration } from '../state/migrations.js';
import type { Db } from '../state/db.js';
import type { Setting } from '../config/config.js';
import type { CellValue, OutputTable } from '../state/table.js';
import type { SessionLine } from '../read/line.js';
import type { ReportDefinition } from './report.js';
import type { BadLine } from '../read/parse.js';
import type { LiftSpec } from '../read/lift.js';

export type { SessionLine } from '../read/line.js';
export type { CellValue, ColumnType, OutputColumn, OutputTable } from '../state/table.js';
export { createTableSql, tablesMigration } from '../state/table.js';

export interface Batch<Carry = unknown> {
  file: SessionFileRef;
  lines: readonly SessionLine[];
  /**
   * The batch's bad lines (invalid JSON or UTF-8, not an object, oversize), in
   * file order, with their line numbers and (but oversize) their text. The
   * runner records them in session_bad_lines; a processor that must see every
   * byte (secrets) scans their text. Interleave with `lines` by `line`.
   */
  bad: readonly BadLine[];
  /** Byte range this batch covers: [fromOffset, toOffset). `toOffset` ends just after a `\n`. */
  fromOffset: number;
  toOffset: number;
  /** Carry state committed with the previous batch of this file (undefined at offset 0). */
  carry: Carry | undefined;
}

export interface ProcessorTx {
  /** Stage one row for bulk load, values in the table's column order (generated columns left out). */
  insert(table: string, row: readonly CellValue[]): void;
  /** Run a statement in the commit transaction, before any staged rows are loaded. */
  run(sql: string, params?: readonly CellValue[]): void;
  /** Replace this file's carry state; it is committed with the new offset. */
  setCarry(carry: unknown): void;
  /** Count output items for progress reporting (rows, findings, ...). */
  countItems(n: number): void;
  /**
   * Call `fn` once this batch's transaction has committed; never if it fails or rolls back.
   * For remembering what is stored, to skip restaging it. A worker thread's twin is never
   * called back, so skip only what is safe to stage again.
   */
  afterCommit(fn: () => void): void;
}

/** What `init` gets: the database (after migrations, before any batch) and the session root. */
export interface ProcessorInit {
  db: Db;
  root: string;
}

/**
 * `(await import(module))[factory](options)` makes the processor in a worker
 * thread. `options` must survive structured cloning; `process` and `retract`
 * there only see what the recipe carries (no database: `init` is not called).
 */
export interface ProcessorRecipe {
  /** A module URL (`import.meta.url` of the processor's module). */
  module: string;
  /** An exported function `(options) => Processor`. */
  factory: string;
  options: unknown;
}

export interface Processor<Carry = unknown> {
  /** Lowercase word; the key in session_processor_state. Unique among the processors of a run. */
  readonly name: string;
  /** A positive integer. Bumping it retracts and reprocesses every file from offset 0. */
  readonly version: number;
  /** Tables this processor bulk-loads through `tx.insert`; no two processors may declare one table. */
  readonly tables: readonly OutputTable[];
  /**
   * Versioned migrations for this processor's own tables. Default: version 1
   * creates the declared `tables` (`tablesMigration`). A processor with views
   * or private tables lists its own, deriving table DDL with `createTableSql`.
   */
  readonly migrations?: readonly Migration[];
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
  /** Metrics computed from this processor's committed rows, on `GET /metrics` (src/pipeline/metric.ts). */
  readonly metrics?: ProcessorMetrics;
  /**
   * Which string values of a line this processor reads, so a run whose processors all declare
   * it parses lines without the rest (src/read/lift.ts): a string value of 64 bytes or more
   * whose innermost key is not in `keys` and that holds none of `markers` reaches `process` as
   * `""`. Lines are still validated exactly (a bad line is as bad as before). Absent: every
   * value, whole (the default; `secrets` needs it). See docs/processors.md.
   */
  readonly reads?: LiftSpec;
  /**
   * Work on the processor's own derived tables off the commit path. `watch` calls `run` once
   * commits have paused for `idleMs`, or after `maxWaitMs` of commits without a pause, and
   * `run --once` once at its end; on the writer, serialised with commits (the usage processor
   * folds its cross-file picks and their rollups this way: pipelines/usage/fold.ts). A failure is logged and
   * tried again later; the tables must be correct without it.
   */
  readonly upkeep?: { readonly idleMs: number; readonly maxWaitMs: number; run(db: Db): Promise<void> };
  /** Optional one-time setup once the processor's migrations ran (e.g. reading its own state). */
  init?(ctx: ProcessorInit): Promise<void>;
  process(batch: Batch<Carry>, tx: ProcessorTx): void | Promise<void>;
  /**
   * How a worker thread builds an identical processor, so a large backfill can
   * read, parse and process on every core (src/pipeline/workers/). Called after
   * `init`. Without it, the processor always runs on the main thread.
   */
  remote?(): ProcessorRecipe;
  /**
   * Remove every output this processor wrote for the file. Default: delete
   * the file's rows (`session_file = $1`) from every declared table.
   */
  retract?(sessionFile: string, tx: ProcessorTx): void | Promise<void>;
}

export type { ReportDefinition } from './report.js';
import type { ProcessorMetrics } from './metric.js';
export type { ProcessorMetrics } from './metric.js';

/** Settings a processor declares, by config key (camelCase, unique across the core and all processors). */
export type SettingsTable = Readonly<Record<string, Setting<unknown>>>;
export type SettingValues<S extends SettingsTable> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** What a `pipelines/<name>/index.ts` exports: everything the core needs to register the processor. */
export interface ProcessorDefinition<S extends SettingsTable = SettingsTable> {
  readonly name: string;
  /** Flags and environment variables of this processor, merged into `run` and `watch` (see config.ts `Setting`). */
  readonly settings?: S;
  /**
   * Reports served by `report <name>` and `GET /reports/<name>` (src/pipeline/report.ts), known
   * without building the processor: the CLI lists report commands before reading any config.
   * The processor built by `create` holds the same objects in its `reports`.
   */
  readonly reports?: readonly ReportDefinition[];
  /** Tables and views `export` writes, one file each (tables first). */
  readonly exports?: readonly string[];
  /** Build the processor from its settings (and the session root). */
  create(settings: SettingValues<S> & { root: string }): Processor;
}

/** A processor definition, typed from its settings table. */
export function defineProcessor<S extends SettingsTable = Record<never, never>>(d: ProcessorDefinition<S>): ProcessorDefinition<S> {
  return d;
}
