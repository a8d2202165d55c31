/**
 * The rows behind `export`, as a stream of events, from one snapshot.
 *
 * The database process (the daemon, or the CLI's own read-only open) never
 * writes a file: it sends each relation's column types and its rows, and the
 * CLI writes the files where it runs (`src/cli/export-writer.ts`). Values
 * travel as DuckDB's own text: `CAST(v AS VARCHAR)` for scalars, `to_json(v)`
 * for nested types; both cast back exactly, so the files are the same
 * whichever process read the rows. From PostgreSQL they travel as its text
 * forms (arrays as JSON), with column types named as DuckDB names them
 * (src/state/postgres.ts), which DuckDB casts back the same way.
 */
import type { ReadSnapshot } from './read.js';

export interface ExportColumn {
  name: string;
  type: string;
}

export type ExportEvent =
  | { relation: string; columns: ExportColumn[] }
  | { rows: (string | null)[][] }
  | { end: string; rows: number };

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** Types whose VARCHAR form is not a faithful round trip: lists, structs, maps, unions, arrays. */
export const isNested = (type: string) => /[[\]]|^(STRUCT|MAP|UNION)\b/i.test(type);

/** Relations of `wanted` that exist in the snapshot, in the order given. */
export async function presentRelations(s: ReadSnapshot, wanted: readonly string[]): Promise<string[]> {
  const sql =
    s.kind === 'postgres'
      ? `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()`
      : `SELECT table_name AS name FROM duckdb_tables() WHERE NOT temporary UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary`;
  const present = new Set((await s.all<{ name: string }>(sql)).map((r) => r.name));
  return wanted.filter((r) => present.has(r));
}

/**
 * Emit every relation: its columns, its rows in chunks (DuckDB's ~2k rows), its end.
 * `emit` may be async (backpressure on a socket); the next chunk waits for it.
 */
export async function exportRows(s: ReadSnapshot, relations: readonly string[], emit: (e: ExportEvent) => void | Promise<void>): Promise<void> {
  const pg = s.kind === 'postgres';
  for (const relation of relations) {
    const columns: ExportColumn[] = pg
      ? (await s.stream(`SELECT * FROM ${ident(relation)} LIMIT 0`)).columns.map((c) => ({ name: c.name, type: c.type }))
      : (await s.all<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM ${ident(relation)}`)).map((d) => ({
          name: d.column_name,
          type: d.column_type,
        }));
    await emit({ relation, columns });
    const select = columns.map((c) =>
      pg
        ? isNested(c.type)
          ? `CAST(to_json(${ident(c.name)}) AS TEXT)`
          : `CAST(${ident(c.name)} AS TEXT)`
        : isNested(c.type)
          ? `to_json(${ident(c.name)})::VARCHAR`
          : `CAST(${ident(c.name)} AS VARCHAR)`,
    );
    // ORDER BY ALL: a view's rows come in any order under parallel execution; sorted, the file is the same every time.
    // PostgreSQL has no ORDER BY ALL: every orderable column in turn, text in the "C" collation (bytes, as DuckDB sorts).
    const order = pg
      ? columns
          .filter((c) => !isNested(c.type) && c.type !== 'JSON')
          .map((c) => (c.type === 'VARCHAR' ? `${ident(c.name)} COLLATE "C"` : ident(c.name)))
          .join(', ') || '1'
      : 'ALL';
    const result = await s.stream(`SELECT ${select.join(', ')} FROM ${ident(relation)} ORDER BY ${order}`);
    let n = 0;
    for await (const rows of result.chunks()) {
      n += rows.length;
      await emit({ rows: rows as (string | null)[][] });
    }
    await emit({ end: relation, rows: n });
  }
}
