/**
 * Writes `export`'s files where the CLI runs, from the row stream of
 * `src/state/export-rows.ts`, whichever process read the rows. A private
 * in-memory DuckDB turns the text values back into their types and writes
 * Parquet or CSV; the path is always the CLI user's `--out`.
 */
import path from 'node:path';
import type { DuckDBAppender, DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { duckdb } from '../state/duckdb-api.js';
import { isNested, type ExportColumn, type ExportEvent } from '../state/export-rows.js';

export type ExportFormat = 'parquet' | 'csv';

export interface Exported {
  relation: string;
  rows: number;
  file: string;
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

export class ExportWriter {
  private current: { relation: string; columns: ExportColumn[]; appender: DuckDBAppender } | null = null;
  readonly written: Exported[] = [];

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly dir: string,
    private readonly format: ExportFormat,
  ) {}

  static async open(dir: string, format: ExportFormat): Promise<ExportWriter> {
    // One thread: rows and row groups land in the file in the order they came, so the same rows make the same bytes.
    const instance = await duckdb.DuckDBInstance.create(':memory:', { threads: '1' });
    return new ExportWriter(instance, await instance.connect(), dir, format);
  }

  /** Feed one event of the stream; the file of a relation is written at its end. */
  async accept(e: ExportEvent): Promise<void> {
    if ('columns' in e) {
      const cols = e.columns.map((_, i) => `c${i} VARCHAR`).join(', ');
      await this.conn.run(`CREATE OR REPLACE TABLE staged (${cols})`);
      this.current = { relation: e.relation, columns: e.columns, appender: await this.conn.createAppender('staged') };
      return;
    }
    const cur = this.current;
    if (!cur) throw new Error('export stream: rows before a relation');
    if ('rows' in e && !('end' in e)) {
      for (const row of e.rows) {
        for (const v of row) {
          if (v === null) cur.appender.appendNull();
          else cur.appender.appendVarchar(v);
        }
        cur.appender.endRow();
      }
      return;
    }
    cur.appender.closeSync();
    const typed = cur.columns.map((c, i) => (isNested(c.type) ? `CAST(CAST(c${i} AS JSON) AS ${c.type})` : `CAST(c${i} AS ${c.type})`) + ` AS ${ident(c.name)}`);
    const file = path.join(this.dir, `${cur.relation}.${this.format}`);
    const options = this.format === 'parquet' ? 'FORMAT parquet, COMPRESSION zstd' : 'FORMAT csv, HEADER true';
    await this.conn.run(`COPY (SELECT ${typed.join(', ')} FROM staged) TO ${literal(file)} (${options})`);
    this.written.push({ relation: cur.relation, rows: e.end === cur.relation ? e.rows : -1, file });
    this.current = null;
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
