/**
 * The DuckDB store: the one database file of a pipeline process. DuckDB admits a
 * single writer process per file, so a second daemon (or a `run --once` next to
 * a daemon) fails fast here with a `DatabaseLockedError`.
 *
 * All writes go through one connection, serialised by a promise chain:
 * DuckDB transactions are per connection, and interleaving two async callers
 * on one connection would mix their statements into one transaction.
 */
import fs from 'node:fs';
import { SerialWriter } from './serial.js';
import path from 'node:path';
import type { DuckDBAppender, DuckDBConnection, DuckDBInstance, DuckDBValue } from '@duckdb/node-api';
import { duckdb } from './duckdb-api.js';
import { DatabaseLockedError, DatabaseOpenError } from './errors.js';
import type { Db, Params, StoreHealth } from './db.js';
import { quoteIdent as quote, keysAreDistinct, stagedColumns, type CellValue, type OutputTable } from './table.js';
import { ReadAbortedError, timeLimitError, type ReadOptions, type ReadSnapshot, type RowStream } from './read.js';
import { SqlRefusedError, firstLine } from './sql.js';
import { TimeSlicer } from '../loop/yield.js';
import { JOURNAL_DDL, JOURNAL_TABLE, journalRow, journalSource, keyFlags, mergeDelayMs } from './journal.js';

/** A zero-length database file with no (or an empty) WAL next to it. */
function isEmptyLeftover(dbPath: string): boolean {
  if (dbPath === ':memory:') return false;
  try {
    if (fs.statSync(dbPath).size !== 0) return false;
  } catch {
    return false;
  }
  try {
    return fs.statSync(`${dbPath}.wal`).size === 0;
  } catch {
    return true;
  }
}

export interface DuckDbOptions {
  readOnly?: boolean;
  externalAccess?: boolean;
  /** The instance's worker threads; unset, DuckDB takes one per core. */
  threads?: number;
  retried?: boolean;
}

export class DuckDb implements Db {
  readonly kind = 'duckdb' as const;
  private readonly serial = new SerialWriter<true>();
  private closed = false;
  /** Staging tables created on the writer connection (temp tables live as long as it does). */
  private readonly staged = new Set<string>();
  private readonly slicer = new TimeSlicer();
  /** Tables whose loads go to their journal (`useJournal` with `defer`), by name: journal.ts. */
  private readonly journaled = new Map<string, { spec: OutputTable; keys: boolean[] }>();
  /** Tables that may have rows in the journal not merged yet (committed, or appended in the running transaction). */
  private readonly unmerged = new Map<string, OutputTable>();
  /** The running transaction's journal appender: one for every table, flushed before COMMIT or a merge. */
  private journalAppender: DuckDBAppender | null = null;
  /** The next journal row's `_seq`: it grows across commits, which the merge's `prefer` orders by. */
  private journalSeq = 0;
  private journaledInTx = false;
  /** When the first commit not merged yet committed (for MERGE_MAX_MS). */
  private pendingSince: number | null = null;
  private mergeTimer: NodeJS.Timeout | null = null;
  /** The last merge that failed (a timer's: nobody waits for it), for /health. */
  private mergeFailure: { message: string; at: string } | null = null;

  private constructor(
    readonly path: string,
    private readonly instance: DuckDBInstance,
    readonly conn: DuckDBConnection,
  ) {}

  /**
   * `readOnly` opens an existing file for reading only: it creates neither the file nor its
   * directory, and works for a user who may only read it.
   * `externalAccess: false` shuts off everything that reads or writes other files or the
   * network (COPY, ATTACH, read_csv, glob, INSTALL/LOAD), for good: DuckDB refuses to turn it
   * back on while the database is open. The pipeline needs none of it, and the `sql`
   * command's queries run on its connections.
   */
  static async open(dbPath: string, opts: DuckDbOptions = {}): Promise<DuckDb> {
    if (dbPath !== ':memory:' && !opts.readOnly) {
      try {
        fs.mkdirSync(path.dirname(path.resolve(dbPath)), { recursive: true });
      } catch (err) {
        throw new DatabaseOpenError(dbPath, (err as Error).message);
      }
    }
    let instance: DuckDBInstance;
    try {
      const config: Record<string, string> = {};
      if (opts.readOnly) config.access_mode = 'READ_ONLY';
      if (opts.externalAccess === false) config.enable_external_access = 'false';
      if (opts.threads) config.threads = String(opts.threads);
      // DuckDB checkpoints inside the commit that takes the WAL past this size, and a checkpoint
      // here costs 0.5-1.1 s whatever the WAL holds (bench:live-reads, 20,200 files: at 4 MB every
      // commit checkpointed and took 0.5-1.5 s; at the default 16 MB one commit every ~45 s took 1.1 s
      // and set the minute's append -> commit p99). 64 MB: one such commit every ~5 min at 200
      // live files. The cost is at start after a kill: a 64 MB WAL of 200-row commits replayed
      // in 1.2 s here (16 MB: a quarter of that).
      if (!opts.readOnly) config.checkpoint_threshold = CHECKPOINT_THRESHOLD;
      // DuckDB allocates with glibc malloc here (this build links no jemalloc), and glibc keeps
      // what DuckDB frees: after each journal merge the RSS stepped up and stayed. Over this
      // threshold, a buffer reservation first calls malloc_trim(0), which hands every arena's free
      // pages back (DuckDB's BufferPool, at most one trim per 100 ms; its default is 512 MB, so never
      // here). bench:live-cost, the same hour: peak RSS 290, 292 MB against 319-325 unset, median
      // 257-268 against 301-307; daemon CPU unchanged (17.5-19.1 % against 16.2-20.3 %).
      config.allocator_bulk_deallocation_flush_threshold = BULK_DEALLOCATION_FLUSH_THRESHOLD;
      instance = await duckdb.DuckDBInstance.create(dbPath, config);
    } catch (err) {
      const msg = (err as Error).message;
      // DuckDB: 'Could not set lock on file ... Conflicting lock is held in ...'. Not /lock/: 'block' matches.
      if (/\block\b|Conflicting lock/i.test(msg)) throw new DatabaseLockedError(dbPath, msg.split('\n')[0]);
      // A create that failed before writing the header (disk full) leaves an empty file that DuckDB
      // then refuses forever. Empty, it holds nothing: remove it and try once more.
      if (!opts.readOnly && !opts.retried && isEmptyLeftover(dbPath)) {
        fs.rmSync(dbPath, { force: true });
        return DuckDb.open(dbPath, { ...opts, retried: true });
      }
      throw new DatabaseOpenError(dbPath, msg.split('\n')[0]);
    }
    const conn = await instance.connect();
    return new DuckDb(dbPath, instance, conn);
  }

  get location(): string {
    return this.path;
  }

  /** A second connection on the same instance, for readers that must not queue behind commits. */
  async readerConnection(): Promise<DuckDBConnection> {
    return this.instance.connect();
  }

  /** Serialise `fn` after everything queued before it. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial.exclusive(fn);
  }

  // Every statement on the writer sees the journals merged first (journal.ts).
  run(sql: string, params?: Params): Promise<void> {
    return this.exclusive(async () => {
      await this.mergePending();
      await this.conn.run(sql, params as DuckDBValue[] | undefined);
    });
  }

  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]> {
    return this.exclusive(async () => {
      await this.mergePending();
      const reader = await this.conn.runAndReadAll(sql, params as DuckDBValue[] | undefined);
      return reader.getRowObjectsJS() as T[];
    });
  }

  /**
   * Stream a query's rows to `onRows` chunk by chunk (about 2k rows each), so a large result never
   * exists twice over (DuckDB's chunks plus JS objects), which a full materialisation costs.
   */
  each<T = Record<string, unknown>>(sql: string, onRows: (rows: T[]) => void, params?: Params): Promise<void> {
    return this.exclusive(async () => {
      await this.mergePending();
      const result = await this.conn.stream(sql, params as DuckDBValue[] | undefined);
      for await (const rows of result.yieldRowObjectJs()) onRows(rows as T[]);
    });
  }

  /** Run `fn` in one transaction; statements inside must use this Db (re-entrant; a nested one joins it). */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.serial.current) return fn();
    return this.exclusive(async () => {
      await this.conn.run('BEGIN TRANSACTION');
      this.journaledInTx = false;
      try {
        const out = await this.serial.within(true, fn);
        this.flushJournal();
        await this.conn.run('COMMIT');
        if (this.journaledInTx) this.scheduleMerge();
        return out;
      } catch (err) {
        // A rolled-back transaction takes the staging tables it created with it: forget them all,
        // so the next load creates them again (CREATE OR REPLACE), instead of every later commit failing.
        this.staged.clear();
        try {
          this.journalAppender?.closeSync();
        } catch {
          // Its rows go with the transaction.
        }
        this.journalAppender = null;
        // It may have merged the journal (emptying it) that the rollback filled again.
        for (const { spec } of this.journaled.values()) this.unmerged.set(spec.name, spec);
        try {
          await this.conn.run('ROLLBACK');
        } catch {
          // The transaction may already be aborted; the original error matters.
        }
        throw err;
      }
    });
  }

  async loadStaged(spec: OutputTable, rows: readonly CellValue[][]): Promise<void> {
    if (rows.length === 0) return;
    if (this.journaled.has(spec.name)) {
      if (rows.length < JOURNAL_MAX_ROWS) return this.appendJournal(spec, rows);
      // A backlog's group: merged at once as run --once does, after the journals (older rows) are.
      await this.mergePending();
    }
    const stage = `_stage_${spec.name}`;
    const columns = stagedColumns(spec);
    if (!this.staged.has(spec.name)) {
      const cols = columns.map((c) => `${quote(c.name)} ${c.type}`).join(', ');
      await this.conn.run(`CREATE OR REPLACE TEMP TABLE ${quote(stage)} (_seq BIGINT, ${cols})`);
      this.staged.add(spec.name);
    }
    await this.append(this.conn.createAppender(stage, null, 'temp'), columns, rows, 0);
    await this.mergeFrom(spec, quote(stage), columns, keysAreDistinct(spec, rows));
    await this.conn.run(`DELETE FROM ${quote(stage)}`);
  }

  /**
   * Append `rows` through an appender, `_seq` from `seqBase`. The appender is synchronous: a
   * 20k-row group held the event loop (and the admin API) for 100+ ms. Append and flush in
   * chunks, and give the loop back between them when due.
   */
  private async append(created: Promise<DuckDBAppender>, columns: OutputTable['columns'], rows: readonly CellValue[][], seqBase: number): Promise<void> {
    const appender = await created;
    try {
      for (let from = 0; from < rows.length; from += APPEND_CHUNK_ROWS) {
        appendRows(appender, columns, rows, from, Math.min(rows.length, from + APPEND_CHUNK_ROWS), seqBase);
        appender.flushSync();
        if (this.slicer.due()) await this.slicer.yield();
      }
    } finally {
      appender.closeSync();
    }
  }

  /**
   * Move the rows of `from` (a staging table, or the journal's rows of the table: `_seq`, then `columns`) into
   * `spec`'s table, one row per key by `spec.prefer`, with `spec.onConflict` or `spec.replace`.
   * `distinct`: no two rows share a key, so the one-row-per-key window can be left out.
   */
  private async mergeFrom(spec: OutputTable, from: string, columns: OutputTable['columns'], distinct: boolean): Promise<void> {
    const cols = columns.map((c) => quote(c.name)).join(', ');
    const key = spec.key.map(quote).join(', ');
    const qualify = distinct ? '' : `QUALIFY row_number() OVER (PARTITION BY ${key} ORDER BY ${spec.prefer ?? '_seq DESC'}) = 1`;
    const target = quote(spec.name);
    if (spec.replace) {
      const hashCol = spec.replace.hashColumn;
      const byHash = hashCol ? `${quote(hashCol)} IN (SELECT hash(${key}) FROM ${from}) AND ` : '';
      await this.conn.run(`DELETE FROM ${target} WHERE ${byHash}(${key}) IN (SELECT ${key} FROM ${from})`);
      await this.conn.run(
        `INSERT INTO ${target} (${cols}${hashCol ? `, ${quote(hashCol)}` : ''})
         SELECT ${cols}${hashCol ? `, hash(${key})` : ''} FROM ${from} ${qualify}`,
      );
    } else {
      await this.conn.run(
        `INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${from} ${qualify}
         ON CONFLICT (${key}) ${spec.onConflict ?? 'DO NOTHING'}`,
      );
    }
  }

  /**
   * Merge what a killed process left in the journal for `specs` (its rows may predate a migration
   * that added a column: journalSource's `written`), then, with `defer`, journal these tables'
   * loads from now on (journal.ts). Call before anything reads the tables.
   */
  async useJournal(specs: readonly OutputTable[], opts: { defer: boolean }): Promise<void> {
    await this.exclusive(async () => {
      const found = await this.conn.runAndReadAll(`SELECT 1 FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = $1`, [JOURNAL_TABLE]);
      // Rows of a table none of `specs` declares (its processor is gone) go with the journal.
      if (found.currentRowCount > 0) await this.mergeJournal(specs, { written: 'any', recreate: opts.defer });
      if (opts.defer) {
        await this.conn.run(JOURNAL_DDL);
        for (const spec of specs) if (!spec.mergeAtOnce) this.journaled.set(spec.name, { spec, keys: keyFlags(spec) });
      }
    });
  }

  private async appendJournal(spec: OutputTable, rows: readonly CellValue[][]): Promise<void> {
    const columns = stagedColumns(spec);
    const { keys } = this.journaled.get(spec.name)!;
    // Encoded first: a value the table would refuse fails this commit before anything is appended.
    const encoded = rows.map((r) => journalRow(columns, keys, r));
    this.journalAppender ??= await this.conn.createAppender(JOURNAL_TABLE);
    const appender = this.journalAppender;
    for (let i = 0; i < encoded.length; i++) {
      appender.appendBigInt(BigInt(this.journalSeq++));
      appender.appendVarchar(spec.name);
      appender.appendVarchar(encoded[i]);
      appender.endRow();
      if ((i & 1023) === 1023 && this.slicer.due()) await this.slicer.yield();
    }
    this.unmerged.set(spec.name, spec);
    this.journaledInTx = true;
  }

  /** The running transaction's journal rows into the journal table (before its COMMIT, or a statement that merges). */
  private flushJournal(): void {
    const appender = this.journalAppender;
    if (!appender) return;
    this.journalAppender = null;
    appender.closeSync();
  }

  /**
   * Merge every table's journaled rows into it: in the running transaction when called from
   * inside one, else in a transaction of its own. The caller holds the writer.
   */
  private async mergePending(): Promise<void> {
    if (this.unmerged.size === 0) return;
    if (this.mergeTimer) {
      clearTimeout(this.mergeTimer);
      this.mergeTimer = null;
    }
    try {
      await this.mergeJournal([...this.unmerged.values()], { recreate: true });
    } catch (err) {
      this.mergeFailure = { message: firstLine(err), at: new Date().toISOString() };
      throw err;
    }
    this.unmerged.clear();
    this.pendingSince = null;
  }

  /**
   * Merge the journal's rows of `specs` into their tables and drop it (`recreate`: empty again),
   * in the running transaction when called from inside one, else in one of its own. Dropped and
   * created again, not emptied: deleted rows keep their in-memory blocks until the next WAL
   * checkpoint (DuckDB's IN_MEMORY_TABLE grew 45 -> 66 MB in 50 s at 200 live files).
   */
  private async mergeJournal(specs: readonly OutputTable[], opts: { written?: 'any'; recreate: boolean }): Promise<void> {
    const own = this.serial.current === undefined;
    this.flushJournal();
    if (own) await this.conn.run('BEGIN TRANSACTION');
    try {
      for (const spec of specs) await this.mergeFrom(spec, journalSource(spec, opts.written), stagedColumns(spec), false);
      await this.conn.run(`DROP TABLE ${JOURNAL_TABLE}`);
      if (opts.recreate) await this.conn.run(JOURNAL_DDL);
      if (own) await this.conn.run('COMMIT');
    } catch (err) {
      if (own) await this.conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /** After a commit that journaled: merge once commits pause, or by MERGE_MAX_MS after the first unmerged one. */
  private scheduleMerge(): void {
    const now = Date.now();
    this.pendingSince ??= now;
    if (this.mergeTimer) clearTimeout(this.mergeTimer);
    this.mergeTimer = setTimeout(() => {
      this.mergeTimer = null;
      // A failure is kept for /health; the next read or statement merges again, and says why.
      void this.exclusive(() => this.mergePending()).catch(() => undefined);
    }, mergeDelayMs(now, this.pendingSince));
    this.mergeTimer.unref();
  }

  /**
   * A connection of its own on the same instance, in a read-only transaction. A time limit
   * interrupts the connection, which stops the query inside DuckDB.
   */
  async snapshot<T>(opts: ReadOptions, fn: (s: ReadSnapshot) => Promise<T>): Promise<T> {
    const conn = await this.readerConnection();
    let timedOut = false;
    const timer =
      opts.timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            conn.interrupt();
          }, opts.timeoutMs)
        : null;
    timer?.unref();
    // A page closed mid-read: its query stops at once instead of holding one of the two read slots.
    const abandon = () => conn.interrupt();
    opts.signal?.addEventListener('abort', abandon, { once: true });
    try {
      // What is committed, merged: the journals are the writer's business (journal.ts).
      if (this.unmerged.size > 0) await this.exclusive(() => this.mergePending());
      await conn.run('BEGIN TRANSACTION READ ONLY');
      return await fn(duckSnapshot(conn));
    } catch (err) {
      if (timedOut) throw timeLimitError(opts);
      if (opts.signal?.aborted) throw new ReadAbortedError();
      throw err;
    } finally {
      opts.signal?.removeEventListener('abort', abandon);
      if (timer) clearTimeout(timer);
      try {
        await conn.run('ROLLBACK');
      } catch {
        // Interrupted or failed: the transaction is gone with the connection.
      }
      conn.closeSync();
    }
  }

  /** Write the WAL into the database file now (DuckDB checkpoints on its own past checkpoint_threshold). */
  checkpoint(): Promise<void> {
    return this.run('CHECKPOINT');
  }

  health(): StoreHealth {
    return { kind: this.kind, location: this.location, ...(this.mergeFailure ? { lastError: this.mergeFailure } : {}) };
  }

  /** Checkpoint the WAL into the database file, then close connection before instance. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.serial.drained();
    try {
      // Clears the merge timer too (a timer is set only while the journal has rows).
      await this.exclusive(() => this.mergePending());
    } catch {
      // The journals keep their rows: the next read-write open merges them.
    }
    try {
      await this.conn.run('CHECKPOINT');
    } catch {
      // A read-only or failed database cannot checkpoint; closing still releases the lock.
    }
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

function duckSnapshot(conn: DuckDBConnection): ReadSnapshot {
  const streamOf = (result: Awaited<ReturnType<DuckDBConnection['stream']>>): RowStream => {
    const names = result.deduplicatedColumnNames();
    const types = result.columnTypes().map((t) => t.toString());
    return {
      columns: names.map((name, i) => ({ name, type: types[i] })),
      async *chunks() {
        for await (const rows of result.yieldRowsJs()) yield rows as unknown[][];
      },
    };
  };
  return {
    kind: 'duckdb',
    // Chunk by chunk (~2k rows), with a turn of the event loop between: converting a 20,000-row
    // report to JS objects at once holds the daemon's loop, and /health with it.
    async all<R>(sql: string, params?: Params): Promise<R[]> {
      if (READING_QUERY.test(sql)) {
        const rows = await allAsJson<R>(conn, sql, params);
        if (rows) return rows;
      }
      const result = await conn.stream(sql, params as DuckDBValue[] | undefined);
      const out: R[] = [];
      for await (const rows of result.yieldRowObjectJs()) {
        for (const r of rows) out.push(r as R);
        await new Promise<void>((r) => setImmediate(r));
      }
      return out;
    },
    async stream(sql: string, params?: Params): Promise<RowStream> {
      return streamOf(await conn.stream(sql, params as DuckDBValue[] | undefined));
    },
    async statement(text: string): Promise<RowStream> {
      const prepared = await prepareReading(conn, text);
      let result;
      try {
        result = await prepared.stream();
      } catch (err) {
        prepared.destroySync();
        throw refusal(err);
      }
      const s = streamOf(result);
      return {
        columns: s.columns,
        async *chunks() {
          try {
            yield* s.chunks();
          } finally {
            prepared.destroySync();
          }
        },
      };
    },
  };
}

/** See DuckDb.open. */
export const CHECKPOINT_THRESHOLD = '64MB';
const BULK_DEALLOCATION_FLUSH_THRESHOLD = '64KB';

/** A query of ours that can be a subquery (a SELECT or WITH); others (DESCRIBE, SHOW) read as they are. */
const READING_QUERY = /^\s*(SELECT|WITH)\b/i;

/**
 * A read's rows through DuckDB's own JSON: one `to_json` text a row, parsed a chunk at a time.
 * @duckdb/node-api converts each value at ~1.2 µs whichever reader is used: 300-480 ms for the
 * by-session report's 20,201 rows × 14 columns, against 73-108 ms for its rows as JSON text.
 * Values come as the PostgreSQL store gives them, which the reports decode already
 * (src/state/row-values.ts): BIGINT and HUGEINT as numbers, TIMESTAMP as its text; doubles
 * round-trip exactly. A value JSON cannot hold (a double's NaN or Infinity) makes the chunk
 * unparsable: then null, and the caller reads the rows the usual way in the same snapshot.
 */
async function allAsJson<R>(conn: DuckDBConnection, sql: string, params?: Params): Promise<R[] | null> {
  const result = await conn.stream(`SELECT to_json(q)::VARCHAR FROM (${sql}) q`, params as DuckDBValue[] | undefined);
  const out: R[] = [];
  for await (const rows of result.yieldRowsJs()) {
    let text = '[';
    for (let i = 0; i < rows.length; i++) text += (i === 0 ? '' : ',') + (rows[i][0] as string);
    let parsed: R[];
    try {
      parsed = JSON.parse(text + ']') as R[];
    } catch {
      return null;
    }
    for (const r of parsed) out.push(r);
    await new Promise<void>((r) => setImmediate(r));
  }
  return out;
}

/** One line naming why DuckDB refused the text (external access, a parse or catalog error). */
function refusal(err: unknown): SqlRefusedError {
  const msg = firstLine(err);
  if (/^Permission Error/i.test(msg) || /file system operations are disabled/i.test(msg)) {
    return new SqlRefusedError(`refused: reading files or the network is off for sql (${msg})`);
  }
  return new SqlRefusedError(msg);
}

/** Check the text with DuckDB's parser; returns it prepared. */
async function prepareReading(conn: DuckDBConnection, text: string) {
  let extracted;
  try {
    extracted = await conn.extractStatements(text);
  } catch (err) {
    throw refusal(err);
  }
  if (extracted.count !== 1) {
    throw new SqlRefusedError(`refused: one statement only (found ${extracted.count})`);
  }
  let prepared;
  try {
    prepared = await extracted.prepare(0);
  } catch (err) {
    throw refusal(err);
  }
  const type = prepared.statementType;
  if (type !== duckdb.StatementType.SELECT) {
    prepared.destroySync();
    throw new SqlRefusedError(`refused: only reading statements (SELECT, WITH, DESCRIBE, SHOW) may run; this is ${duckdb.StatementType[type] ?? type}`);
  }
  return prepared;
}

/** Rows per appender flush: about 5 ms of appending here. */
const APPEND_CHUNK_ROWS = 2_000;

/** A load this large (a backlog's group) is merged at once instead of journaled: it is a backfill. */
const JOURNAL_MAX_ROWS = 5_000;

/** Rows `[from, to)` of `rows`, each after its `_seq` (`seqBase + i`). */
function appendRows(appender: DuckDBAppender, columns: OutputTable['columns'], rows: readonly CellValue[][], from: number, to: number, seqBase = 0): void {
  const types = columns.map((c) => c.type);
  for (let i = from; i < to; i++) {
    const row = rows[i];
    appender.appendBigInt(BigInt(seqBase + i));
    for (let c = 0; c < types.length; c++) {
      const v = row[c];
      if (v === null || v === undefined) {
        appender.appendNull();
        continue;
      }
      switch (types[c]) {
        case 'VARCHAR':
          appender.appendVarchar(typeof v === 'string' ? v : String(v));
          break;
        case 'BIGINT':
          appender.appendBigInt(BigInt(Math.trunc(Number(v))));
          break;
        case 'INTEGER':
          appender.appendInteger(Math.trunc(Number(v)));
          break;
        case 'DOUBLE':
          appender.appendDouble(Number(v));
          break;
        case 'BOOLEAN':
          appender.appendBoolean(Boolean(v));
          break;
        case 'TIMESTAMP':
          appender.appendTimestamp(new duckdb.DuckDBTimestampValue(BigInt(Math.round(Number(v) * 1000))));
          break;
      }
    }
    appender.endRow();
  }
}
