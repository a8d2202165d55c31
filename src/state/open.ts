/**
 * Opening the store named by `--db` / SESSION_PIPELINE_DB: a `postgres://` or
 * `postgresql://` URL is PostgreSQL, anything else a DuckDB file (or `:memory:`).
 */
import type { Db } from './db.js';
import { storeKindOf } from './dialect.js';

export interface OpenOptions {
  /** Read only: DuckDB opens the file READ_ONLY (creating nothing); PostgreSQL opens no writer connection. */
  readOnly?: boolean;
  /** DuckDB: `false` turns off file and network access for good (the `sql` command's queries run on it). */
  externalAccess?: boolean;
  /** PostgreSQL: the readers' pool size. */
  pgPoolMax?: number;
  /** DuckDB: the instance's threads (unset: one per core, DuckDB's default). */
  threads?: number;
}

export async function openStore(location: string, opts: OpenOptions = {}): Promise<Db> {
  if (storeKindOf(location) === 'postgres') {
    const { PgDb } = await import('./postgres.js');
    return PgDb.open(location, { readOnly: opts.readOnly, poolMax: opts.pgPoolMax });
  }
  const { DuckDb } = await import('./duckdb.js');
  return DuckDb.open(location, { readOnly: opts.readOnly, externalAccess: opts.externalAccess, threads: opts.threads });
}
