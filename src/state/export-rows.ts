/**
 * The rows behind `export`, as a stream of events, from one snapshot.
 *
 * The database process (the daemon, or the CLI's own read-only open) never
 * writes a file: it sends each relation's column types and its rows, and the
 * CLI writes the files where it runs (`src/cli/export-writer.ts`). Values
 * travel as DuckDB's own text: `CAST(v AS VARCHAR)` for scalars, `to_json(v)`
 * for nested types; both cast back exactly, so the files are the same
 * whichever process read the rows.
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
  const present = new Set(
    (
      await s.all<{ name: string }>(
        `SELECT table_name AS name FROM duckdb_tables() WHERE NOT temporary UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary`,
      )
    ).map((r) => r.name),
  );
  return wanted.filter((r) => present.has(r));
}

/**
 * Emit every relation: its columns, its rows in chunks (DuckDB's ~2k rows), its end.
 * `emit` may be async (backpressure on a socket); the next chunk waits for it.
 */
export async function exportRows(s: ReadSnapshot, relations: readonly string[], emit: (e: ExportEvent) => void | Promise<void>): Promise<void> {
  for (const relation of relations) {
    const described = await s.all<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM ${ident(relation)}`);
    const columns = described.map((d) => ({ name: d.column_name, type: d.column_type }));
    await emit({ relation, columns });
    const select = columns.map((c) => (isNested(c.type) ? `to_json(${ident(c.name)})::VARCHAR` : `CAST(${ident(c.name)} AS VARCHAR)`));
    // ORDER BY ALL: a view's rows come in any order under parallel execution; sorted, the file is the same every time.
    const result = await s.conn.stream(`SELECT ${select.join(', ')} FROM ${ident(relation)} ORDER BY ALL`);
    let n = 0;
    for await (const rows of result.yieldRows()) {
      n += rows.length;
      await emit({ rows: rows as (string | null)[][] });
    }
    await emit({ end: relation, rows: n });
  }
}
