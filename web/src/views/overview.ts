import { report, type DayModelRow, type Report, type UsageRow } from '../api.js';
import { chart } from '../chart.js';
import { empty, h, section, table, type Column } from '../dom.js';
import { int, localDate, usd } from '../format.js';
import { filterParams } from '../state.js';
import type { ViewContext } from './context.js';

export const METRICS = {
  input: { label: 'input', field: 'input_tokens' },
  output: { label: 'output', field: 'output_tokens' },
  cache_write: { label: 'cache write', field: 'cache_creation_tokens' },
  cache_read: { label: 'cache read', field: 'cache_read_tokens' },
} as const;
type Metric = keyof typeof METRICS;

export const usageColumns = (keyLabel: string): Column<UsageRow>[] => [
  { label: keyLabel, value: (r) => r.key ?? '(no timestamp)' },
  { label: 'messages', value: (r) => int(r.messages), num: true },
  { label: 'input', value: (r) => int(r.input_tokens), num: true },
  { label: 'output', value: (r) => int(r.output_tokens), num: true },
  { label: 'cache write', value: (r) => int(r.cache_creation_tokens), num: true },
  { label: 'cache read', value: (r) => int(r.cache_read_tokens), num: true },
  { label: 'cost', value: (r) => usd(r.cost_usd) + (r.cost_usd !== null && r.unpriced_models.length ? ' *' : ''), num: true, title: (r) => (r.unpriced_models.length ? `unpriced: ${r.unpriced_models.join(', ')}` : '') },
];

/** Day × model rows as one series per model over every day in the range. */
function pivot(rows: DayModelRow[], value: (r: DayModelRow) => number) {
  const days = [...new Set(rows.map((r) => r.day))].sort();
  const models = [...new Set(rows.map((r) => r.model))].sort();
  const at = new Map(rows.map((r) => [`${r.day}\u0000${r.model}`, r]));
  return {
    days,
    series: models.map((m) => ({ label: m, values: days.map((d) => { const r = at.get(`${d}\u0000${m}`); return r ? value(r) : 0; }) })),
  };
}

function sum(rows: UsageRow[]) {
  return rows.reduce(
    (a, r) => ({ messages: a.messages + r.messages, tokens: a.tokens + r.input_tokens + r.output_tokens + r.cache_creation_tokens + r.cache_read_tokens, cost: a.cost + (r.cost_usd ?? 0) }),
    { messages: 0, tokens: 0, cost: 0 },
  );
}

/** A row of `report blocks --active` (pipelines/usage/blocks-report.ts). */
interface Block {
  owner?: string;
  start: string;
  end: string;
  last_activity: string;
  messages: number;
  total_tokens: number;
  cost_usd: number | null;
  models: string[];
  burn_rate_tokens_per_minute: number | null;
  burn_rate_cost_per_hour: number | null;
  projected_cost_usd: number | null;
  projected_total_tokens: number | null;
}

export async function renderOverview(ctx: ViewContext): Promise<HTMLElement> {
  const s = ctx.state;
  const metric: Metric = (s.extra.get('metric') as Metric) in METRICS ? (s.extra.get('metric') as Metric) : 'output';
  const now = new Date();
  const today = localDate(now, s.tz);
  const dow = (new Date(`${today}T12:00:00Z`).getUTCDay() + 6) % 7; // Monday = 0, as `--by week`
  const weekStart = localDate(new Date(Date.parse(`${today}T12:00:00Z`) - dow * 86_400_000), 'UTC');
  const monthStart = `${today.slice(0, 8)}01`;
  const base = filterParams(s);
  const { since: _s, until: _u, ...noRange } = base;
  const periodStart = weekStart < monthStart ? weekStart : monthStart;
  // The tiles' days are rows of the per-day report when its range holds them (by default it has
  // none): one report fewer, of the view's five, on the daemon's two read slots.
  const inRange = (!base.since || base.since <= periodStart) && !base.until;
  // Asked longest first: the daemon answers two reads at a time, in the order they come
  // (bench:dashboard, one key noted: blocks and the per-day split ~200 ms each, by owner ~110,
  // by model ~60; the other way round the blocks report started last and ended ~60 ms later).
  const [blocks, daily, byOwner, byModel, recent] = await Promise.all([
    // The current 5-hour block and its burn rate, once the daemon has the blocks report.
    ctx.reports.includes('blocks') ? report<{ rows: Block[] }>('blocks', { tz: s.tz, owner: s.owner, active: 'true' }) : Promise.resolve(null),
    // Split per model: the stacked charts; the figures per day are the rows themselves.
    report<Report<UsageRow>>('usage', { ...base, by: 'day', breakdown: 'true' }),
    report<Report<UsageRow>>('usage', { ...base, by: 'owner' }),
    report<Report<UsageRow>>('usage', { ...base, by: 'model' }),
    inRange ? null : report<Report<UsageRow>>('usage', { ...noRange, by: 'day', since: periodStart }),
  ]);

  const byDayModel = { rows: daily.rows.flatMap((r) => (r.breakdown ?? []).map((b): DayModelRow => ({ ...b, day: r.key ?? '' }))) };
  const days = (recent ?? daily).rows;
  const periods = [
    { label: 'today', ...sum(days.filter((r) => r.key === today)) },
    { label: 'this week', ...sum(days.filter((r) => (r.key ?? '') >= weekStart)) },
    { label: 'this month', ...sum(days.filter((r) => (r.key ?? '') >= monthStart)) },
  ];
  const totals = h(
    'div',
    { class: 'tiles', 'data-testid': 'totals' },
    periods.map((p) => h('div', { class: 'tile' }, h('h3', {}, p.label), h('p', { class: 'big' }, usd(p.cost)), h('p', {}, `${int(p.tokens)} tokens`), h('p', {}, `${int(p.messages)} messages`))),
  );

  const toggle = h(
    'div',
    { class: 'toggle', role: 'radiogroup', 'aria-label': 'token kind' },
    (Object.keys(METRICS) as Metric[]).map((m) =>
      h('button', { type: 'button', role: 'radio', 'aria-checked': m === metric ? 'true' : 'false', 'data-metric': m, onclick: () => ctx.update({}, { metric: m }) }, METRICS[m].label),
    ),
  );
  const field = METRICS[metric].field;
  const tokensPivot = pivot(byDayModel.rows, (r) => r[field]);
  const costPivot = pivot(byDayModel.rows, (r) => r.cost_usd ?? 0);
  const pivotTable = (p: ReturnType<typeof pivot>, fmt: (n: number) => string, testid: string) =>
    table(
      [{ label: 'date', value: (d: number) => p.days[d] }, ...p.series.map((ser) => ({ label: ser.label, value: (d: number) => fmt(ser.values[d] ?? 0), num: true }))],
      p.days.map((_, i) => i),
      { testid },
    );

  const when = (iso: string) => new Date(iso).toLocaleString('en-CA', { timeZone: s.tz, hour12: false, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).replace(',', '');
  const blockCard = blocks
    ? section(
        'Current 5-hour block',
        blocks.rows.length === 0
          ? empty('No block is active.')
          : table<Block>(
              [
                ...(blocks.rows.some((b) => b.owner) ? [{ label: 'owner', value: (b: Block) => b.owner ?? '' }] : []),
                { label: 'start', value: (b) => when(b.start) },
                { label: 'end', value: (b) => when(b.end) },
                { label: 'messages', value: (b) => int(b.messages), num: true },
                { label: 'tokens', value: (b) => int(b.total_tokens), num: true },
                { label: 'cost', value: (b) => usd(b.cost_usd), num: true },
                { label: 'tokens/min', value: (b) => int(b.burn_rate_tokens_per_minute === null ? null : Math.round(b.burn_rate_tokens_per_minute)), num: true },
                { label: 'cost/h', value: (b) => usd(b.burn_rate_cost_per_hour), num: true },
                { label: 'projected cost', value: (b) => usd(b.projected_cost_usd), num: true },
              ],
              blocks.rows,
              { testid: 'block' },
            ),
      )
    : null;

  return h(
    'div',
    {},
    section('Totals', totals),
    blockCard,
    section(
      'Tokens per day, by model',
      toggle,
      byDayModel.rows.length ? chart({ days: tokensPivot.days, series: tokensPivot.series, kind: 'stacked-bars', format: int }) : empty('No messages in this range.'),
      h('details', {}, h('summary', {}, `${METRICS[metric].label} tokens per day and model (table)`), pivotTable(tokensPivot, int, 'tokens-by-day-model')),
    ),
    section(
      'Cost per day, by model',
      byDayModel.rows.length ? chart({ days: costPivot.days, series: costPivot.series, kind: 'stacked-bars', format: (v) => usd(v) }) : empty('No messages in this range.'),
      h('details', {}, h('summary', {}, 'cost per day and model (table)'), pivotTable(costPivot, (v) => usd(v), 'cost-by-day-model')),
    ),
    section('Per day', table(usageColumns('date'), daily.rows, { testid: 'overview-daily', footer: { ...daily.totals, key: 'total' } })),
    h(
      'div',
      { class: 'two' },
      section('Cost by model', table(usageColumns('model'), byModel.rows, { testid: 'by-model', footer: { ...byModel.totals, key: 'total' } })),
      section('Cost by owner', table(usageColumns('owner'), byOwner.rows, { testid: 'by-owner', footer: { ...byOwner.totals, key: 'total' } })),
    ),
  );
}
