/**
 * The PostgreSQL store: a team's shared database, selected by a `postgres://`
 * URL. Unlike DuckDB it is a server: several daemons and any client read and
 * write it at once, and a connection can break mid-run.
 *
 * - One writer connection, dedicated to this process's committer, migrations
 *   and `init`s, serialised like DuckDB's (a transaction belongs to one
 *   connection). The staging tables are TEMP tables of that session: a new
 *   connection creates them again.
 * - A pool for readers (`snapshot`): each read is a REPEATABLE READ, READ ONLY
 *   transaction on a pooled connection, so it sees one committed snapshot and
 *   never waits for the committer.
 * - Every connection runs with TimeZone UTC: TIMESTAMP columns hold UTC without
 *   a zone, as in DuckDB, and `now()`/`current_timestamp` agree with them.
 * - Values come back as from DuckDB: BIGINT as bigint, DOUBLE as number,
 *   NUMERIC (PostgreSQL's `sum(bigint)`) as a number, or a bigint when it is a
 *   whole number past 2^53, TIMESTAMP as a Date of its UTC value.
 * - A lost connection is an `isConnectionError`: the writer reconnects on the
 *   next statement, and a COMMIT whose answer was lost is looked up by its
 *   transaction id (`txid_status`), so a retry never applies a group twice.
 */
import { SerialWriter } from './serial.js';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { from as copyFrom } from 'pg-copy-streams';
import type { Db, Params, StoreHealth } from './db.js';
import { displayLocation, columnTypeSql } from './dialect.js';
import { DatabaseOpenError, StoreUnreachableError, isConnectionError } from './errors.js';
import { quoteIdent as quote, keysAreDistinct, stagedColumns, type CellValue, type OutputTable } from './table.js';
import { copyLines } from './pg-copy.js';
import { ReadLimitError, timeLimitError, type ReadColumn, type ReadOptions, type ReadSnapshot, type RowStream } from './read.js';
import { SqlRefusedError, firstLine } from './sql.js';

export interface PgDbOptions {
  /** Readers' pool size (`--pg-pool-max`). */
  poolMax?: number;
  /** Open for reading only: no writer connection (reports, `sql`, `export`). */
  readOnly?: boolean;
  /** Give up connecting after this long (ms). */
  connectTimeoutMs?: number;
}

export const PG_DEFAULTS = { poolMax: 4, connectTimeoutMs: 10_000 } as const;

/** Rows per fetch from a cursor, like DuckDB's chunks. */
const CHUNK_ROWS = 2_000;
/** Rows per COPY write: a few hundred KB of text for typical rows. */
const COPY_CHUNK_ROWS = 2_000;

const OID = { BOOL: 16, BYTEA: 17, INT8: 20, INT2: 21, INT4: 23, TEXT: 25, OIDT: 26, JSON: 114, FLOAT4: 700, FLOAT8: 701, BPCHAR: 1042, VARCHAR: 1043, DATE: 1082, TIME: 1083, TIMESTAMP: 1114, TIMESTAMPTZ: 1184, INTERVAL: 1186, NUMERIC: 1700, UUID: 2950, JSONB: 3802 } as const;

const parseInt8 = (s: string): bigint => BigInt(s);
/** `sum(bigint)` is NUMERIC in PostgreSQL (HUGEINT in DuckDB): a number, exact up to 2^53; past it a bigint. */
function parseNumeric(s: string): number | bigint {
  const n = Number(s);
  if (/^-?\d+$/.test(s) && !Number.isSafeInteger(n)) return BigInt(s);
  return n;
}
/**
 * TIMESTAMP holds UTC without a zone (as DuckDB's): read it as UTC, not as the machine's zone.
 * PostgreSQL writes `YYYY-MM-DD HH:MM:SS[.ffffff]`, with more year digits past 9999 and ` BC`
 * before year 1 (1 BC is the ISO year 0).
 */
const TIMESTAMP_TEXT = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?( BC)?$/;
function parseTimestamp(s: string): Date {
  const m = TIMESTAMP_TEXT.exec(s);
  if (!m) return new Date(NaN); // infinity, -infinity
  const d = new Date(0);
  const year = m[8] ? 1 - Number(m[1]) : Number(m[1]);
  d.setUTCFullYear(year, Number(m[2]) - 1, Number(m[3]));
  d.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), m[7] ? Math.floor(Number(m[7].padEnd(6, '0')) / 1000) : 0);
  return d;
}
const parseDate = (s: string): Date => new Date(`${s}T00:00:00Z`);

const ELEMENT_PARSERS: Record<number, (s: string) => unknown> = {
  1016: parseInt8, // int8[]
  1231: parseNumeric, // numeric[]
  1115: parseTimestamp, // timestamp[]
  1182: parseDate, // date[]
};

/** Type parsers for every connection of this store (not pg's process-wide ones: other code may use pg too). */
export const PG_TYPES = {
  getTypeParser(oid: number, format?: string): (s: string) => unknown {
    if (format === 'binary') return pg.types.getTypeParser(oid as never, 'binary' as never) as (s: string) => unknown;
    switch (oid) {
      case OID.INT8:
        return parseInt8;
      case OID.NUMERIC:
        return parseNumeric;
      case OID.TIMESTAMP:
        return parseTimestamp;
      case OID.DATE:
        return parseDate;
    }
    const element = ELEMENT_PARSERS[oid];
    if (element) return (s: string) => (pg.types as unknown as { arrayParser: { create(s: string, p: (x: string) => unknown): { parse(): unknown } } }).arrayParser.create(s, element).parse();
    return pg.types.getTypeParser(oid as never) as (s: string) => unknown;
  },
};

/** Result column types as DuckDB names them, so `sql --json` says `BIGINT` on both stores. */
const TYPE_NAMES: Record<number, string> = {
  [OID.BOOL]: 'BOOLEAN',
  [OID.BYTEA]: 'BLOB',
  [OID.INT8]: 'BIGINT',
  [OID.INT2]: 'SMALLINT',
  [OID.INT4]: 'INTEGER',
  [OID.TEXT]: 'VARCHAR',
  [OID.OIDT]: 'UINTEGER',
  [OID.JSON]: 'JSON',
  [OID.JSONB]: 'JSON',
  [OID.FLOAT4]: 'FLOAT',
  [OID.FLOAT8]: 'DOUBLE',
  [OID.BPCHAR]: 'VARCHAR',
  [OID.VARCHAR]: 'VARCHAR',
  19: 'VARCHAR', // name
  [OID.DATE]: 'DATE',
  [OID.TIME]: 'TIME',
  [OID.TIMESTAMP]: 'TIMESTAMP',
  [OID.TIMESTAMPTZ]: 'TIMESTAMP WITH TIME ZONE',
  [OID.INTERVAL]: 'INTERVAL',
  [OID.UUID]: 'UUID',
  1000: 'BOOLEAN[]',
  1005: 'SMALLINT[]',
  1007: 'INTEGER[]',
  1016: 'BIGINT[]',
  1009: 'VARCHAR[]',
  1015: 'VARCHAR[]',
  1021: 'FLOAT[]',
  1022: 'DOUBLE[]',
  1115: 'TIMESTAMP[]',
  1182: 'DATE[]',
  1231: 'DECIMAL[]',
};

function typeName(oid: number, modifier: number, others: ReadonlyMap<number, string>): string {
  if (oid === OID.NUMERIC) {
    if (modifier < 4) return 'DECIMAL';
    const m = modifier - 4;
    return `DECIMAL(${(m >> 16) & 0xffff},${m & 0xffff})`;
  }
  return TYPE_NAMES[oid] ?? others.get(oid) ?? `oid ${oid}`;
}

/** Duplicate result names made unique as DuckDB does: `a`, `a_1`, `a_2`. */
function uniqueNames(names: readonly string[]): string[] {
  const seen = new Set<string>();
  return names.map((n) => {
    let name = n;
    for (let k = 1; seen.has(name); k++) name = `${n}_${k}`;
    seen.add(name);
    return name;
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

/** A pg error's first line, for an error that may be an AggregateError (several addresses refused). */
function detailOf(err: unknown): string {
  const e = err as { message?: string; code?: string; errors?: { message?: string }[] };
  return firstLine(e?.message || e?.errors?.[0]?.message || e?.code || String(err));
}

type Client = pg.Client | pg.PoolClient;

export class PgDb implements Db {
  readonly kind = 'postgres' as const;
  readonly location: string;
  private readonly pool: pg.Pool;
  private writer: pg.Client | null = null;
  /** The writer's connection broke: the next statement outside a transaction reconnects. */
  private writerBroken = false;
  private readonly serial = new SerialWriter<Client>();
  /** Staging tables created on the current writer connection (TEMP: they go with it). */
  private readonly staged = new Set<string>();
  /** Tables loaded in the running transaction: a second load of one empties its staging table first. */
  private readonly loadedInTx = new Set<string>();
  private closed = false;
  private lastError: { message: string; at: string } | null = null;
  private readonly otherTypes = new Map<number, string>();
  private readonly clientConfig: pg.ClientConfig;

  private constructor(
    readonly url: string,
    private readonly opts: PgDbOptions,
  ) {
    this.location = displayLocation(url);
    this.clientConfig = {
      connectionString: url,
      types: PG_TYPES as pg.CustomTypesConfig,
      // TIMESTAMP columns hold UTC (as in DuckDB); now() and casts to and from timestamptz must agree.
      options: '-c TimeZone=UTC',
      application_name: 'session-pipeline',
      connectionTimeoutMillis: opts.connectTimeoutMs ?? PG_DEFAULTS.connectTimeoutMs,
      keepAlive: true,
    };
    this.pool = new pg.Pool({ ...this.clientConfig, max: opts.poolMax ?? PG_DEFAULTS.poolMax, idleTimeoutMillis: 30_000 });
    // An idle pooled connection that the server drops emits here; without a listener the process would crash.
    this.pool.on('error', (err) => this.noteError(err));
  }

  /** Connect (the writer, or for `readOnly` one pooled probe); an unreachable server is a `StoreUnreachableError`. */
  static async open(url: string, opts: PgDbOptions = {}): Promise<PgDb> {
    const db = new PgDb(url, opts);
    try {
      if (opts.readOnly) await db.pool.query('SELECT 1');
      else await db.ensureWriter();
    } catch (err) {
      await db.pool.end().catch(() => undefined);
      await db.writer?.end().catch(() => undefined);
      if (isConnectionError(err) || (err as { code?: string }).code === undefined) throw new StoreUnreachableError(db.location, detailOf(err));
      throw new DatabaseOpenError(db.location, detailOf(err));
    }
    return db;
  }

  private noteError(err: unknown): void {
    this.lastError = { message: detailOf(err), at: new Date().toISOString() };
  }

  /** The writer connection, connected (again, after a loss: staging tables are made anew). */
  private async ensureWriter(): Promise<pg.Client> {
    if (this.writer && !this.writerBroken) return this.writer;
    if (this.closed) throw new Error(`the database ${this.location} is closed`);
    const old = this.writer;
    this.writer = null;
    if (old) void old.end().catch(() => undefined);
    this.staged.clear();
    const c = new pg.Client(this.clientConfig);
    c.on('error', (err) => {
      // The server went away (restart, network): mark it, so the next statement reconnects.
      if (this.writer === c) this.writerBroken = true;
      this.noteError(err);
    });
    c.on('end', () => {
      if (this.writer === c) this.writerBroken = true;
    });
    try {
      await c.connect();
    } catch (err) {
      this.noteError(err);
      void c.end().catch(() => undefined);
      throw err;
    }
    this.writer = c;
    this.writerBroken = false;
    return c;
  }

  /** A failed statement on `c`: if it broke the connection, the next one reconnects. */
  private failed(c: Client, err: unknown): void {
    if (isConnectionError(err)) {
      this.noteError(err);
      if (c === this.writer) this.writerBroken = true;
    }
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial.exclusive(fn);
  }

  /** The transaction's client inside `transaction`, else the writer (connected). */
  private async client(): Promise<Client> {
    return this.serial.current ?? (await this.ensureWriter());
  }

  run(sql: string, params?: Params): Promise<void> {
    return this.exclusive(async () => {
      const c = await this.client();
      try {
        await c.query(sql, params as unknown[] | undefined);
      } catch (err) {
        this.failed(c, err);
        throw err;
      }
    });
  }

  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]> {
    return this.exclusive(async () => {
      const c = await this.client();
      try {
        return (await c.query(sql, params as unknown[] | undefined)).rows as T[];
      } catch (err) {
        this.failed(c, err);
        throw err;
      }
    });
  }

  each<T = Record<string, unknown>>(sql: string, onRows: (rows: T[]) => void, params?: Params): Promise<void> {
    return this.exclusive(async () => {
      const c = await this.client();
      const cursor = c.query(new Cursor(sql, params as unknown[] | undefined, { types: PG_TYPES as never }));
      try {
        for (;;) {
          const rows = await cursor.read(CHUNK_ROWS);
          if (rows.length === 0) break;
          onRows(rows as T[]);
        }
      } catch (err) {
        this.failed(c, err);
        throw err;
      } finally {
        await cursor.close().catch(() => undefined);
      }
    });
  }

  transaction<T>(fn: () => Promise<T>): Promise<T> {
    // Inside a transaction, a nested one joins it (a component's migrations under its advisory lock).
    if (this.serial.current) return fn();
    return this.exclusive(async () => {
      const c = await this.ensureWriter();
      let xid: string | null = null;
      this.loadedInTx.clear();
      try {
        await c.query('BEGIN');
        const out = await this.serial.within(c, fn);
        xid = ((await c.query('SELECT txid_current()::text AS xid')).rows[0] as { xid: string }).xid;
        try {
          await c.query('COMMIT');
        } catch (err) {
          // The answer to COMMIT was lost with the connection: it may have committed. Ask.
          if (isConnectionError(err) && (await this.committedAfterAll(xid))) return out;
          throw err;
        }
        return out;
      } catch (err) {
        this.failed(c, err);
        // A rolled-back transaction takes the staging tables it created with it.
        this.staged.clear();
        if (!this.writerBroken) await c.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        this.loadedInTx.clear();
      }
    });
  }

  /**
   * Whether transaction `xid`, whose COMMIT lost its answer, committed: on a new connection, once
   * the server answers again (retrying until it does or the store is closed).
   */
  private async committedAfterAll(xid: string): Promise<boolean> {
    this.writerBroken = true;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new Error(`the database ${this.location} closed while a commit's outcome was unknown`);
      try {
        const c = await this.ensureWriter();
        const r = await c.query('SELECT txid_status($1::bigint) AS s', [xid]);
        const status = (r.rows[0] as { s: string | null }).s;
        if (status === 'committed') return true;
        if (status !== 'in progress') return false;
        // The old session has not noticed yet that its client is gone; it will abort.
      } catch (err) {
        if (!isConnectionError(err)) throw err;
        this.writerBroken = true;
      }
      await sleep(Math.min(2_000, 50 * 2 ** attempt));
    }
  }

  async loadStaged(spec: OutputTable, rows: readonly CellValue[][]): Promise<void> {
    if (rows.length === 0) return;
    const c = this.serial.current;
    if (!c) throw new Error('loadStaged runs inside a transaction');
    const stage = quote(`_stage_${spec.name}`);
    const columns = stagedColumns(spec);
    try {
      if (!this.staged.has(spec.name)) {
        const cols = columns.map((col) => `${quote(col.name)} ${columnTypeSql('postgres', col.type)}`).join(', ');
        // ON COMMIT DELETE ROWS: emptied by truncation at each commit (a DELETE would leave dead rows
        // that autovacuum never visits in a temp table).
        await c.query(`CREATE TEMP TABLE IF NOT EXISTS ${stage} (_seq BIGINT, ${cols}) ON COMMIT DELETE ROWS`);
        this.staged.add(spec.name);
      }
      if (this.loadedInTx.has(spec.name)) await c.query(`TRUNCATE ${stage}`);
      this.loadedInTx.add(spec.name);
      const names = columns.map((col) => quote(col.name)).join(', ');
      const types = columns.map((col) => col.type);
      const copy = c.query(copyFrom(`COPY ${stage} (_seq, ${names}) FROM STDIN`));
      await pipeline(
        Readable.from(
          (function* () {
            for (let from = 0; from < rows.length; from += COPY_CHUNK_ROWS) yield copyLines(types, rows, from, Math.min(rows.length, from + COPY_CHUNK_ROWS));
          })(),
        ),
        copy,
      );
      await c.query(upsertSql(spec, stage, keysAreDistinct(spec, rows)));
    } catch (err) {
      this.failed(c, err);
      throw err;
    }
  }

  async snapshot<T>(opts: ReadOptions, fn: (s: ReadSnapshot) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let broken: Error | undefined;
    // The pool listens for errors only on idle clients: a server that goes away between two
    // statements of this read would otherwise be an unhandled 'error' event (a crash).
    const onError = (err: Error) => {
      broken = err;
      this.noteError(err);
    };
    c.on('error', onError);
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // Per statement; a report is a handful of statements.
      if (opts.timeoutMs > 0) await c.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.trunc(opts.timeoutMs))}`);
      return await fn(this.pgSnapshot(c, opts));
    } catch (err) {
      if (isConnectionError(err)) {
        broken = err as Error;
        this.noteError(err);
      }
      if (isTimeout(err)) throw timeLimitError(opts);
      throw err;
    } finally {
      if (!broken) await c.query('ROLLBACK').catch((e: Error) => (broken = e));
      c.removeListener('error', onError);
      c.release(broken);
    }
  }

  private pgSnapshot(c: pg.PoolClient, opts: ReadOptions): ReadSnapshot {
    const stream = async (sql: string, params: Params | undefined, asStatement: boolean): Promise<RowStream> => {
      const cursor = c.query(new Cursor(sql, params as unknown[] | undefined, { rowMode: 'array', types: PG_TYPES as never }));
      let first: unknown[][];
      try {
        first = (await cursor.read(CHUNK_ROWS)) as unknown[][];
      } catch (err) {
        await cursor.close().catch(() => undefined);
        throw asStatement ? classifySqlError(err, opts) : isTimeout(err) ? timeLimitError(opts) : err;
      }
      const fields = (cursor as unknown as { _result: { fields: { name: string; dataTypeID: number; dataTypeModifier: number }[] } })._result.fields;
      await this.learnTypes(fields.map((f) => f.dataTypeID));
      const names = uniqueNames(fields.map((f) => f.name));
      const columns: ReadColumn[] = fields.map((f, i) => ({ name: names[i], type: typeName(f.dataTypeID, f.dataTypeModifier, this.otherTypes) }));
      return {
        columns,
        async *chunks() {
          try {
            let rows = first;
            while (rows.length > 0) {
              yield rows;
              rows = (await cursor.read(CHUNK_ROWS)) as unknown[][];
            }
          } catch (err) {
            if (isTimeout(err)) throw timeLimitError(opts);
            throw err;
          } finally {
            await cursor.close().catch(() => undefined);
          }
        },
      };
    };
    return {
      kind: 'postgres',
      async all<R>(sql: string, params?: Params): Promise<R[]> {
        return (await c.query(sql, params as unknown[] | undefined)).rows as R[];
      },
      stream: (sql, params) => stream(sql, params, false),
      // The extended protocol (a cursor is always a prepared statement) refuses more than one statement.
      statement: (text) => stream(text, [], true),
    };
  }

  /** Names of result types outside TYPE_NAMES (enums, domains...), from pg_type through the pool. */
  private async learnTypes(oids: readonly number[]): Promise<void> {
    const unknown = oids.filter((o) => !(o in TYPE_NAMES) && o !== OID.NUMERIC && !this.otherTypes.has(o));
    if (unknown.length === 0) return;
    const r = await this.pool.query('SELECT oid::int AS oid, upper(format_type(oid, NULL)) AS name FROM pg_type WHERE oid = ANY($1::oid[])', [unknown]);
    for (const row of r.rows as { oid: number; name: string }[]) this.otherTypes.set(row.oid, row.name);
  }

  health(): StoreHealth {
    return {
      kind: this.kind,
      location: this.location,
      pool: { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount, max: this.opts.poolMax ?? PG_DEFAULTS.poolMax },
      writerConnected: this.writer !== null && !this.writerBroken,
      lastError: this.lastError,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.serial.drained();
    await this.writer?.end().catch(() => undefined);
    this.writer = null;
    await this.pool.end().catch(() => undefined);
  }
}

const isTimeout = (err: unknown) => (err as { code?: string })?.code === '57014';

/** An analyst's statement that PostgreSQL refused (exit 2), or one it stopped (exit 1, left to runSql). */
function classifySqlError(err: unknown, opts: ReadOptions): Error {
  if (isTimeout(err)) return timeLimitError(opts);
  if (err instanceof ReadLimitError) return err;
  const code = (err as { code?: string })?.code ?? '';
  const msg = firstLine(err);
  if (/cannot insert multiple commands into a prepared statement/i.test(msg)) return new SqlRefusedError('refused: one statement only');
  if (code === '25006') return new SqlRefusedError(`refused: only reading statements may run (${msg})`);
  // 42: syntax error or access rule violation (unknown table or column, permission denied); 0A: not supported.
  if (/^(42|0A|22P02)/.test(code)) return new SqlRefusedError(msg);
  return err as Error;
}

/**
 * The set-wise move from a staging table: one row per key (the first by `prefer`, default the
 * last staged), then the table's conflict action. `replace` tables overwrite every column.
 */
export function upsertSql(spec: OutputTable, stage: string, distinct = false): string {
  const columns = stagedColumns(spec);
  const cols = columns.map((c) => quote(c.name)).join(', ');
  const key = spec.key.map(quote).join(', ');
  // `distinct`: the staged keys are known distinct (keysAreDistinct), so no row needs picking.
  const select = distinct ? `SELECT ${cols} FROM ${stage}` : `SELECT DISTINCT ON (${key}) ${cols} FROM ${stage} ORDER BY ${key}, ${spec.prefer ?? '_seq DESC'}`;
  let action = spec.onConflict ?? 'DO NOTHING';
  if (spec.replace) {
    const sets = [
      ...columns.filter((c) => !spec.key.includes(c.name)).map((c) => `${quote(c.name)} = EXCLUDED.${quote(c.name)}`),
      // As DuckDB's DELETE + INSERT: a column filled by its default starts again from it.
      ...spec.columns.filter((c) => c.generated).map((c) => `${quote(c.name)} = DEFAULT`),
    ];
    action = sets.length > 0 ? `DO UPDATE SET ${sets.join(', ')}` : 'DO NOTHING';
  }
  return `INSERT INTO ${quote(spec.name)} (${cols}) ${select} ON CONFLICT (${key}) ${action}`;
}
