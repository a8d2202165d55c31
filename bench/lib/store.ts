/**
 * Reading results back from either store, for benchmarks and tests that check
 * what a run left behind: one `StoreReader` over a DuckDB file or a PostgreSQL
 * URL, opened as `--db` is (`openStore`), whose rows carry plain JS values:
 * every integer a number (both stores give BIGINT as bigint), so the same
 * assertion holds on both stores and compares with JS numbers.
 *
 * And a fresh PostgreSQL database on a server, for a bench that needs one per
 * run (tests use test/pg.ts); and how a store holds session keys.
 */
import os from 'node:os';
import pg from 'pg';
import { sessionKeys, type SessionKeys } from '../../src/discover/session-path.js';
import { openStore } from '../../src/state/open.js';
import { storeKindOf, type StoreKind } from '../../src/state/dialect.js';

export type Row = Record<string, unknown>;

export interface StoreReader {
  readonly kind: StoreKind;
  all<T = Row>(sql: string, params?: readonly (string | number | boolean | null)[]): Promise<T[]>;
  close(): Promise<void>;
}

function plainRow(r: Row): Row {
  const o: Row = {};
  for (const [k, v] of Object.entries(r)) o[k] = typeof v === 'bigint' ? Number(v) : v;
  return o;
}

/** Open a store for reading (a DuckDB file no other process holds, or any PostgreSQL database). */
export async function openStoreReader(location: string): Promise<StoreReader> {
  const db = await openStore(location);
  return {
    kind: db.kind,
    async all<T>(sql: string, params?: readonly (string | number | boolean | null)[]) {
      return (await db.all<Row>(sql, params)).map(plainRow) as T[];
    },
    close: () => db.close(),
  };
}

/** Open, run one query, close. */
export async function queryStore<T = Row>(location: string, sql: string, params: readonly (string | number | boolean | null)[] = []): Promise<T[]> {
  const r = await openStoreReader(location);
  try {
    return await r.all<T>(sql, params);
  } finally {
    await r.close();
  }
}

/** The URL of database `name` on the server `serverUrl` names. */
export function databaseUrl(serverUrl: string, name: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** CREATE DATABASE on a server; returns its URL and a `drop()` that forces out connections left open. */
export async function createPgDatabase(serverUrl: string, name: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE "${name}"`);
  return { url: databaseUrl(serverUrl, name), drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

/**
 * How `location`'s store holds session keys: a shared (PostgreSQL) store as `<source>:<key>`
 * (`--source-name`, default the hostname, as for the CLI and `Pipeline.open`), an embedded one
 * as they are. Benches and tests check rows against relative keys through it.
 */
export function storeKeys(location: string, source: string = os.hostname()): SessionKeys {
  return sessionKeys(storeKindOf(location) === 'postgres' ? source : null);
}
