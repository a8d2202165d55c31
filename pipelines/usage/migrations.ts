/**
 * The usage processor's schema: its tables (DDL derived from the output
 * table specs, so the loader and the schema cannot drift), the price
 * versions, and the views. A change to a view is a new migration that
 * re-creates the views.
 *
 * PostgreSQL: version 1 creates today's tables and views in its dialect, and
 * every later version is `[]` until a view or table changes again (then it
 * gets its own PostgreSQL statements too).
 */
import type { Migration } from '../../src/state/migrations.js';
import { createTableSql } from '../../src/pipeline/processor.js';
import { TABLES } from './tables.js';
import { LONG_CONTEXT_SQL, VIEW_DDL, viewDdl } from './views.js';
import { PRICE_VERSIONS_DDL } from './price-versions.js';
import { foldSql, picksDdl } from './picks.js';
import { rollupDdl, rollupRebuildSql } from './rollup.js';
import { DIRTY } from './tables.js';

/** The views of VIEW_DDL (a superset of version 1's), dependents first. */
const VIEWS = VIEW_DDL.map((sql) => /VIEW (\w+) AS/.exec(sql)![1]).reverse();

/** What version 7 replaces: every view, and the reverted versions 5-6's tables and index. */
const dropOld = [
  ...VIEWS.map((v) => `DROP VIEW IF EXISTS ${v}`),
  'DROP INDEX IF EXISTS usage_messages_by_key',
  'DROP TABLE IF EXISTS usage_message_touched',
  'DROP TABLE IF EXISTS usage_message_picks',
  'DROP TABLE IF EXISTS usage_event_picks',
];

export const USAGE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'usage tables and views',
    up: [...TABLES.map((t) => createTableSql(t)), ...PRICE_VERSIONS_DDL, ...picksDdl('duckdb'), ...rollupDdl('duckdb'), ...VIEW_DDL],
    postgres: [
      ...TABLES.map((t) => createTableSql(t, 'postgres')),
      ...PRICE_VERSIONS_DDL,
      ...picksDdl('postgres'),
      ...rollupDdl('postgres'),
      ...viewDdl('postgres'),
    ],
  },
  {
    // Version 1 stored cost_usd and pricing_model per row, computed when the file was read.
    // Rows of deleted transcripts are kept and gain long_context here, so they are priced too.
    version: 2,
    description: 'price at read time: usage_messages loses cost_usd and pricing_model, gains long_context',
    up: [
      ...VIEWS.map((v) => `DROP VIEW IF EXISTS ${v}`),
      'ALTER TABLE usage_messages ADD COLUMN IF NOT EXISTS long_context BOOLEAN',
      'ALTER TABLE usage_messages DROP COLUMN IF EXISTS cost_usd',
      'ALTER TABLE usage_messages DROP COLUMN IF EXISTS pricing_model',
    ],
    postgres: [],
  },
  {
    // Its own transaction: DuckDB refuses to update rows of a table altered in the same one.
    version: 3,
    description: 'price at read time: price versions, long_context of existing rows, views',
    up: [
      `UPDATE usage_messages SET long_context = ${LONG_CONTEXT_SQL} WHERE long_context IS NULL`,
      ...TABLES.map((t) => createTableSql(t)),
      ...PRICE_VERSIONS_DDL,
      ...picksDdl('duckdb'),
      ...rollupDdl('duckdb'),
      ...VIEW_DDL,
    ],
    postgres: [],
  },
  {
    // The views written for both stores (array_agg and ARRAY[] for list() and [], GROUP BY by
    // position), and usage_sessions picking a session's latest cwd/branch/version deterministically on ties.
    version: 4,
    description: 'views written once for DuckDB and PostgreSQL',
    // (The rollup's tables: today's views read them; version 8 fills them.)
    up: [...rollupDdl('duckdb'), ...VIEW_DDL],
    postgres: [],
  },
  {
    // The cross-file dedup was a window over every row per query (4.4-5.1 s at 1M messages): now
    // picks kept as data and folded off the commit path (picks.ts), backfilled here. Versions 5
    // and 6 were an earlier picks table recomputed in every commit, reverted (git fe89f9d): a
    // database that ran them has that table, its touched-keys table and its index, dropped here.
    // The views are dropped first, dependents first: PostgreSQL replaces a view only when its
    // columns keep their types exactly, and refuses to drop a table a view reads.
    version: 7,
    description: 'cross-file dedup kept as picks folded off the commit path (usage_message_picks, usage_event_picks, usage_dirty_keys), backfilled',
    up: [...dropOld, createTableSql(DIRTY), ...picksDdl('duckdb'), ...foldSql('duckdb', { all: true, migration: true }), ...rollupDdl('duckdb'), ...VIEW_DDL],
    postgres: [
      ...dropOld,
      createTableSql(DIRTY, 'postgres'),
      ...picksDdl('postgres'),
      ...foldSql('postgres', { all: true, migration: true }),
      ...rollupDdl('postgres'),
      ...viewDdl('postgres'),
    ],
  },
  {
    // The grouped reports and usage_sessions summed every message per query (the per-day
    // breakdown 1.7-1.9 s at 1,000,000 messages, one thread): now sums kept as data per group,
    // folded with the picks (rollup.ts), built here from the picks. Views dropped first, as above.
    version: 8,
    description: 'message sums kept as data per 15-minute bucket, owner, session and model (usage_rollup), built from the picks',
    up: [...VIEWS.map((v) => `DROP VIEW IF EXISTS ${v}`), ...rollupDdl('duckdb'), ...VIEW_DDL, ...rollupRebuildSql('duckdb')],
    postgres: [...VIEWS.map((v) => `DROP VIEW IF EXISTS ${v}`), ...rollupDdl('postgres'), ...viewDdl('postgres'), ...rollupRebuildSql('postgres')],
  },
];
