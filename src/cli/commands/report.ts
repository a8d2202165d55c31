/**
 * `session-pipeline report usage|events`: grouped usage and invocation
 * reports from the usage processor's views. A table on a TTY (aligned, with
 * totals), or `--json` (the stable shape in docs/usage.md) / `--csv`.
 */
import fs from 'node:fs';
import { Command, Option } from 'commander';
import Table from 'cli-table3';
import { addSettings, guard, CliError, EXIT } from '../common.js';
import { loadConfig } from '../../config/config.js';
import { Db } from '../../state/db.js';
import { EVENT_GROUPS, USAGE_GROUPS, type EventGroup, type ReportFilter, type UsageGroup } from '../../../pipelines/usage/views.js';
import { EMPTY_EVENTS, EMPTY_USAGE, eventsReport, hasUsage, usageReport, type EventRow, type Report, type UsageRow } from '../../../pipelines/usage/report.js';
import { secretsReportCommand } from './report-secrets.js';

type Format = 'table' | 'json' | 'csv';

interface CommonOpts {
  since?: string;
  until?: string;
  owner?: string;
  tz: string;
  json?: boolean;
  csv?: boolean;
}

/** `YYYY-MM-DD` or `YYYYMMDD`, as `YYYY-MM-DD`. */
export function parseDate(flag: string, value: string): string {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(value.trim());
  const iso = m ? `${m[1]}-${m[2]}-${m[3]}` : '';
  if (!m || Number.isNaN(Date.parse(`${iso}T00:00:00Z`))) {
    throw new CliError(`invalid ${flag} ${JSON.stringify(value)}: expected a date, YYYY-MM-DD or YYYYMMDD`, EXIT.usage);
  }
  return iso;
}

function parseTz(value: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
  } catch {
    throw new CliError(`invalid --tz ${JSON.stringify(value)}: expected an IANA time zone such as UTC or Europe/Prague`, EXIT.usage);
  }
  return value;
}

function filterFrom(opts: CommonOpts): ReportFilter {
  return {
    tz: parseTz(opts.tz),
    since: opts.since === undefined ? undefined : parseDate('--since', opts.since),
    until: opts.until === undefined ? undefined : parseDate('--until', opts.until),
    owner: opts.owner,
  };
}

function formatOf(opts: CommonOpts): Format {
  if (opts.json && opts.csv) throw new CliError('--json and --csv are exclusive', EXIT.usage);
  return opts.json ? 'json' : opts.csv ? 'csv' : 'table';
}

function addCommon(cmd: Command, groups: readonly string[], byDefault: string): Command {
  cmd
    .addOption(new Option('--by <group>', 'what to group by').choices(groups).default(byDefault))
    .option('--since <date>', 'first day to include, in --tz (YYYY-MM-DD or YYYYMMDD)')
    .option('--until <date>', 'last day to include, in --tz (YYYY-MM-DD or YYYYMMDD)')
    .option('--owner <owner>', 'only this owner (first path segment under the root)')
    .option('--tz <zone>', 'IANA time zone for days, weeks, months and --since/--until', 'UTC')
    .option('--json', 'print {"rows": [...], "totals": {...}} as one JSON object')
    .option('--csv', 'print the rows as CSV with a header line');
  return addSettings(cmd, ['db']);
}

/** Open the database and run `fn`, or report that the usage processor never ran on it. */
async function withUsageDb<T>(opts: Record<string, unknown>, fn: (db: Db) => Promise<T>, empty: T): Promise<T> {
  const config = loadConfig(opts, process.env, ['db']);
  if (config.db !== ':memory:' && !fs.existsSync(config.db)) {
    throw new CliError(`no database at ${config.db} (run \`session-pipeline run --once\` first, or pass --db)`, EXIT.unavailable);
  }
  // A daemon holding the write lock makes this fail with exit code 3 (DuckDB admits one writer process).
  const db = await Db.open(config.db);
  try {
    if (!(await hasUsage(db))) {
      process.stderr.write('session-pipeline: the usage processor has not run on this database\n');
      return empty;
    }
    return await fn(db);
  } finally {
    await db.close();
  }
}

const LABELS: Record<UsageGroup | EventGroup, string> = {
  day: 'date',
  week: 'week (Mon)',
  month: 'month',
  session: 'session',
  owner: 'owner',
  model: 'model',
  tool: 'tool',
  skill: 'skill',
  mcp: 'mcp server/tool',
  subagent: 'subagent type',
  command: 'command',
};

const int = (n: number) => n.toLocaleString('en-US');
const usd = (n: number | null) => (n === null ? 'unpriced' : `$${n.toFixed(n === 0 || n >= 0.01 ? 2 : 4)}`);

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : Array.isArray(v) ? v.join(';') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function renderCsv<Row extends object>(fields: readonly (keyof Row & string)[], rows: readonly Row[]): string {
  const lines = [fields.join(',')];
  for (const r of rows) lines.push(fields.map((f) => csvCell(r[f])).join(','));
  return lines.join('\n') + '\n';
}

const USAGE_FIELDS = [
  'key',
  'messages',
  'input_tokens',
  'output_tokens',
  'cache_creation_tokens',
  'cache_read_tokens',
  'cost_usd',
  'unpriced_models',
] as const satisfies readonly (keyof UsageRow)[];

const EVENT_FIELDS = ['key', 'events', 'errors', 'sessions'] as const satisfies readonly (keyof EventRow)[];

export function renderUsageTable(by: UsageGroup, r: Report<UsageRow>): string {
  const unpriced = r.totals.unpriced_models.length > 0;
  const head = [LABELS[by], 'messages', 'input', 'output', 'cache create', 'cache read', 'cost (USD)'];
  if (unpriced) head.push('unpriced models');
  const colAligns = head.map((_, i) => (i === 0 || i === 7 ? 'left' : 'right') as 'left' | 'right');
  const t = new Table({ head, colAligns, style: { head: [], border: [], compact: true } });
  const cells = (row: UsageRow) => {
    const c = [
      row.key ?? '(no timestamp)',
      int(row.messages),
      int(row.input_tokens),
      int(row.output_tokens),
      int(row.cache_creation_tokens),
      int(row.cache_read_tokens),
      usd(row.cost_usd) + (row.cost_usd !== null && row.unpriced_models.length > 0 ? ' *' : ''),
    ];
    if (unpriced) c.push(row.unpriced_models.join(', '));
    return c;
  };
  for (const row of r.rows) t.push(cells(row));
  t.push(cells({ ...r.totals, key: 'total' }));
  const note = unpriced ? '* partial: the cost leaves out messages of unpriced models (their tokens are counted)\n' : '';
  return `${t.toString()}\n${note}`;
}

export function renderEventsTable(by: EventGroup, r: Report<EventRow>): string {
  const head = [LABELS[by], 'events', 'errors', 'sessions'];
  const t = new Table({ head, colAligns: ['left', 'right', 'right', 'right'], style: { head: [], border: [], compact: true } });
  for (const row of [...r.rows, { ...r.totals, key: 'total' }]) {
    t.push([row.key ?? '(none)', int(row.events), int(row.errors), int(row.sessions)]);
  }
  return `${t.toString()}\n`;
}

function emit<Row extends object>(format: Format, r: Report<Row>, fields: readonly (keyof Row & string)[], table: () => string): void {
  if (format === 'json') process.stdout.write(JSON.stringify(r) + '\n');
  else if (format === 'csv') process.stdout.write(renderCsv(fields, r.rows));
  else process.stdout.write(table());
}


export function reportCommand(): Command {
  const report = new Command('report').description('reports from the database: usage, invocation events, secrets');

  const usage = addCommon(
    new Command('usage').description('tokens and cost, each API message counted once across files'),
    USAGE_GROUPS,
    'day',
  );
  usage.action((opts) =>
    guard(async () => {
      const filter = filterFrom(opts);
      const format = formatOf(opts);
      const by = opts.by as UsageGroup;
      const r = await withUsageDb(opts, (db) => usageReport(db, by, filter), EMPTY_USAGE);
      emit(format, r, USAGE_FIELDS, () => renderUsageTable(by, r));
    }),
  );

  const events = addCommon(
    new Command('events').description('tool, skill, MCP, subagent and slash-command invocations, with errors'),
    EVENT_GROUPS,
    'tool',
  );
  events.action((opts) =>
    guard(async () => {
      const filter = filterFrom(opts);
      const format = formatOf(opts);
      const by = opts.by as EventGroup;
      const r = await withUsageDb(opts, (db) => eventsReport(db, by, filter), EMPTY_EVENTS);
      emit(format, r, EVENT_FIELDS, () => renderEventsTable(by, r));
    }),
  );

  report.addCommand(usage);
  report.addCommand(events);
  report.addCommand(secretsReportCommand());
  return report;
}
