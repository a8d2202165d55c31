/**
 * `session-pipeline sql "<query>" [--json|--csv]`: one read-only statement over
 * the tables and views, live through the daemon or offline on the file opened
 * read-only. What may run is decided by DuckDB (src/state/sql.ts); anything
 * else is refused with one line and exit 2.
 */
import { Command } from 'commander';
import { addSettings, guard, CliError, EXIT } from '../common.js';
import { ReadLimitError } from '../../state/read.js';
import { SqlFailedError, SqlRefusedError, SQL_DEFAULTS, type SqlResult, type SqlValue } from '../../state/sql.js';
import { openReadTarget, READ_SETTINGS } from '../read-target.js';
import { renderTable } from '../../pipeline/table.js';

const text = (v: SqlValue): string => (v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

function csvCell(v: SqlValue): string {
  const s = text(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderSqlCsv(r: SqlResult): string {
  const names = r.columns.map((c) => c.name);
  const keys = Object.keys(r.rows[0] ?? {});
  const cols = keys.length === names.length ? keys : names;
  const lines = [names.map((n) => csvCell(n)).join(',')];
  for (const row of r.rows) lines.push(cols.map((k) => csvCell(row[k] ?? null)).join(','));
  return lines.join('\n') + '\n';
}

export function renderSqlTable(r: SqlResult): string {
  const rows = r.rows.map((row) => Object.values(row).map((v) => (v === null ? 'NULL' : text(v))));
  const aligns = r.columns.map((c) => (/INT|DOUBLE|FLOAT|DECIMAL|REAL|NUMERIC/.test(c.type) && !c.type.includes('[') ? 'right' : 'left') as 'left' | 'right');
  const n = r.rows.length;
  return `${renderTable(r.columns.map((c) => c.name), rows, aligns)}\n${n.toLocaleString('en-US')} row${n === 1 ? '' : 's'}\n`;
}

function wholeNumber(flag: string, v: unknown): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new CliError(`invalid ${flag} ${JSON.stringify(v)}: expected a whole number > 0`, EXIT.usage);
  return n;
}

export function sqlCommand(): Command {
  const cmd = new Command('sql')
    .description('run one read-only SQL statement (SELECT, WITH, DESCRIBE, SHOW) over the tables and views, live or offline')
    .argument('<query>', 'the statement, e.g. "SELECT * FROM usage_daily"')
    .option('--json', 'print {"columns": [{"name", "type"}], "rows": [{"<column>": value}]}')
    .option('--csv', 'print CSV with a header line')
    .option('--max-rows <n>', 'stop with an error past this many rows', String(SQL_DEFAULTS.maxRows))
    .option('--timeout-ms <ms>', 'stop the query after this long', String(SQL_DEFAULTS.timeoutMs));
  addSettings(cmd, READ_SETTINGS);
  cmd.action((query: string, opts: Record<string, unknown>) =>
    guard(async () => {
      if (opts.json && opts.csv) throw new CliError('--json and --csv are exclusive', EXIT.usage);
      const maxRows = wholeNumber('--max-rows', opts.maxRows);
      const timeoutMs = wholeNumber('--timeout-ms', opts.timeoutMs);
      const target = await openReadTarget(opts, timeoutMs + 30_000);
      let r: SqlResult;
      try {
        r = await target.sql({ sql: query, maxRows, timeoutMs });
      } catch (err) {
        if (err instanceof SqlRefusedError) throw new CliError(`sql: ${err.message}`, EXIT.usage);
        if (err instanceof ReadLimitError || err instanceof SqlFailedError) throw new CliError(`sql: ${err.message}`, EXIT.failure);
        if (err instanceof CliError) throw new CliError(`sql: ${err.message}`, err.exitCode);
        throw err;
      } finally {
        await target.close();
      }
      process.stdout.write(opts.json ? JSON.stringify(r) + '\n' : opts.csv ? renderSqlCsv(r) : renderSqlTable(r));
    }),
  );
  return cmd;
}
