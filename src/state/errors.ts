/**
 * Database errors, apart from the DuckDB binding so that commands which only
 * report them (and never open a database) do not load it.
 */
export class DatabaseLockedError extends Error {
  constructor(
    readonly dbPath: string,
    readonly detail: string,
  ) {
    super(`database ${dbPath} is locked by another process (${detail})`);
    this.name = 'DatabaseLockedError';
  }
}

/** DuckDB's own report (an error or its message) that a block of its file is damaged. */
export function isStorageCorruption(err: unknown): boolean {
  return /Corrupt database file|checksum \S+ does not match/i.test(String((err as Error)?.message ?? err));
}

/**
 * A commit that failed because the database could not be written (disk full,
 * read-only file, I/O error). It says nothing about the processor, and after
 * one DuckDB may fail fatally on a later transaction (an index left out of
 * step by the failed commit), so the committer stops writing at the first.
 */
export function isStorageError(err: unknown): boolean {
  const msg = String((err as Error)?.message ?? err);
  return /IO Error|No space left on device|Could not write file|Disk quota exceeded|read-only|Input\/output error/i.test(msg);
}

/** What to do about a damaged file: the transcripts are the source, except for those since deleted. */
const CORRUPT_HINT =
  '. The file is damaged: move it and its .wal aside and run again to rebuild from the transcripts' +
  ' (outputs of transcripts that no longer exist cannot be rebuilt)';

export class DatabaseOpenError extends Error {
  constructor(
    readonly dbPath: string,
    readonly detail: string,
  ) {
    super(`cannot open database ${dbPath}: ${detail}${isStorageCorruption(detail) ? CORRUPT_HINT : ''}`);
    this.name = 'DatabaseOpenError';
  }
}

/** The database stopped accepting writes mid-run (disk full, read-only, I/O error). Nothing past the last commit is recorded. */
export class DatabaseWriteError extends Error {
  constructor(
    readonly dbPath: string,
    readonly detail: string,
  ) {
    super(`cannot write to database ${dbPath}: ${detail}`);
    this.name = 'DatabaseWriteError';
  }
}

/** The store's server did not answer at start (PostgreSQL down, wrong host or port): exit 1, like any open failure. */
export class StoreUnreachableError extends DatabaseOpenError {
  constructor(location: string, detail: string) {
    super(location, detail);
    this.message = `cannot reach the database ${location} (--db / SESSION_PIPELINE_DB): ${detail}`;
    this.name = 'StoreUnreachableError';
  }
}

/**
 * A PostgreSQL connection that broke or could not be made: the server restarted, the network
 * dropped, or it is starting or shutting down. Nothing about the data: the committer retries the
 * same group on a new connection (a transaction on a broken connection never committed, or its
 * outcome was checked: see PgDb.transaction).
 */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  // 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now.
  if (/^08/.test(code) || /^57P0[123]$/.test(code)) return true;
  if (/^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/.test(code)) return true;
  const msg = String(e?.message ?? err);
  return /Connection terminated|connection error and is not queryable|Client was closed and is not queryable|terminating connection due to administrator command|the database system is (starting up|shutting down|in recovery mode)|timeout exceeded when trying to connect|ECONNREFUSED|ECONNRESET/i.test(msg);
}
