/**
 * Read-only SQL for analysts (`session-pipeline sql`, `POST /sql`).
 *
 * What may run is decided by DuckDB, not by a pattern over the text:
 * - DuckDB splits the text into statements: exactly one is allowed;
 * - DuckDB prepares it: only a `SELECT` statement type runs (`WITH`,
 *   `DESCRIBE`, `SHOW`, `PRAGMA table_info` are SELECTs to DuckDB);
 * - the instance has external access off (`Db.open({ externalAccess: false })`),
 *   so a SELECT over `read_csv`, `read_parquet`, `glob`, a file path or a URL
 *   fails in DuckDB's binder with a Permission Error;
 * - it runs in a read-only transaction (`withSnapshot`), so even a SELECT
 *   that would write (`nextval`) is refused.
 */
import { StatementType, type DuckDBConnection } from '@duckdb/node-api';
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

const firstLine = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0];

/** One line naming why DuckDB refused the text (external access, a parse or catalog error). */
function refusal(err: unknown): SqlRefusedError {
  const msg = firstLine(err);
  if (/^Permission Error/i.test(msg) || /file system operations are disabled/i.test(msg)) {
    return new SqlRefusedError(`refused: reading files or the network is off for sql (${msg})`);
  }
  return new SqlRefusedError(msg);
}

/** Check the text with DuckDB's parser; returns it prepared. */
async function prepareReading(conn: DuckDBConnection, text: string) {
  let extracted;
  try {
    extracted = await conn.extractStatements(text);
  } catch (err) {
    throw refusal(err);
  }
  if (extracted.count !== 1) {
    throw new SqlRefusedError(`refused: one statement only (found ${extracted.count})`);
  }
  let prepared;
  try {
    prepared = await extracted.prepare(0);
  } catch (err) {
    throw refusal(err);
  }
  const type = prepared.statementType;
  if (type !== StatementType.SELECT) {
    prepared.destroySync();
    throw new SqlRefusedError(`refused: only reading statements (SELECT, WITH, DESCRIBE, SHOW) may run; this is ${StatementType[type] ?? type}`);
  }
  return prepared;
}

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
  const prepared = await prepareReading(snapshot.conn, text);
  try {
    let result;
    try {
      result = await prepared.stream();
    } catch (err) {
      throw refusal(err);
    }
    // `SELECT 1 AS a, 2 AS a` has two columns named a: the rows' keys must differ (a, a_1).
    const names = result.deduplicatedColumnNames();
    const types = result.columnTypes().map((t) => t.toString());
    const columns = names.map((name, i) => ({ name, type: types[i] }));
    const rows: Record<string, SqlValue>[] = [];
    try {
      for await (const chunk of result.yieldRowsJs()) {
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
      if (err instanceof ReadLimitError) throw err;
      throw new SqlFailedError(firstLine(err));
    }
    return { columns, rows };
  } finally {
    prepared.destroySync();
  }
}
