/**
 * `session-pipeline export --format parquet --out DIR`: the usage tables and
 * views, one file per relation (`DIR/<name>.parquet`), for tools that read
 * Parquet (or CSV) rather than DuckDB.
 *
 * The rows come from one snapshot, through the daemon when one runs or from
 * the file opened read-only; the files are always written here, by this
 * process, into `--out` (src/cli/export-writer.ts). A daemon never writes a
 * path a client chose.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import Table from 'cli-table3';
import { addSettings, guard, CliError, EXIT } from '../common.js';
import { builtInExports } from '../../../pipelines/index.js';
import { ExportWriter, type ExportFormat, type Exported } from '../export-writer.js';
import { openReadTarget, READ_SETTINGS } from '../read-target.js';

export type { Exported };

export function exportCommand(): Command {
  const cmd = new Command('export')
    .description('write the usage tables and views to files, one per relation (live or offline)')
    .addOption(new Option('--format <format>', 'file format').choices(['parquet', 'csv']).default('parquet'))
    .requiredOption('--out <dir>', 'directory to write into (created if missing; files are overwritten)')
    .option('--json', 'print what was written as one JSON object');
  addSettings(cmd, READ_SETTINGS);
  cmd.action((opts) =>
    guard(async () => {
      const dir = path.resolve(String(opts.out));
      const format = opts.format as ExportFormat;
      const target = await openReadTarget(opts, 10 * 60_000);
      let written: Exported[];
      try {
        fs.mkdirSync(dir, { recursive: true });
        const writer = await ExportWriter.open(dir, format);
        try {
          await target.export(builtInExports(), (e) => writer.accept(e));
        } finally {
          writer.close();
        }
        written = writer.written;
      } finally {
        await target.close();
      }
      if (written.length === 0) throw new CliError('the usage processor has not run on this database: nothing to export', EXIT.failure);
      if (opts.json) {
        process.stdout.write(JSON.stringify({ dir, format, files: written }) + '\n');
        return;
      }
      const t = new Table({ head: ['relation', 'rows', 'file'], colAligns: ['left', 'right', 'left'], style: { head: [], border: [], compact: true } });
      for (const w of written) t.push([w.relation, w.rows.toLocaleString('en-US'), w.file]);
      process.stdout.write(`${t.toString()}\n`);
    }),
  );
  return cmd;
}
