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
