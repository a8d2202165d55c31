/**
 * The one DuckDB database of a pipeline process. DuckDB admits a single
 * writer process per file, so a second daemon (or a `run --once` next to a
 * daemon) fails fast here with a `DatabaseLockedError`.
 *
 * All writes go through one connection, serialised by a promise chain:
 * DuckDB transactions are per connection, and interleaving two async callers
 * on one connection would mix their statements into one transaction.
 */
import fs from 'node:fs';
import { AsyncLocalStorage } from 'node:async_hooks';
import path from 'node:path';
import { DuckDBConnection, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';

export { DatabaseLockedError, DatabaseOpenError, DatabaseWriteError } from './errors.js';
import { DatabaseLockedError, DatabaseOpenError } from './errors.js';

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

export type Params = readonly (string | number | boolean | bigint | null)[];

export class Db {
  private queue: Promise<unknown> = Promise.resolve();
  /** Marks the async context of the running transaction: only its own statements bypass the queue. */
  private readonly txContext = new AsyncLocalStorage<true>();
  private closed = false;

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
  static async open(dbPath: string, opts: { readOnly?: boolean; externalAccess?: boolean; retried?: boolean } = {}): Promise<Db> {
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
      instance = await DuckDBInstance.create(dbPath, config);
    } catch (err) {
      const msg = (err as Error).message;
      // DuckDB: 'Could not set lock on file ... Conflicting lock is held in ...'. Not /lock/: 'block' matches.
      if (/\block\b|Conflicting lock/i.test(msg)) throw new DatabaseLockedError(dbPath, msg.split('\n')[0]);
      // A create that failed before writing the header (disk full) leaves an empty file that DuckDB
      // then refuses forever. Empty, it holds nothing: remove it and try once more.
      if (!opts.readOnly && !opts.retried && isEmptyLeftover(dbPath)) {
        fs.rmSync(dbPath, { force: true });
        return Db.open(dbPath, { ...opts, retried: true });
      }
      throw new DatabaseOpenError(dbPath, msg.split('\n')[0]);
    }
    const conn = await instance.connect();
    return new Db(dbPath, instance, conn);
  }

  /** A second connection on the same instance, for readers that must not queue behind commits. */
  async readerConnection(): Promise<DuckDBConnection> {
    return this.instance.connect();
  }

  /** Serialise `fn` after everything queued before it. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    // Re-entrant only for statements issued from inside transaction()'s callback; any other
    // caller waits, or its statement would run inside someone else's transaction.
    if (this.txContext.getStore()) return fn();
    const next = this.queue.then(fn, fn);
    // The chain must not hold the last result: a 150k-row load would stay alive until the next statement.
    this.queue = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  run(sql: string, params?: Params): Promise<void> {
    return this.exclusive(async () => {
      await this.conn.run(sql, params as DuckDBValue[] | undefined);
    });
  }

  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]> {
    return this.exclusive(async () => {
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
      const result = await this.conn.stream(sql, params as DuckDBValue[] | undefined);
      for await (const rows of result.yieldRowObjectJs()) onRows(rows as T[]);
    });
  }

  /** Run `fn` in one transaction; statements inside must use this Db (re-entrant). */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      await this.conn.run('BEGIN TRANSACTION');
      try {
        const out = await this.txContext.run(true, fn);
        await this.conn.run('COMMIT');
        return out;
      } catch (err) {
        try {
          await this.conn.run('ROLLBACK');
        } catch {
          // The transaction may already be aborted; the original error matters.
        }
        throw err;
      }
    });
  }

  /** Checkpoint the WAL into the database file, then close connection before instance. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    try {
      await this.conn.run('CHECKPOINT');
    } catch {
      // A read-only or failed database cannot checkpoint; closing still releases the lock.
    }
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
