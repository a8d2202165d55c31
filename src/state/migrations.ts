/**
 * Versioned, idempotent migrations. Each component (the core, and every
 * processor for its own tables) has a linear list of versions; the applied
 * versions are recorded in `schema_version`, so re-running is a no-op and a
 * new version applies exactly once, inside its own transaction.
 */
import type { Db } from './db.js';

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

export async function migrate(db: Db, component: string, migrations: readonly Migration[]): Promise<number[]> {
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
      for (const stmt of m.up) await db.run(stmt);
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
