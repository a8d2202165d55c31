/**
 * Read-only SQL for analysts (`session-pipeline sql`, `POST /sql`).
 *
 * What may run is decided by the store, not by a pattern over the text
 * (`ReadSnapshot.statement`, in each store's file):
 * - DuckDB splits the text into statements: exactly one is allowed; it
 *   prepares it, and only a `SELECT` statement type runs (`WITH`, `DESCRIBE`,
 *   `SHOW`, `PRAGMA table_info` are SELECTs to DuckDB); the instance has
 *   external access off (`openStore(.., { externalAccess: false })`), so a
 *   SELECT over `read_csv`, `read_parquet`, `glob`, a file path or a URL fails
 *   in DuckDB's binder with a Permission Error;
 * - PostgreSQL gets the text through the extended protocol, which refuses more
 *   than one statement; what a statement may touch is the role's business
 *   (README: give analysts a role without superuser);
 * - both run it in a read-only transaction (`withSnapshot`), so even a SELECT
 *   that would write (`nextval`) is refused.
 */
import { ReadLimitError, type ReadSnapshot } from './read.js';

/** The statement is not a single reading one, or DuckDB cannot run it: bad usage, exit 2. */
export class SqlRefusedError extends Error {
  readonly name = 'SqlRefusedError';
}

/** DuckDB stopped a statement it had accepted (a conversion error, out of memory): exit 1. */
export class SqlFailedError extends Error {
  readonly name = 'SqlFailedError';
}

export interface SqlColumn {
  name: string;
  /** DuckDB's type, e.g. `BIGINT`, `VARCHAR[]`, `TIMESTAMP`. */
  type: string;
}

export type SqlValue = string | number | boolean | null | SqlValue[] | { [k: string]: SqlValue };

/** `sql --json` and `POST /sql`: `{"columns": [{"name", "type"}], "rows": [{"<name>": value}]}`. */
export interface SqlResult {
  columns: SqlColumn[];
  rows: Record<string, SqlValue>[];
}

export interface SqlLimits {
  /** Stop with an error past this many rows. */
  maxRows: number;
}

export const SQL_DEFAULTS = { maxRows: 100_000, timeoutMs: 30_000 } as const;

export const firstLine = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0];

/** JSON-safe: safe integers as numbers, others as strings; timestamps ISO 8601; NaN/Infinity as strings. */
export function jsonValue(v: unknown, type?: string): SqlValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) return null;
    const iso = v.toISOString();
    return type === 'DATE' ? iso.slice(0, 10) : iso;
  }
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map((x) => jsonValue(x));
  if (typeof v === 'object') {
    const o: Record<string, SqlValue> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) o[k] = jsonValue(x);
    return o;
  }
  return String(v);
}

/** Run one reading statement in `snapshot`, up to `limits.maxRows` rows. */
export async function runSql(snapshot: ReadSnapshot, text: string, limits: SqlLimits): Promise<SqlResult> {
  const result = await snapshot.statement(text);
  const columns = result.columns.map((c) => ({ name: c.name, type: c.type }));
  const names = columns.map((c) => c.name);
  const types = columns.map((c) => c.type);
  const rows: Record<string, SqlValue>[] = [];
  try {
    for await (const chunk of result.chunks()) {
      if (rows.length + chunk.length > limits.maxRows) {
        throw new ReadLimitError(`stopped: the result has more than ${limits.maxRows.toLocaleString('en-US')} rows (--max-rows); add a LIMIT or raise the cap`);
      }
      for (const r of chunk) {
        const o: Record<string, SqlValue> = {};
        for (let i = 0; i < names.length; i++) o[names[i]] = jsonValue(r[i], types[i]);
        rows.push(o);
      }
    }
  } catch (err) {
    if (err instanceof ReadLimitError || err instanceof SqlRefusedError) throw err;
    throw new SqlFailedError(firstLine(err));
  }
  return { columns, rows };
}
