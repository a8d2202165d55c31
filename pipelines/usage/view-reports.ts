/**
 * The usage reports behind the dashboard's views, declared like `usage` and
 * `events` (src/pipeline/report.ts), so the CLI prints them too
 * (`report live`, `report sessions`, `report session --key ...`,
 * `report events-by-day-kind`) and the page
 * reads them from `GET /reports/<name>`, live or offline alike.
 */
import { int as grouped, renderTable, usd } from '../../src/pipeline/table.js';
import { ReportParamError, type ReportDefinition } from '../../src/pipeline/report.js';
import { FILTER_PARAMS, filterOf, MODEL_PARAM, renderEventsTable, USAGE_REPORTS } from './reports.js';
import { EVENT_GROUPS, type EventGroup } from './views.js';
import { renderCsv } from './csv.js';
import { EMPTY_EVENTS, eventsReports, hasUsage, type EventRow, type Report } from './report.js';
import { eventsByDayKind, type DayKindRow } from './series.js';
import { liveFiles, sessionDetail, sessionList, SESSION_SORTS, type LiveFile, type SessionDetail, type SessionList, type SessionSort } from './sessions.js';

const NOT_RUN = 'the usage processor has not run on this database';
const int = (n: number | null) => (n === null ? '-' : grouped(n));
/** Rows pushed, then printed by the linear-time renderer (cli-table3 took 4.9 s for 2,000 rows here). */
const table = (head: string[], numeric: number[]) => {
  const rows: string[][] = [];
  return {
    push: (row: string[]) => void rows.push(row),
    toString: () => renderTable(head, rows, head.map((_, i) => (numeric.includes(i) ? 'right' : 'left'))),
  };
};

const filterWithModel = filterOf;

function wholeNumber(name: string, min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new ReportParamError(`invalid --${name} ${JSON.stringify(v)}: expected a whole number from ${min} to ${max}`);
    return String(n);
  };
}

const DURATION: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const eventsByDayKindDef: ReportDefinition<{ rows: DayKindRow[] }> = {
  name: 'events-by-day-kind',
  description: 'tool, skill, MCP, subagent and slash-command uses and errors per day',
  params: FILTER_PARAMS,
  jsonShape: '{"rows": [{"day", "kind", "events", "errors"}]}',
  async run(q, p) {
    if (!(await hasUsage(q))) return { result: { rows: [] }, notice: NOT_RUN };
    return { result: { rows: await eventsByDayKind(q, filterOf(p)) } };
  },
  table(r) {
    const t = table(['date', 'kind', 'events', 'errors'], [2, 3]);
    for (const x of r.rows) t.push([x.day, x.kind, int(x.events), int(x.errors)]);
    return `${t.toString()}\n`;
  },
  csv: (r) => renderCsv(['day', 'kind', 'events', 'errors'], r.rows),
};

/** `groups`: a comma-separated list of `report events --by` groups, each once, in order. */
function eventGroupList(v: string): string {
  const groups = v.split(',').map((g) => g.trim()).filter(Boolean);
  const bad = groups.find((g) => !(EVENT_GROUPS as readonly string[]).includes(g));
  if (bad !== undefined || groups.length === 0) throw new ReportParamError(`invalid --groups ${JSON.stringify(v)}: expected a comma-separated list of ${EVENT_GROUPS.join(', ')}`);
  if (new Set(groups).size !== groups.length) throw new ReportParamError(`invalid --groups ${JSON.stringify(v)}: a group is listed twice`);
  return groups.join(',');
}

/** Several `report events` groups from one scan of the events: the dashboard's tools view. */
export const eventsGroupsDef: ReportDefinition<Partial<Record<EventGroup, Report<EventRow>>>> = {
  name: 'events-groups',
  description: 'several `report events --by` groups at once, from one scan of the events',
  params: [
    { name: 'groups', valueName: 'list', description: `comma-separated groups (${EVENT_GROUPS.join(', ')})`, default: EVENT_GROUPS.join(','), parse: eventGroupList },
    ...FILTER_PARAMS,
  ],
  jsonShape: '{"<group>": {"rows": [{"key", "events", "errors", "sessions"}], "totals": {...}}, ...}, one member per group, in the order asked',
  async run(q, p) {
    const groups = (p.groups ?? EVENT_GROUPS.join(',')).split(',') as EventGroup[];
    if (!(await hasUsage(q))) return { result: Object.fromEntries(groups.map((g) => [g, EMPTY_EVENTS])), notice: NOT_RUN };
    const reports = await eventsReports(q, groups, filterOf(p));
    return { result: Object.fromEntries(groups.map((g, i) => [g, reports[i]])) };
  },
  table: (r) =>
    Object.entries(r)
      .map(([g, report]) => renderEventsTable(g as EventGroup, report!))
      .join('\n'),
};

export const liveDef: ReportDefinition<{ since: string; rows: LiveFile[] }> = {
  name: 'live',
  description: 'session files with a line in the last minutes: tokens, cost, the tool running now',
  params: [
    {
      name: 'since',
      valueName: 'when',
      description: 'how far back a line counts as activity: a duration (15m, 2h) or an ISO date-time',
      default: '15m',
      // Resolved where the command runs, so the daemon and the CLI mean the same instant.
      parse: (v, now) => {
        const m = /^(\d+)\s*([smhd])$/.exec(v.trim());
        const t = m ? now - Number(m[1]) * DURATION[m[2]] : Date.parse(v);
        if (!Number.isFinite(t)) throw new ReportParamError(`invalid --since ${JSON.stringify(v)}: expected a duration (15m, 2h) or an ISO date-time`);
        return new Date(t).toISOString();
      },
    },
    { name: 'owner', valueName: 'owner', description: 'only this owner' },
    MODEL_PARAM,
  ],
  jsonShape: '{"since", "rows": [{"session_file", "owner", "session_id", "subagent", "model", "first_ts", "last_ts", "messages", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "cost_usd", "running_tool", "running_since"}]}',
  async run(q, p) {
    const since = p.since ?? new Date(Date.now() - 15 * 60_000).toISOString();
    if (!(await hasUsage(q))) return { result: { since, rows: [] }, notice: NOT_RUN };
    return { result: { since, rows: await liveFiles(q, { since: Date.parse(since), owner: p.owner, model: p.model }) } };
  },
  table(r) {
    if (r.rows.length === 0) return `no session file had a line since ${r.since}\n`;
    const t = table(['file', 'model', 'messages', 'input', 'output', 'cost (USD)', 'last line', 'running now'], [2, 3, 4, 5]);
    for (const x of r.rows) t.push([x.session_file, x.model ?? '-', int(x.messages), int(x.input_tokens), int(x.output_tokens), usd(x.cost_usd), x.last_ts ?? '-', x.running_tool ?? '-']);
    return `${t.toString()}\n`;
  },
};

export const sessionsDef: ReportDefinition<SessionList> = {
  name: 'sessions',
  description: 'sessions, sorted and searched, a page at a time',
  params: [
    ...FILTER_PARAMS,
    MODEL_PARAM,
    { name: 'q', valueName: 'text', description: 'only sessions whose key, directory or branch contains this (any case)' },
    { name: 'sort', valueName: 'column', description: 'sort by', choices: SESSION_SORTS, default: 'last_ts' },
    { name: 'dir', valueName: 'dir', description: 'sort direction', choices: ['asc', 'desc'], default: 'desc' },
    { name: 'limit', valueName: 'n', description: 'sessions per page (1-1000)', default: '100', parse: wholeNumber('limit', 1, 1000) },
    { name: 'offset', valueName: 'n', description: 'sessions to skip', default: '0', parse: wholeNumber('offset', 0, 1e9) },
  ],
  jsonShape: '{"total", "rows": [{"session", "owner", "session_id", "first_ts", "last_ts", "models", "messages", "tool_calls", "tool_errors", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "cost_usd", "files", "cwd", "git_branch"}]}',
  async run(q, p) {
    if (!(await hasUsage(q))) return { result: { total: 0, rows: [] }, notice: NOT_RUN };
    return {
      result: await sessionList(q, {
        ...filterWithModel(p),
        search: p.q,
        sort: (p.sort ?? 'last_ts') as SessionSort,
        desc: p.dir !== 'asc',
        limit: Number(p.limit ?? 100),
        offset: Number(p.offset ?? 0),
      }),
    };
  },
  table(r, p) {
    const t = table(['session', 'last line', 'messages', 'tool calls', 'errors', 'cost (USD)'], [2, 3, 4, 5]);
    for (const x of r.rows) t.push([x.session, x.last_ts ?? '-', int(x.messages), int(x.tool_calls), int(x.tool_errors), usd(x.cost_usd)]);
    const from = Number(p.offset ?? 0);
    return `${t.toString()}\n${r.rows.length ? `${from + 1}-${from + r.rows.length}` : 'none'} of ${r.total} sessions\n`;
  },
};

export const sessionDef: ReportDefinition<SessionDetail | null> = {
  name: 'session',
  description: "one session's timeline: its files, messages (tokens and cost each) and tool calls",
  params: [{ name: 'key', valueName: 'session', description: 'the session, as `owner/<session id>.jsonl` (the key `--by session` prints)' }],
  jsonShape: '{"session", "files": [...], "totals": {...}, "messages": [{"ts", "session_file", "model", "input_tokens", ...}], "events": [{"ts", "session_file", "kind", "name", "is_error"}], "truncated"} or null',
  async run(q, p) {
    if (!p.key) throw new ReportParamError('give the session: --key owner/<session id>.jsonl');
    if (!(await hasUsage(q))) return { result: null, notice: NOT_RUN };
    const d = await sessionDetail(q, p.key);
    return d ? { result: d } : { result: null, notice: `no session ${p.key}` };
  },
  table(d) {
    if (!d) return 'no such session\n';
    const t = table(['time', 'file', 'what', 'model / name', 'result', 'input', 'output', 'cost (USD)'], [5, 6, 7]);
    const rows = [
      ...d.messages.map((m) => ({ at: m.ts ?? '', cells: [m.ts ?? '-', m.session_file, 'message', m.model ?? '-', '', int(m.input_tokens), int(m.output_tokens), usd(m.cost_usd)] })),
      ...d.events.map((e) => ({ at: e.ts ?? '', cells: [e.ts ?? '-', e.session_file, e.kind, e.name ?? '-', e.is_error === null ? '-' : e.is_error ? 'error' : 'ok', '', '', ''] })),
    ].sort((a, b) => a.at.localeCompare(b.at));
    for (const r of rows) t.push(r.cells);
    return `${t.toString()}\n`;
  },
};

/** Every usage report: the CLI's `usage` and `events`, then the dashboard's. */
export const ALL_USAGE_REPORTS: readonly ReportDefinition[] = [
  ...USAGE_REPORTS,
  eventsByDayKindDef as ReportDefinition,
  eventsGroupsDef as ReportDefinition,
  liveDef as ReportDefinition,
  sessionsDef as ReportDefinition,
  sessionDef as ReportDefinition,
];
