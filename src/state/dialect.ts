/**
 * The two stores and where their SQL differs. Most SQL in this project is
 * written once in the common subset of DuckDB and PostgreSQL 15; what cannot
 * be (types, list aggregates, epoch conversions, ...) is spelled here, once per
 * store, and selected by `Dialect`.
 */

export type StoreKind = 'duckdb' | 'postgres';

/** `--db` / SESSION_PIPELINE_DB: a `postgres://` or `postgresql://` URL selects PostgreSQL; anything else is a DuckDB file. */
export function storeKindOf(location: string): StoreKind {
  return /^postgres(ql)?:\/\//i.test(location) ? 'postgres' : 'duckdb';
}

/** A store's location as logs, errors and /health show it: a URL without its password. */
export function displayLocation(location: string): string {
  if (storeKindOf(location) !== 'postgres') return location;
  try {
    const u = new URL(location);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return location.replace(/:[^:@/]*@/, ':***@');
  }
}

/** A declared column type (state/table.ts) in a store's DDL. */
export function columnTypeSql(kind: StoreKind, type: string): string {
  if (kind === 'postgres') {
    if (type === 'DOUBLE') return 'DOUBLE PRECISION';
    if (type === 'UBIGINT') return 'BIGINT';
  }
  return type;
}
