/**
 * Reading results back from either store, for benchmarks and tests that check
 * what a run left behind: one `StoreReader` over a DuckDB file or a PostgreSQL
 * URL (chosen by `storeKindOf`, as `--db` is), whose rows carry plain JS
 * values: every integer a number (DuckDB gives BIGINT as bigint, PostgreSQL's
 * driver gives int8 and numeric, e.g. `sum(bigint)`, as strings), so the same
 * assertion holds on both stores.
 *
 * And a fresh PostgreSQL database on a server, for a bench that needs one per
 * run (tests use test/pg.ts).
 */
import pg from 'pg';
import { openStore } from '../../src/state/open.js';
import { storeKindOf, type StoreKind } from '../../src/state/dialect.js';

export type Row = Record<string, unknown>;

export interface StoreReader {
  readonly kind: StoreKind;
  all<T = Row>(sql: string, params?: readonly (string | number | boolean | null)[]): Promise<T[]>;
  close(): Promise<void>;
}

/** A number where the value is one (bigint, numeric text of a numeric column); anything else as it came. */
function plain(v: unknown): unknown {
  return typeof v === 'bigint' ? Number(v) : v;
}

function plainRow(r: Row): Row {
  const o: Row = {};
  for (const [k, v] of Object.entries(r)) o[k] = plain(v);
  return o;
}

const INT8 = 20;
const NUMERIC = 1700;

/** A client whose int8 and numeric columns parse to numbers (the tests' values stay far below 2^53). */
function pgClient(url: string): pg.Client {
  return new pg.Client({
    connectionString: url,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8 || oid === NUMERIC ? (s: string) => Number(s) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
}

/** Open a store for reading (a DuckDB file no other process holds, or any PostgreSQL database). */
export async function openStoreReader(location: string): Promise<StoreReader> {
  if (storeKindOf(location) === 'postgres') {
    const c = pgClient(location);
    await c.connect();
    return {
      kind: 'postgres',
      async all<T>(sql: string, params: readonly unknown[] = []) {
        const r = await c.query(sql, params as unknown[]);
        return r.rows as T[];
      },
      close: () => c.end(),
    };
  }
  const db = await openStore(location);
  return {
    kind: 'duckdb',
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
