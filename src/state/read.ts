/**
 * Reads for people (reports, `sql`, `export`), apart from the write path.
 *
 * Each read gets a DuckDB connection of its own, inside a read-only
 * transaction: it sees one committed snapshot (MVCC), never half a commit, and
 * it never queues behind the committer's connection, nor the committer behind
 * it. A time limit interrupts the connection, which stops the query inside
 * DuckDB (a JS-side timeout would leave it running).
 */
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import type { Db, Params } from './db.js';
import type { StoreKind } from './dialect.js';

/** What a report reads through: one committed snapshot, read-only. Rows as `Db.all` returns them. */
export interface ReadQuery {
  /** The store, for the SQL fragments that differ (state/dialect.ts); absent: DuckDB. */
  readonly kind?: StoreKind;
  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]>;
}

/** A read stopped by its row cap or time limit. */
export class ReadLimitError extends Error {
  readonly name = 'ReadLimitError';
}

export interface ReadSnapshot extends ReadQuery {
  /** The snapshot's connection, for streaming reads (`sql`, `export`). */
  readonly conn: DuckDBConnection;
}

export interface ReadOptions {
  /** Interrupt the read after this long (0 = no limit). */
  timeoutMs: number;
  /** How the limit is named in the error ("--timeout-ms"). */
  limitName?: string;
}

/** Run `fn` on a fresh connection in a read-only transaction, then close it. */
export async function withSnapshot<T>(db: Db, opts: ReadOptions, fn: (s: ReadSnapshot) => Promise<T>): Promise<T> {
  const conn = await db.readerConnection();
  let timedOut = false;
  const timer =
    opts.timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          conn.interrupt();
        }, opts.timeoutMs)
      : null;
  timer?.unref();
  const snapshot: ReadSnapshot = {
    conn,
    // Chunk by chunk (~2k rows), with a turn of the event loop between: converting a 20,000-row
    // report to JS objects at once holds the daemon's loop, and /health with it.
    async all<R>(sql: string, params?: Params): Promise<R[]> {
      const result = await conn.stream(sql, params as DuckDBValue[] | undefined);
      const out: R[] = [];
      for await (const rows of result.yieldRowObjectJs()) {
        for (const r of rows) out.push(r as R);
        await new Promise<void>((r) => setImmediate(r));
      }
      return out;
    },
  };
  try {
    await conn.run('BEGIN TRANSACTION READ ONLY');
    return await fn(snapshot);
  } catch (err) {
    if (timedOut) {
      throw new ReadLimitError(`stopped after ${formatLimit(opts.timeoutMs)}: the time limit (${opts.limitName ?? '--timeout-ms'}) was reached`);
    }
    throw err;
  } finally {
    if (timer) clearTimeout(timer);
    try {
      await conn.run('ROLLBACK');
    } catch {
      // Interrupted or failed: the transaction is gone with the connection.
    }
    conn.closeSync();
  }
}

function formatLimit(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** At most `n` reads at once; the rest wait their turn (two cores: a third read would only slow the daemon). */
export class ReadGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly n: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
