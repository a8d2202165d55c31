/**
 * Reports over the usage views: the stable JSON shapes behind
 * `session-pipeline report usage|events` (documented in docs/usage.md).
 */
import type { ReadQuery } from '../../src/pipeline/report.js';
import { eventsQuery, usageQuery, type EventGroup, type ReportFilter, type UsageGroup } from './views.js';

export interface UsageRow {
  key: string | null;
  messages: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
  /** Sum over priced messages; null when every message of the group is unpriced. */
  cost_usd: number | null;
  /** Models in the group without a price, never costed at $0. */
  unpriced_models: string[];
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
  const rows = await db.all(`SELECT 1 FROM duckdb_views() WHERE view_name = 'usage_messages_dedup'`);
  return rows.length > 0;
}

const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : 0);
const micro = (v: unknown): number | null => (v === null || v === undefined ? null : Math.round(num(v) * 1e6) / 1e6);

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
    cost_usd: 0,
    unpriced_models: [],
  },
};
export const EMPTY_EVENTS: Report<EventRow> = { rows: [], totals: { key: 'total', events: 0, errors: 0, sessions: 0 } };

export async function usageReport(db: ReadQuery, by: UsageGroup, filter: ReportFilter): Promise<Report<UsageRow>> {
  const q = usageQuery(by, filter);
  const raw = await db.all<Record<string, unknown>>(q.sql, q.params);
  return split(
    raw,
    (r) => ({
      key: r.key === null ? null : String(r.key),
      messages: num(r.messages),
      input_tokens: num(r.input_tokens),
      output_tokens: num(r.output_tokens),
      cache_creation_tokens: num(r.cache_creation_tokens),
      cache_read_tokens: num(r.cache_read_tokens),
      cost_usd: micro(r.cost_usd),
      unpriced_models: (r.unpriced_models as string[] | null) ?? [],
    }),
    EMPTY_USAGE.totals,
  );
}

export async function eventsReport(db: ReadQuery, by: EventGroup, filter: ReportFilter): Promise<Report<EventRow>> {
  const q = eventsQuery(by, filter);
  const raw = await db.all<Record<string, unknown>>(q.sql, q.params);
  return split(
    raw,
    (r) => ({
      key: r.key === null ? null : String(r.key),
      events: num(r.events),
      errors: num(r.errors),
      sessions: num(r.sessions),
    }),
    EMPTY_EVENTS.totals,
  );
}
