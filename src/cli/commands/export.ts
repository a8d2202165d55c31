/**
 * `session-pipeline export --format parquet --out DIR`: the usage tables and
 * views, one file per relation (`DIR/<name>.parquet`), for tools that read
 * Parquet (or CSV) rather than DuckDB.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import Table from 'cli-table3';
import { addSettings, guard, CliError, EXIT } from '../common.js';
import { loadConfig } from '../../config/config.js';
import { Db } from '../../state/db.js';
import { EXPORTED } from '../../../pipelines/usage/views.js';

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

export interface Exported {
  relation: string;
  rows: number;
  file: string;
}

/** Write every existing usage relation to `dir`; returns what was written. */
export async function exportUsage(db: Db, dir: string, format: 'parquet' | 'csv'): Promise<Exported[]> {
  fs.mkdirSync(dir, { recursive: true });
  const present = new Set(
    (
      await db.all<{ name: string }>(
        `SELECT table_name AS name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal`,
      )
    ).map((r) => r.name),
  );
  const out: Exported[] = [];
  for (const relation of EXPORTED) {
    if (!present.has(relation)) continue;
    const file = path.join(dir, `${relation}.${format}`);
    const options = format === 'parquet' ? 'FORMAT parquet, COMPRESSION zstd' : 'FORMAT csv, HEADER true';
    await db.run(`COPY (SELECT * FROM ${relation}) TO ${literal(file)} (${options})`);
    const [{ n }] = await db.all<{ n: bigint }>(`SELECT count(*) AS n FROM ${relation}`);
    out.push({ relation, rows: Number(n), file });
  }
  return out;
}

export function exportCommand(): Command {
  const cmd = new Command('export')
    .description('write the usage tables and views to files, one per relation')
    .addOption(new Option('--format <format>', 'file format').choices(['parquet', 'csv']).default('parquet'))
    .requiredOption('--out <dir>', 'directory to write into (created if missing; files are overwritten)')
    .option('--json', 'print what was written as one JSON object');
  addSettings(cmd, ['db']);
  cmd.action((opts) =>
    guard(async () => {
      const config = loadConfig(opts, process.env, ['db']);
      if (config.db !== ':memory:' && !fs.existsSync(config.db)) {
        throw new CliError(`no database at ${config.db} (run \`session-pipeline run --once\` first, or pass --db)`, EXIT.unavailable);
      }
      const dir = path.resolve(String(opts.out));
      const db = await Db.open(config.db);
      let written: Exported[];
      try {
        written = await exportUsage(db, dir, opts.format);
      } finally {
        await db.close();
      }
      if (written.length === 0) throw new CliError('the usage processor has not run on this database: nothing to export', EXIT.failure);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ dir, format: opts.format, files: written }) + '\n');
        return;
      }
      const t = new Table({ head: ['relation', 'rows', 'file'], colAligns: ['left', 'right', 'left'], style: { head: [], border: [], compact: true } });
      for (const w of written) t.push([w.relation, w.rows.toLocaleString('en-US'), w.file]);
      process.stdout.write(`${t.toString()}\n`);
    }),
  );
  return cmd;
}
