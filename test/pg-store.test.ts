/**
 * The PostgreSQL store on a real server (test/pg.ts): statements, transactions, the COPY
 * loader's escaping and set-wise upsert, values as DuckDB's callers get them, and reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { freshPgDatabase } from './pg.js';
import { PgDb } from '../src/state/postgres.js';
import { openStore } from '../src/state/open.js';
import type { Db } from '../src/state/db.js';
import { createTableSql, type OutputTable } from '../src/state/table.js';
import { copyLines, copyText, copyTimestamp } from '../src/state/pg-copy.js';
import { withSnapshot } from '../src/state/read.js';
import { runSql, SqlRefusedError } from '../src/state/sql.js';
import { migrate } from '../src/state/migrations.js';
import { CORE_COMPONENT, CORE_MIGRATIONS } from '../src/state/schema.js';
import { StoreUnreachableError } from '../src/state/errors.js';
import { ConfigError, loadConfig, maskedConfig } from '../src/config/config.js';

const HOSTILE = [
  'plain',
  'tab\there',
  'new\nline',
  'cr\r\nlf',
  'back\\slash',
  '\\N',
  '\\.',
  '\\',
  'ends with backslash\\',
  '\\t literal',
  '"quoted", \'single\'',
  'ünïcødé ✓ 🚀 中文',
  '',
  ' leading and trailing ',
  // Binary junk without NUL: every other byte value, as latin1 code points and as broken UTF-16.
  Array.from({ length: 255 }, (_, i) => String.fromCharCode(i + 1)).join(''),
  '\ud800 lone surrogate',
  'x'.repeat(1024 * 1024) + '\t\n\\',
];

const ITEMS: OutputTable = {
  name: 'items',
  columns: [
    { name: 'k', type: 'VARCHAR' },
    { name: 'n', type: 'BIGINT' },
    { name: 'v', type: 'VARCHAR' },
    { name: 'd', type: 'DOUBLE' },
    { name: 'b', type: 'BOOLEAN' },
    { name: 'ts', type: 'TIMESTAMP' },
    { name: 'i', type: 'INTEGER' },
  ],
  key: ['k'],
  prefer: '_seq DESC',
  onConflict: 'DO NOTHING',
};

const REPLACED: OutputTable = {
  name: 'replaced',
  columns: [
    { name: 'k', type: 'VARCHAR' },
    { name: 'v', type: 'VARCHAR' },
    { name: 'seen_at', type: 'TIMESTAMP', notNull: true, default: 'current_timestamp', generated: true },
  ],
  key: ['k'],
  replace: {},
};

describe('COPY text format (pure)', () => {
  it('escapes backslash, tab, newline and CR, and nothing else', () => {
    expect(copyText('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(copyText('\\N')).toBe('\\\\N');
    expect(copyText('ü 🚀 "x"')).toBe('ü 🚀 "x"');
  });
  it('writes NULL as \\N and NUL as U+FFFD (PostgreSQL text cannot hold U+0000)', () => {
    expect(copyLines(['VARCHAR', 'BIGINT'], [[null, null]], 0, 1)).toBe('0\t\\N\t\\N\n');
    expect(copyText('a\u0000b')).toBe('a\uFFFDb');
  });
  it('timestamps keep microseconds, as the DuckDB appender does', () => {
    expect(copyTimestamp(Date.UTC(2025, 0, 2, 3, 4, 5, 6))).toBe('2025-01-02 03:04:05.006000');
    expect(copyTimestamp(1.5)).toBe('1970-01-01 00:00:00.001500');
    expect(() => copyTimestamp(Number.NaN)).toThrow(/out of range/);
    // Any year a Date holds: past 9999, and BC (the ISO year 0 is 1 BC).
    expect(copyTimestamp(Date.parse('+020000-01-01T00:00:00.000Z'))).toBe('20000-01-01 00:00:00.000000');
    expect(copyTimestamp(Date.parse('0000-06-01T12:00:00.000Z'))).toBe('0001-06-01 12:00:00.000000 BC');
    expect(copyTimestamp(Date.parse('-000001-01-01T00:00:00.000Z'))).toBe('0002-01-01 00:00:00.000000 BC');
    expect(copyTimestamp(Date.parse('0099-12-31T23:59:59.999Z'))).toBe('0099-12-31 23:59:59.999000');
  });
});

describe('--db with a PostgreSQL URL (config, pure)', () => {
  it('is kept as given, shown without its password, and a malformed one is one line naming the setting', () => {
    for (const url of ['postgres://u:pw@db.example:5432/team', 'postgresql://u:pw@db.example/team?sslmode=require']) {
      const c = loadConfig({ db: url }, {}, ['db']);
      expect(c.db).toBe(url);
      expect(JSON.stringify(maskedConfig(c))).not.toContain(':pw@');
      expect(maskedConfig(c).db).toContain('u:***@');
    }
    expect(loadConfig({}, { SESSION_PIPELINE_DB: 'postgres://h/x' }, ['db']).db).toBe('postgres://h/x');
    // A file path is still resolved against the working directory.
    expect(loadConfig({ db: 'rel.duckdb' }, {}, ['db']).db).toBe(`${process.cwd()}/rel.duckdb`);
    expect(() => loadConfig({ db: 'postgres://u:pw@[::1' }, {}, ['db'])).toThrow(ConfigError);
    expect(() => loadConfig({ db: 'postgres://u:pw@[::1' }, {}, ['db'])).toThrow(/^invalid db \(--db \/ SESSION_PIPELINE_DB\): "postgres:\/\/u:\*\*\*@\[::1": is not a valid postgres:\/\/ URL$/);
  });
});

describe('PostgreSQL store', () => {
  let url: string;
  let drop: () => Promise<void>;
  let db: Db;

  beforeAll(async () => {
    ({ url, drop } = await freshPgDatabase('store'));
    db = await openStore(url);
    await db.run(createTableSql(ITEMS, 'postgres'));
    await db.run(createTableSql(REPLACED, 'postgres'));
  });
  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it('is the postgres kind, shown without its password', async () => {
    expect(db.kind).toBe('postgres');
    const withPassword = url.replace('postgres@', 'postgres:s3cret@');
    const other = await openStore(withPassword);
    try {
      expect(other.location).not.toContain('s3cret');
      expect(other.location).toContain('***');
      expect(JSON.stringify(other.health())).not.toContain('s3cret');
    } finally {
      await other.close();
    }
  });

  it('run / all / each, with values as DuckDB gives them', async () => {
    await db.run('CREATE TABLE nums (id BIGINT, x DOUBLE PRECISION, ts TIMESTAMP, day DATE)');
    await db.run('INSERT INTO nums SELECT g, g / 2.0, TIMESTAMP \'2025-03-01 12:00:00.123\' + g * INTERVAL \'1 hour\', DATE \'2025-03-01\' FROM generate_series(1, 5000) g');
    const [r] = await db.all<{ c: unknown; s: unknown; big: unknown; avg: unknown; ts: Date; day: Date; now_utc: unknown }>(
      `SELECT count(*) AS c, sum(id) AS s, sum(id) * 10000000000 AS big, avg(x) AS avg, min(ts) AS ts, min(day) AS day,
              current_setting('TimeZone') AS now_utc FROM nums`,
    );
    expect(r.c).toBe(5000n); // BIGINT -> bigint, as DuckDB
    expect(r.s).toBe(12502500); // sum(bigint) is NUMERIC: a number while exact
    expect(r.big).toBe(125025000000000000n); // past 2^53: a bigint
    expect(typeof r.avg).toBe('number');
    expect(r.ts.toISOString()).toBe('2025-03-01T13:00:00.123Z'); // TIMESTAMP read as UTC
    expect(r.day.toISOString()).toBe('2025-03-01T00:00:00.000Z');
    expect(r.now_utc).toBe('UTC');
    const chunks: number[] = [];
    await db.each<{ id: bigint }>('SELECT id FROM nums WHERE id > $1 ORDER BY id', (rows) => chunks.push(rows.length), [1000]);
    expect(chunks.reduce((a, b) => a + b, 0)).toBe(4000);
    expect(chunks.length).toBeGreaterThan(1); // streamed, not one result
  });

  it('a failed transaction leaves nothing behind, and the store goes on', async () => {
    await db.run('CREATE TABLE tx (id INTEGER PRIMARY KEY)');
    await expect(
      db.transaction(async () => {
        await db.run('INSERT INTO tx VALUES (1)');
        await db.run('INSERT INTO tx VALUES (1)'); // duplicate key
      }),
    ).rejects.toThrow(/duplicate key/);
    expect(await db.all('SELECT * FROM tx')).toEqual([]);
    await db.transaction(async () => {
      await db.run('INSERT INTO tx VALUES (2)');
      // Nested: joins the outer transaction.
      await db.transaction(() => db.run('INSERT INTO tx VALUES (3)'));
    });
    expect((await db.all<{ id: number }>('SELECT id FROM tx ORDER BY id')).map((r) => r.id)).toEqual([2, 3]);
  });

  it('COPY loads hostile strings exactly (tabs, newlines, backslashes, \\N, binary junk, 1 MB)', async () => {
    const ts = Date.UTC(2025, 5, 1, 10, 0, 0, 250);
    const rows = HOSTILE.map((v, i) => [`k${i}`, i * 1e12, v, i + 0.25, i % 2 === 0, ts + i, i]);
    rows.push(['knull', null, null, null, null, null, null]);
    // Timestamps far from now load and read back as the same instant (years past 9999, BC, early AD).
    const odd = ['+020000-01-01T00:00:00.000Z', '0000-06-01T12:00:00.000Z', '-000100-03-04T05:06:07.089Z', '0099-12-31T23:59:59.999Z', '1970-01-01T00:00:00.000Z'];
    odd.forEach((iso, i) => rows.push([`odd${i}`, 0, '', 0, true, Date.parse(iso), 0]));
    await db.transaction(() => db.loadStaged(ITEMS, rows));
    const got = await db.all<{ k: string; n: bigint | null; v: string | null; d: number | null; b: boolean | null; ts: Date | null; i: number | null }>(
      'SELECT * FROM items ORDER BY k',
    );
    const byKey = new Map(got.map((r) => [r.k, r]));
    HOSTILE.forEach((v, i) => {
      const r = byKey.get(`k${i}`)!;
      // A lone surrogate is not UTF-8: it arrives as U+FFFD, as in any UTF-8 store.
      expect(r.v).toBe(Buffer.from(v, 'utf8').toString('utf8'));
      expect(r.n).toBe(BigInt(i * 1e12));
      expect(r.d).toBe(i + 0.25);
      expect(r.b).toBe(i % 2 === 0);
      expect(r.ts!.getTime()).toBe(ts + i);
      expect(r.i).toBe(i);
    });
    expect(byKey.get('knull')).toEqual({ k: 'knull', n: null, v: null, d: null, b: null, ts: null, i: null });
    odd.forEach((iso, i) => expect(byKey.get(`odd${i}`)!.ts!.toISOString()).toBe(iso));
    const [epochs] = await db.all<{ e: string }>(`SELECT string_agg(CAST(floor(extract(epoch FROM ts) * 1000) AS BIGINT)::text, ',' ORDER BY k) AS e FROM items WHERE k LIKE 'odd%'`);
    expect(epochs.e).toBe(odd.map((iso) => String(Date.parse(iso))).join(','));
  });

  it('one row per key within a load (prefer), then the conflict action against the table', async () => {
    await db.transaction(() =>
      db.loadStaged(ITEMS, [
        ['dup', 1, 'first', 0, true, 0, 0],
        ['dup', 2, 'second', 0, true, 0, 0],
        ['k0', 99, 'ignored: DO NOTHING', 0, true, 0, 0],
      ]),
    );
    const [dup] = await db.all<{ v: string }>("SELECT v FROM items WHERE k = 'dup'");
    expect(dup.v).toBe('second'); // _seq DESC: the last staged wins
    const [k0] = await db.all<{ v: string }>("SELECT v FROM items WHERE k = 'k0'");
    expect(k0.v).toBe('plain');
  });

  it('replace tables overwrite every column; the staging table is reused and empty per commit', async () => {
    await db.transaction(() => db.loadStaged(REPLACED, [['a', 'one'], ['b', 'two']]));
    const before = await db.all<{ k: string; seen_at: Date }>('SELECT k, seen_at FROM replaced ORDER BY k');
    await new Promise((r) => setTimeout(r, 20));
    await db.transaction(() => db.loadStaged(REPLACED, [['a', 'uno'], ['a', 'eins']]));
    const after = await db.all<{ k: string; v: string; seen_at: Date }>('SELECT k, v, seen_at FROM replaced ORDER BY k');
    expect(after.map((r) => [r.k, r.v])).toEqual([
      ['a', 'eins'],
      ['b', 'two'],
    ]);
    expect(after[0].seen_at.getTime()).toBeGreaterThan(before[0].seen_at.getTime()); // default again, as DELETE + INSERT
    // Loaded twice in one transaction: the second load does not see the first's staged rows again.
    await db.transaction(async () => {
      await db.loadStaged(REPLACED, [['c', 'x']]);
      await db.loadStaged(REPLACED, [['c', 'y']]);
    });
    expect((await db.all<{ v: string }>("SELECT v FROM replaced WHERE k = 'c'"))[0].v).toBe('y');
  });

  it('a load that fails rolls back with its transaction and the next one succeeds', async () => {
    await expect(
      db.transaction(async () => {
        await db.loadStaged(REPLACED, [['z', 'kept?']]);
        await db.run('SELECT 1/0');
      }),
    ).rejects.toThrow(/division by zero/);
    expect(await db.all("SELECT * FROM replaced WHERE k = 'z'")).toEqual([]);
    await db.transaction(() => db.loadStaged(REPLACED, [['z', 'now']]));
    expect((await db.all<{ v: string }>("SELECT v FROM replaced WHERE k = 'z'"))[0].v).toBe('now');
  });

  it('snapshots are read-only; sql runs one reading statement with DuckDB type names', async () => {
    const r = await withSnapshot(db, { timeoutMs: 5000 }, (s) =>
      runSql(s, "SELECT count(*) AS n, 1.5::float8 AS x, 'a' AS a, 'b' AS a, TIMESTAMP '2025-01-01 00:00:00' AS t, DATE '2025-01-02' AS d, sum(1::bigint) AS s, ARRAY['x','y'] AS l FROM items", {
        maxRows: 10,
      }),
    );
    expect(r.columns).toEqual([
      { name: 'n', type: 'BIGINT' },
      { name: 'x', type: 'DOUBLE' },
      { name: 'a', type: 'VARCHAR' },
      { name: 'a_1', type: 'VARCHAR' },
      { name: 't', type: 'TIMESTAMP' },
      { name: 'd', type: 'DATE' },
      { name: 's', type: 'DECIMAL' },
      { name: 'l', type: 'VARCHAR[]' },
    ]);
    expect(r.rows[0]).toMatchObject({ x: 1.5, a: 'a', a_1: 'b', t: '2025-01-01T00:00:00.000Z', d: '2025-01-02', l: ['x', 'y'] });
    expect(r.rows[0].s).toBe(r.rows[0].n); // NUMERIC and BIGINT both JSON numbers
    const sql = (text: string, maxRows = 100) => withSnapshot(db, { timeoutMs: 2000 }, (s) => runSql(s, text, { maxRows }));
    await expect(sql('SELECT 1; SELECT 2')).rejects.toThrow(/one statement only/);
    await expect(sql("INSERT INTO tx VALUES (9)")).rejects.toBeInstanceOf(SqlRefusedError);
    await expect(sql('SELECT * FROM no_such_table')).rejects.toBeInstanceOf(SqlRefusedError);
    await expect(sql('SELECT g FROM generate_series(1, 101) g')).rejects.toThrow(/more than 100 rows/);
    await expect(sql('SELECT pg_sleep(5)')).rejects.toThrow(/time limit/);
    expect(await db.all('SELECT * FROM tx WHERE id = 9')).toEqual([]);
  });

  it('a read whose connection the server drops between two statements fails alone; the next read works', async () => {
    const err = await withSnapshot(db, { timeoutMs: 0 }, async (s) => {
      const [{ pid }] = await s.all<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await admin.end();
      await new Promise((r) => setTimeout(r, 300)); // no statement running when the connection dies
      return s.all('SELECT 1');
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(await withSnapshot(db, { timeoutMs: 0 }, (s) => s.all('SELECT 1 AS x'))).toEqual([{ x: 1 }]);
  });

  it('health shows the pool and no password', () => {
    const h = db.health();
    expect(h.kind).toBe('postgres');
    expect(h.pool).toMatchObject({ max: 4 });
    expect(h.writerConnected).toBe(true);
  });

  it('migrations: two stores migrating one database at once apply each version once', async () => {
    const { url: u2, drop: d2 } = await freshPgDatabase('mig');
    const a = await openStore(u2);
    const b = await openStore(u2);
    try {
      const [da, dbb] = await Promise.all([migrate(a, CORE_COMPONENT, CORE_MIGRATIONS), migrate(b, CORE_COMPONENT, CORE_MIGRATIONS)]);
      const all = CORE_MIGRATIONS.map((m) => m.version);
      expect([...da, ...dbb].sort()).toEqual(all);
      const rows = await a.all<{ version: number }>("SELECT version FROM schema_version WHERE component = 'core' ORDER BY version");
      expect(rows.map((r) => r.version)).toEqual(all);
      // PostgreSQL's table has no hash column: it upserts on the primary key.
      const cols = await a.all<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_name = 'session_processor_state'");
      expect(cols.map((c) => c.column_name)).not.toContain('key_hash');
      expect(cols.map((c) => c.column_name)).toContain('ctime_ms');
    } finally {
      await a.close();
      await b.close();
      await d2();
    }
  });

  it('a server that does not answer is a StoreUnreachableError naming the setting, without the password', async () => {
    const srv = (await import('node:net')).createServer();
    const port: number = await new Promise((r) => srv.listen(0, '127.0.0.1', () => r((srv.address() as { port: number }).port)));
    await new Promise((r) => srv.close(r));
    const err = await PgDb.open(`postgres://alice:pw123@127.0.0.1:${port}/team`).catch((e: Error) => e);
    expect(err).toBeInstanceOf(StoreUnreachableError);
    expect((err as Error).message).toMatch(/--db \/ SESSION_PIPELINE_DB/);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect((err as Error).message).not.toContain('pw123');
  });

  it('the writer reconnects after the server drops it, and recreates its staging tables', async () => {
    await db.transaction(() => db.loadStaged(REPLACED, [['r1', 'before']]));
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'session-pipeline'");
    } finally {
      await admin.end();
    }
    // The first statement may see the dead connection; the next reconnects.
    await db.transaction(() => db.loadStaged(REPLACED, [['r2', 'after']])).catch(() => undefined);
    await db.transaction(() => db.loadStaged(REPLACED, [['r3', 'after']]));
    const got = await db.all<{ k: string }>("SELECT k FROM replaced WHERE k LIKE 'r%' ORDER BY k");
    expect(got.map((r) => r.k)).toContain('r3');
    expect(db.health().lastError).not.toBeNull();
  });
});
