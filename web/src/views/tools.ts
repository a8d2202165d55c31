import { report, type DayKindRow, type EventRow, type Report } from '../api.js';
import { chart } from '../chart.js';
import { empty, h, section, table, type Column } from '../dom.js';
import { int, pct } from '../format.js';
import { filterParams } from '../state.js';
import type { ViewContext } from './context.js';

const KINDS = ['tool', 'skill', 'mcp', 'subagent', 'command'] as const;
const GROUPS: { by: string; title: string; label: string }[] = [
  { by: 'tool', title: 'Tools', label: 'tool' },
  { by: 'skill', title: 'Skills', label: 'skill' },
  { by: 'mcp', title: 'MCP', label: 'server/tool' },
  { by: 'subagent', title: 'Subagents', label: 'subagent type' },
  { by: 'command', title: 'Slash commands', label: 'command' },
];

const eventColumns = (label: string): Column<EventRow>[] => [
  { label, value: (r) => r.key ?? '(none)' },
  { label: 'uses', value: (r) => int(r.events), num: true },
  { label: 'errors', value: (r) => int(r.errors), num: true },
  { label: 'error rate', value: (r) => pct(r.errors, r.events), num: true },
  { label: 'sessions', value: (r) => int(r.sessions), num: true },
];

export async function renderTools(ctx: ViewContext): Promise<HTMLElement> {
  // Events carry no model: the model filter does not apply here.
  const p = filterParams(ctx.state, false);
  // Three requests: the tools (most events) alone, so it runs beside the others on the
  // daemon's two read slots, and the four small groups from one scan. Six requests and the
  // page's event stream passed the browser's six connections to one host: the last waited
  // 120-180 ms for one to free (bench:dashboard).
  const [tools, series, small] = await Promise.all([
    report<Report<EventRow>>('events', { ...p, by: 'tool' }),
    report<{ rows: DayKindRow[] }>('events-by-day-kind', p),
    report<Record<string, Report<EventRow>>>('events-groups', { ...p, groups: GROUPS.filter((g) => g.by !== 'tool').map((g) => g.by).join(',') }),
  ]);
  const groups = GROUPS.map((g) => (g.by === 'tool' ? tools : small[g.by]));
  const days = [...new Set(series.rows.map((r) => r.day))].sort();
  const at = new Map(series.rows.map((r) => [`${r.day}\u0000${r.kind}`, r]));
  const kinds = KINDS.filter((k) => series.rows.some((r) => r.kind === k));
  const uses = kinds.map((k) => ({ label: k, values: days.map((d) => at.get(`${d}\u0000${k}`)?.events ?? 0) }));
  const rates = kinds
    .filter((k) => k !== 'command')
    .map((k) => ({
      label: `${k} errors`,
      values: days.map((d) => {
        const r = at.get(`${d}\u0000${k}`);
        return r && r.events ? (100 * r.errors) / r.events : null;
      }),
    }));
  const perDay = days.map((d) => {
    const row: Record<string, number> = {};
    for (const k of kinds) {
      row[k] = at.get(`${d}\u0000${k}`)?.events ?? 0;
      row[`${k}:e`] = at.get(`${d}\u0000${k}`)?.errors ?? 0;
    }
    return { day: d, row };
  });
  return h(
    'div',
    {},
    section(
      'Uses per day, by kind',
      days.length ? chart({ days, series: uses, kind: 'stacked-bars', format: int }) : empty('No invocations in this range.'),
      days.length ? chart({ days, series: rates, kind: 'lines', format: (v) => `${v.toFixed(1)} %`, height: 200 }) : null,
      table(
        [
          { label: 'date', value: (r: (typeof perDay)[number]) => r.day },
          ...kinds.flatMap((k) => [
            { label: `${k} uses`, value: (r: (typeof perDay)[number]) => int(r.row[k]), num: true },
            ...(k === 'command' ? [] : [{ label: `${k} errors`, value: (r: (typeof perDay)[number]) => `${int(r.row[`${k}:e`])} (${pct(r.row[`${k}:e`], r.row[k])})`, num: true }]),
          ]),
        ],
        perDay,
        { testid: 'events-by-day' },
      ),
    ),
    h(
      'div',
      { class: 'grid' },
      GROUPS.map((g, i) => section(g.title, groups[i].rows.length ? table(eventColumns(g.label), groups[i].rows.slice(0, 50), { testid: `events-${g.by}`, footer: { ...groups[i].totals, key: 'total' } }) : empty('None.'))),
    ),
  );
}
