/**
 * The usage processor's schema: its tables (DDL derived from the output
 * table specs, so the loader and the schema cannot drift), the price
 * versions, and the views. A change to a view is a new migration that
 * re-creates the views.
 */
import type { Migration } from '../../src/state/migrations.js';
import { createTableSql } from '../../src/pipeline/processor.js';
import { TABLES } from './tables.js';
import { LONG_CONTEXT_SQL, VIEW_DDL } from './views.js';
import { PRICE_VERSIONS_DDL } from './price-versions.js';

/** The views of VIEW_DDL (a superset of version 1's), dependents first. */
const VIEWS = VIEW_DDL.map((sql) => /VIEW (\w+) AS/.exec(sql)![1]).reverse();

export const USAGE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'usage tables and views',
    up: [...TABLES.map((t) => createTableSql(t)), ...PRICE_VERSIONS_DDL, ...VIEW_DDL],
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
  },
  {
    // Its own transaction: DuckDB refuses to update rows of a table altered in the same one.
    version: 3,
    description: 'price at read time: price versions, long_context of existing rows, views',
    up: [
      `UPDATE usage_messages SET long_context = ${LONG_CONTEXT_SQL} WHERE long_context IS NULL`,
      ...TABLES.map((t) => createTableSql(t)),
      ...PRICE_VERSIONS_DDL,
      ...VIEW_DDL,
    ],
  },
];
