/**
 * Versioned, idempotent migrations. Each component (the core, and every
 * processor for its own tables) has a linear list of versions; the applied
 * versions are recorded in `schema_version`, so re-running is a no-op and a
 * new version applies exactly once, inside its own transaction.
 *
 * On PostgreSQL several daemons may start at once against one database: each
 * component's migrations run in one transaction holding an advisory lock
 * (`pg_advisory_xact_lock`), and the applied versions are read under it, so the
 * second daemon waits and then finds them applied.
 */
import type { Db } from './db.js';
import { createTableSql, keyedIn, quoteIdent, type OutputTable } from './table.js';

export interface Migration {
  version: number;
  description: string;
  /** Statements, run in order in one transaction (DuckDB; PostgreSQL too unless `postgres` is given). */
  up: readonly string[];
  /**
   * The same version in PostgreSQL's dialect. `[]` for a step that PostgreSQL never needs: a
   * PostgreSQL store is always created from today's declarations by version 1.
   */
  postgres?: readonly string[];
}

const BOOTSTRAP = `CREATE TABLE IF NOT EXISTS schema_version (
  component VARCHAR NOT NULL,
  version INTEGER NOT NULL,
  description VARCHAR,
  applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
  PRIMARY KEY (component, version)
)`;

/**
 * Taken first in a PostgreSQL transaction that migrates: held to its end, so daemons starting at
 * once migrate one after the other (any constant key; `hashtext` of a name keeps it readable).
 */
export const MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext('session-pipeline migrations'))";

/** The statements of `m` for a store: PostgreSQL's own when given, else `up`. */
export function statementsFor(m: Migration, kind: Db['kind']): readonly string[] {
  return kind === 'postgres' ? (m.postgres ?? m.up) : m.up;
}

export async function migrate(db: Db, component: string, migrations: readonly Migration[]): Promise<number[]> {
  if (db.kind === 'postgres') {
    return db.transaction(async () => {
      await db.run(MIGRATION_LOCK);
      return applyMissing(db, component, migrations);
    });
  }
  return applyMissing(db, component, migrations);
}

async function applyMissing(db: Db, component: string, migrations: readonly Migration[]): Promise<number[]> {
  await db.run(BOOTSTRAP);
  const rows = await db.all<{ version: number }>(
    'SELECT version FROM schema_version WHERE component = $1',
    [component],
  );
  const applied = new Set(rows.map((r) => Number(r.version)));
  const done: number[] = [];
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  for (const m of sorted) {
    if (applied.has(m.version)) continue;
    await db.transaction(async () => {
      for (const stmt of statementsFor(m, db.kind)) await db.run(stmt);
      await db.run('INSERT INTO schema_version (component, version, description) VALUES ($1, $2, $3)', [
        component,
        m.version,
        m.description,
      ]);
    });
    done.push(m.version);
  }
  return done;
}

/**
 * A DuckDB store from before replace tables lost their primary key (state/table.ts `keyedIn`):
 * each such table still keyed is rebuilt once without it, rows copied, in one transaction. Only a
 * table whose columns are the declared ones: one with a column the declaration lacks keeps its
 * key, so nothing is dropped. Returns the tables rebuilt.
 */
export async function unkeyReplaceTables(db: Db, tables: readonly OutputTable[]): Promise<string[]> {
  if (db.kind !== 'duckdb') return [];
  const rebuilt: string[] = [];
  // One query at every open; a store made by this release finds none of these keyed.
  const keyed = new Set(
    (await db.all<{ table_name: string }>(`SELECT table_name FROM duckdb_constraints() WHERE schema_name = 'main' AND constraint_type = 'PRIMARY KEY'`)).map((r) => r.table_name),
  );
  for (const t of tables) {
    if (keyedIn(t, db.kind) || !keyed.has(t.name)) continue;
    const have = new Set(
      (await db.all<{ column_name: string }>(`SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = $1`, [t.name])).map((r) => r.column_name),
    );
    const want = [...t.columns.map((c) => c.name), ...(t.replace?.hashColumn ? [t.replace.hashColumn] : [])];
    if (have.size !== want.length || !want.every((c) => have.has(c))) continue;
    const table = quoteIdent(t.name);
    const next = quoteIdent(`${t.name}__unkeyed`);
    const cols = want.map(quoteIdent).join(', ');
    await db.transaction(async () => {
      await db.run(`DROP TABLE IF EXISTS ${next}`);
      await db.run(createTableSql({ ...t, name: `${t.name}__unkeyed` }));
      await db.run(`INSERT INTO ${next} (${cols}) SELECT ${cols} FROM ${table}`);
      await db.run(`DROP TABLE ${table}`);
      await db.run(`ALTER TABLE ${next} RENAME TO ${table}`);
    });
    rebuilt.push(t.name);
  }
  return rebuilt;
}
