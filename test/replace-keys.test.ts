/**
 * Replace tables carry no primary key on DuckDB (state/table.ts keyedIn), and a store created
 * before that is rebuilt without it at open, its rows kept: real DuckDB files, real runs.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { line, query, runOnceIn, sandbox, type Sandbox } from './helpers.js';
import { linesProcessor } from '../pipelines/lines/index.js';
import { createUsageProcessor } from '../pipelines/usage/index.js';
import { FILES } from '../pipelines/usage/tables.js';
import { CHECKPOINT_TABLE } from '../src/state/checkpoint.js';
import { DuckDb } from '../src/state/duckdb.js';
import { createTableSql, quoteIdent, type OutputTable } from '../src/state/table.js';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox();
});
afterEach(() => sb.cleanup());

const LINES_STATS = linesProcessor.tables.find((t) => t.replace)!;
const REPLACE_TABLES: OutputTable[] = [CHECKPOINT_TABLE, LINES_STATS, FILES];

const keyed = (db: string) =>
  query<{ table_name: string }>(db, `SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' ORDER BY table_name`).then((r) =>
    r.map((x) => x.table_name),
  );

const assistant = (id: string, out: number) =>
  line({
    type: 'assistant',
    timestamp: '2026-05-01T10:00:00.000Z',
    sessionId: 's1',
    requestId: `r-${id}`,
    message: { id, model: 'claude-sonnet-4-20250514', usage: { input_tokens: 10, output_tokens: out } },
  });

describe('replace tables on DuckDB', () => {
  it('a new store creates them without a primary key; every other table keeps its key', async () => {
    sb.write('alice/a.jsonl', assistant('m1', 5));
    await runOnceIn(sb, [linesProcessor, createUsageProcessor()]);
    const names = await keyed(sb.db);
    for (const t of REPLACE_TABLES) expect(names).not.toContain(t.name);
    expect(names).toContain('session_bad_lines');
    expect(names).toContain('usage_events');
  });

  it('a store whose replace tables are keyed is rebuilt once, rows kept, and replaces as before', async () => {
    // The store as the previous release made it: the same tables, each with its primary key.
    const old = await DuckDb.open(sb.db);
    for (const t of REPLACE_TABLES) {
      const ddl = createTableSql(t).replace(/\)$/, `, PRIMARY KEY (${t.key.map(quoteIdent).join(', ')}))`);
      await old.run(ddl);
    }
    await old.run(`INSERT INTO lines_file_stats VALUES ('bob/b.jsonl', 'bob', 3, 30, TIMESTAMP '2026-05-01 10:00:00')`);
    await old.close();
    expect(await keyed(sb.db)).toEqual(expect.arrayContaining(REPLACE_TABLES.map((t) => t.name)));

    sb.write('alice/a.jsonl', assistant('m1', 5));
    await runOnceIn(sb, [linesProcessor, createUsageProcessor()]);
    const names = await keyed(sb.db);
    for (const t of REPLACE_TABLES) expect(names).not.toContain(t.name);
    const before = await query(sb.db, 'SELECT processor_name, "offset", lines_processed FROM session_processor_state ORDER BY processor_name');
    expect(before.map((r) => r.processor_name)).toEqual(['lines', 'usage']);

    // Grown and run again on the rebuilt tables: one row per key, the new values.
    sb.append('alice/a.jsonl', assistant('m2', 7));
    await runOnceIn(sb, [linesProcessor, createUsageProcessor()]);
    const cps = await query<{ n: number; lines: number }>(sb.db, 'SELECT count(*) AS n, max(lines_processed) AS lines FROM session_processor_state');
    expect(cps).toEqual([{ n: 2, lines: 2 }]);
    expect(await query(sb.db, 'SELECT session_file, lines FROM lines_file_stats ORDER BY session_file')).toEqual([
      { session_file: 'alice/a.jsonl', lines: 2 },
      { session_file: 'bob/b.jsonl', lines: 3 },
    ]);
    expect(await query(sb.db, 'SELECT session_file, lines FROM usage_files')).toEqual([{ session_file: 'alice/a.jsonl', lines: 2 }]);
    expect(await query(sb.db, "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name LIKE '%__unkeyed'")).toEqual([{ n: 0 }]);
  });

  it('a keyed table with a column its declaration lacks keeps its key and its rows', async () => {
    const old = await DuckDb.open(sb.db);
    const ddl = createTableSql(LINES_STATS).replace(/\)$/, `, extra VARCHAR, PRIMARY KEY (session_file))`);
    await old.run(ddl);
    await old.run(`INSERT INTO lines_file_stats VALUES ('bob/b.jsonl', 'bob', 3, 30, TIMESTAMP '2026-05-01 10:00:00', 'kept')`);
    await old.close();

    sb.write('alice/a.jsonl', assistant('m1', 5));
    await runOnceIn(sb, [linesProcessor]);
    expect(await keyed(sb.db)).toContain('lines_file_stats');
    expect(await query(sb.db, "SELECT extra FROM lines_file_stats WHERE session_file = 'bob/b.jsonl'")).toEqual([{ extra: 'kept' }]);
  });
});
