/**
 * Reports over the usage views: the stable JSON shapes behind
 * `session-pipeline report usage|events` (documented in docs/usage.md).
 */
import type { ReadQuery } from '../../src/pipeline/report.js';
import { eventsQuery, usageBreakdownQuery, usageQuery, type EventGroup, type ReportFilter, type UsageGroup } from './views.js';
import { kindOf, relationExistsSql } from '../../src/state/dialect.js';
import { micro, num, strings } from '../../src/state/row-values.js';
import { sourcesOf } from './sources.js';

/** The token and cost figures of a group. */
export interface UsageFigures {
  messages: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
  /** input + output + cache creation + cache read. */
  total_tokens: number;
  /** Sum over priced messages; null when every message of the group is unpriced. */
  cost_usd: number | null;
  /** Models in the group without a price, never costed at $0. */
  unpriced_models: string[];
}

export interface UsageRow extends UsageFigures {
  key: string | null;
  /** Models used in the group (no <synthetic>). */
  models: string[];
  /** `--breakdown` only: the group per model, largest cost first. */
  breakdown?: ModelFigures[];
}

export interface ModelFigures extends UsageFigures {
  model: string;
}

export interface EventRow {
  key: string | null;
  events: number;
  errors: number;
  sessions: number;
}

export interface Report<Row> {
  rows: Row[];
  totals: Row;
}

/** Whether the usage processor's views exist in this database. */
export async function hasUsage(db: ReadQuery): Promise<boolean> {
  const rows = await db.all(relationExistsSql('usage_messages_dedup', 'VIEW'));
  return rows.length > 0;
}


function split<Row extends { key: string | null }>(raw: Record<string, unknown>[], toRow: (r: Record<string, unknown>) => Row, empty: Row): Report<Row> {
  const rows: Row[] = [];
  let totals = empty;
  for (const r of raw) {
    if (r.is_total) totals = { ...toRow(r), key: 'total' };
    else rows.push(toRow(r));
  }
  return { rows, totals };
}

/** The reports of a database with no usage data yet. */
export const EMPTY_USAGE: Report<UsageRow> = {
  rows: [],
  totals: {
    key: 'total',
    messages: 0,
    input_tokens: 0,
    output_tokens: 0,
    cache_creation_tokens: 0,
    cache_read_tokens: 0,
    total_tokens: 0,
    cost_usd: 0,
    unpriced_models: [],
    models: [],
  },
};
export const EMPTY_EVENTS: Report<EventRow> = { rows: [], totals: { key: 'total', events: 0, errors: 0, sessions: 0 } };

/** A result row's figures (USD rounded to 6 decimals). */
export function figuresOf(r: Record<string, unknown>): UsageFigures {
  return {
    messages: num(r.messages),
    input_tokens: num(r.input_tokens),
    output_tokens: num(r.output_tokens),
    cache_creation_tokens: num(r.cache_creation_tokens),
    cache_read_tokens: num(r.cache_read_tokens),
    total_tokens: num(r.total_tokens),
    cost_usd: micro(r.cost_usd),
    unpriced_models: strings(r.unpriced_models),
  };
}

export async function usageReport(db: ReadQuery, by: UsageGroup, filter: ReportFilter, breakdown = false): Promise<Report<UsageRow>> {
  const src = await sourcesOf(db);
  const q = breakdown ? usageBreakdownQuery(by, filter, kindOf(db), undefined, src) : usageQuery(by, filter, kindOf(db), undefined, src);
  const raw = await db.all<Record<string, unknown>>(q.sql, q.params);
  // With --breakdown, the groups' rows (`part` 0) come first, then their split per model.
  const split0 = breakdown ? raw.findIndex((r) => num(r.part) === 1) : -1;
  const report = split<UsageRow>(
    split0 < 0 ? raw : raw.slice(0, split0),
    (r) => ({
      key: r.key === null ? null : String(r.key),
      ...figuresOf(r),
      models: strings(r.models),
    }),
    EMPTY_USAGE.totals,
  );
  if (!breakdown) return report;
  const perKey = new Map<string | null, ModelFigures[]>();
  const total: ModelFigures[] = [];
  for (const r of split0 < 0 ? [] : raw.slice(split0)) {
    const f: ModelFigures = { model: String(r.split_model), ...figuresOf(r) };
    if (r.is_total) {
      total.push(f);
      continue;
    }
    const key = r.key === null ? null : String(r.key);
    let list = perKey.get(key);
    if (!list) perKey.set(key, (list = []));
    list.push(f);
  }
  for (const row of report.rows) row.breakdown = perKey.get(row.key) ?? [];
  report.totals = { ...report.totals, breakdown: total };
  return report;
}

export async function eventsReport(db: ReadQuery, by: EventGroup, filter: ReportFilter): Promise<Report<EventRow>> {
  return (await eventsReports(db, [by], filter))[0];
}

/** `eventsReport` of each of `groups`, in their order, from one query. */
export async function eventsReports(db: ReadQuery, groups: readonly EventGroup[], filter: ReportFilter): Promise<Report<EventRow>[]> {
  const q = eventsQuery(groups, filter, kindOf(db), await sourcesOf(db));
  const raw = await db.all<Record<string, unknown>>(q.sql, q.params);
  return groups.map((_, i) =>
    split(
      raw.filter((r) => num(r.grp) === i),
      (r) => ({
        key: r.key === null ? null : String(r.key),
        events: num(r.events),
        errors: num(r.errors),
        sessions: num(r.sessions),
      }),
      EMPTY_EVENTS.totals,
    ),
  );
}
