/**
 * Reads for people (reports, `sql`, `export`), apart from the write path.
 *
 * Each read gets a connection of its own (`Db.snapshot`), inside a read-only
 * transaction: it sees one committed snapshot (MVCC), never half a commit, and
 * it never queues behind the committer's connection, nor the committer behind
 * it. A time limit stops the query inside the store (DuckDB: an interrupt;
 * PostgreSQL: `statement_timeout`); a JS-side timeout would leave it running.
 */
import type { Db, Params } from './db.js';
import type { StoreKind } from './dialect.js';

/** What a report reads through: one committed snapshot, read-only. Rows as `Db.all` returns them. */
export interface ReadQuery {
  /** Which store answers: a report whose SQL differs per store picks its spelling by it. */
  readonly kind: StoreKind;
  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]>;
}

/** A read stopped by its row cap or time limit. */
export class ReadLimitError extends Error {
  readonly name = 'ReadLimitError';
}

/** A read dropped because whoever asked for it went away (a closed page, a stopped client). */
export class ReadAbortedError extends Error {
  readonly name = 'ReadAbortedError';
  constructor() {
    super('the read was abandoned by its client');
  }
}

/** A result column: its name (duplicates made unique: a, a_1) and the store's type name (DuckDB's spelling). */
export interface ReadColumn {
  name: string;
  type: string;
}

/** A result read chunk by chunk (about 2k rows each), rows as arrays in column order. */
export interface RowStream {
  readonly columns: readonly ReadColumn[];
  chunks(): AsyncIterable<unknown[][]>;
}

export interface ReadSnapshot extends ReadQuery {
  /** Stream a query of ours (export). */
  stream(sql: string, params?: Params): Promise<RowStream>;
  /**
   * Stream an analyst's text (`sql`), after the store's own checks: exactly one statement, and a
   * reading one. Throws `SqlRefusedError` (src/state/sql.ts) when the store refuses it.
   */
  statement(text: string): Promise<RowStream>;
}

export interface ReadOptions {
  /** Interrupt the read after this long (0 = no limit). */
  timeoutMs: number;
  /** How the limit is named in the error ("--timeout-ms"). */
  limitName?: string;
  /**
   * The asker went away: the read stops (DuckDB: an interrupt of its running query; both stores:
   * no further statement) and rejects with ReadAbortedError.
   */
  signal?: AbortSignal;
}

/** Run `fn` on a fresh connection in a read-only transaction, then close it. */
export function withSnapshot<T>(db: Db, opts: ReadOptions, fn: (s: ReadSnapshot) => Promise<T>): Promise<T> {
  const signal = opts.signal;
  if (!signal) return db.snapshot(opts, fn);
  if (signal.aborted) return Promise.reject(new ReadAbortedError());
  const live = () => {
    if (signal.aborted) throw new ReadAbortedError();
  };
  return db.snapshot(opts, (s) =>
    fn({
      kind: s.kind,
      all: async (sql, params) => (live(), s.all(sql, params)),
      stream: async (sql, params) => (live(), s.stream(sql, params)),
      statement: async (text) => (live(), s.statement(text)),
    }),
  );
}

/** The error a store throws when a read hit its time limit. */
export function timeLimitError(opts: ReadOptions): ReadLimitError {
  return new ReadLimitError(`stopped after ${formatLimit(opts.timeoutMs)}: the time limit (${opts.limitName ?? '--timeout-ms'}) was reached`);
}

function formatLimit(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** At most `n` reads at once; the rest wait their turn (two cores: a third read would only slow the daemon). */
export class ReadGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly n: number) {}

  /** `signal`: a read whose asker goes away while it waits leaves the queue (ReadAbortedError). */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw new ReadAbortedError();
    if (this.running >= this.n) {
      await new Promise<void>((resolve, reject) => {
        const turn = () => {
          signal?.removeEventListener('abort', gone);
          resolve();
        };
        const gone = () => {
          const i = this.waiting.indexOf(turn);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(new ReadAbortedError());
        };
        signal?.addEventListener('abort', gone, { once: true });
        this.waiting.push(turn);
      });
    }
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
