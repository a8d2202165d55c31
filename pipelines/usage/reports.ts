/**
 * The usage processor's reports, `report usage` and `report events` (CLI) and
 * `GET /reports/usage|events` (admin API): parameters, query and output, once.
 * The JSON shapes are documented in docs/usage.md.
 */
import type { ReportDefinition, ReportParam, ReportParams } from '../../src/pipeline/report.js';
import { int, renderTable, usd, type Align } from '../../src/pipeline/table.js';
import { machineTimeZone, ORDER_PARAM, SINCE_PARAM, TZ_PARAM, UNTIL_PARAM } from '../../src/pipeline/report-time.js';
import { EVENT_GROUPS, USAGE_GROUPS, type EventGroup, type ReportFilter, type UsageGroup } from './views.js';
import { renderCsv } from './csv.js';
import { blocksReportDef } from './blocks-report.js';
import { EMPTY_EVENTS, EMPTY_USAGE, eventsReport, hasUsage, usageReport, type EventRow, type Report, type UsageFigures, type UsageRow } from './report.js';

/** The filter parameters both reports take; the zone first, as `--since today` resolves in it. */
export const FILTER_PARAMS: readonly ReportParam[] = [
  TZ_PARAM,
  SINCE_PARAM,
  UNTIL_PARAM,
  { name: 'owner', valueName: 'owner', description: 'only this owner (first path segment under the root)' },
];

export const filterOf = (p: ReportParams): ReportFilter => ({
  tz: p.tz ?? machineTimeZone(),
  since: p.since,
  until: p.until,
  owner: p.owner,
  model: p.model,
  order: p.order === 'desc' ? 'desc' : 'asc',
});

/** Messages carry a model, events do not: usage reports only. */
export const MODEL_PARAM: ReportParam = { name: 'model', valueName: 'model', description: "only messages of this model ('(unknown)' for none)" };

const BREAKDOWN_PARAM: ReportParam = { name: 'breakdown', short: 'b', flag: true, description: 'split each row per model' };

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


const USAGE_FIELDS = [
  'key',
  'messages',
  'input_tokens',
  'output_tokens',
  'cache_creation_tokens',
  'cache_read_tokens',
  'total_tokens',
  'cost_usd',
  'models',
  'unpriced_models',
] as const satisfies readonly (keyof UsageRow)[];

const EVENT_FIELDS = ['key', 'events', 'errors', 'sessions'] as const satisfies readonly (keyof EventRow)[];

export function renderUsageTable(by: UsageGroup, r: Report<UsageRow>): string {
  const unpriced = r.totals.unpriced_models.length > 0;
  const showModels = by !== 'model';
  const head = [LABELS[by], ...(showModels ? ['models'] : []), 'messages', 'input', 'output', 'cache create', 'cache read', 'total tokens', 'cost (USD)'];
  if (unpriced) head.push('unpriced models');
  const colAligns = head.map((h, i): Align => (i === 0 || (showModels && i === 1) || h === 'unpriced models' ? 'left' : 'right'));
  const t: string[][] = [];
  const cells = (label: string, models: string, row: UsageFigures) => {
    const c = [
      label,
      ...(showModels ? [models] : []),
      int(row.messages),
      int(row.input_tokens),
      int(row.output_tokens),
      int(row.cache_creation_tokens),
      int(row.cache_read_tokens),
      int(row.total_tokens),
      usd(row.cost_usd) + (row.cost_usd !== null && row.unpriced_models.length > 0 ? ' *' : ''),
    ];
    if (unpriced) c.push(row.unpriced_models.join(', '));
    return c;
  };
  for (const row of [...r.rows, { ...r.totals, key: 'total' }]) {
    t.push(cells(row.key ?? '(no timestamp)', row.models.join(', '), row));
    for (const m of row.breakdown ?? []) t.push(cells(`  └ ${m.model}`, '', m));
  }
  const note = unpriced ? '* partial: the cost leaves out messages of unpriced models (their tokens are counted)\n' : '';
  return `${renderTable(head, t, colAligns)}\n${note}`;
}

export function renderEventsTable(by: EventGroup, r: Report<EventRow>): string {
  const head = [LABELS[by], 'events', 'errors', 'sessions'];
  const rows = [...r.rows, { ...r.totals, key: 'total' }].map((row) => [row.key ?? '(none)', int(row.events), int(row.errors), int(row.sessions)]);
  return `${renderTable(head, rows, ['left', 'right', 'right', 'right'])}\n`;
}

const NOT_RUN = 'the usage processor has not run on this database';

export const usageReportDef: ReportDefinition<Report<UsageRow>> = {
  name: 'usage',
  description: 'tokens and cost, each API message counted once across files',
  params: [
    { name: 'by', valueName: 'group', description: 'what to group by', choices: USAGE_GROUPS, default: 'day' },
    ...FILTER_PARAMS,
    MODEL_PARAM,
    ORDER_PARAM,
    BREAKDOWN_PARAM,
  ],
  jsonShape:
    '{"rows": [{"key", "messages", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "total_tokens", "cost_usd", "unpriced_models", "models", "breakdown"?: [{"model", ...}]}], "totals": {...}}',
  async run(q, p) {
    if (!(await hasUsage(q))) return { result: EMPTY_USAGE, notice: NOT_RUN };
    return { result: await usageReport(q, p.by as UsageGroup, filterOf(p), p.breakdown === 'true') };
  },
  table: (r, p) => renderUsageTable(p.by as UsageGroup, r),
  csv: (r) => renderCsv(USAGE_FIELDS, r.rows),
};

export const eventsReportDef: ReportDefinition<Report<EventRow>> = {
  name: 'events',
  description: 'tool, skill, MCP, subagent and slash-command invocations, with errors',
  params: [{ name: 'by', valueName: 'group', description: 'what to group by', choices: EVENT_GROUPS, default: 'tool' }, ...FILTER_PARAMS],
  jsonShape: '{"rows": [{"key", "events", "errors", "sessions"}], "totals": {...}}',
  async run(q, p) {
    if (!(await hasUsage(q))) return { result: EMPTY_EVENTS, notice: NOT_RUN };
    return { result: await eventsReport(q, p.by as EventGroup, filterOf(p)) };
  },
  table: (r, p) => renderEventsTable(p.by as EventGroup, r),
  csv: (r) => renderCsv(EVENT_FIELDS, r.rows),
};

export const USAGE_REPORTS: readonly ReportDefinition[] = [
  usageReportDef as ReportDefinition,
  eventsReportDef as ReportDefinition,
  blocksReportDef as ReportDefinition,
];
