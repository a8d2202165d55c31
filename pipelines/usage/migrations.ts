/**
 * The usage processor's schema: its four tables (DDL derived from the output
 * table specs, so the loader and the schema cannot drift) and its views.
 * A change to a view is a new migration that re-creates the views.
 */
import type { Migration } from '../../src/state/migrations.js';
import type { OutputTable } from '../../src/pipeline/processor.js';
import { TABLES } from './tables.js';
import { VIEW_DDL } from './views.js';

function createTable(t: OutputTable): string {
  const cols = t.columns.map((c) => `${c.name} ${c.type}${t.key.includes(c.name) ? ' NOT NULL' : ''}`);
  return `CREATE TABLE IF NOT EXISTS ${t.name} (${cols.join(', ')}, PRIMARY KEY (${t.key.join(', ')}))`;
}

export const USAGE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'usage tables and views',
    up: [
      ...TABLES.map(createTable),
      ...VIEW_DDL,
    ],
  },
];
