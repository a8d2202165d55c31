/**
 * Time series over the usage views, for the dashboard's charts: invocation
 * events per local day and kind (tokens per day and model are
 * `report usage --by day --breakdown`).
 *
 * Rows are first summed into UTC 15-minute buckets and only the buckets are
 * moved into the report's time zone: every zone's offset is a multiple of
 * 15 minutes, so no bucket straddles a local midnight, and ICU's conversion
 * runs on ~100 buckets a day instead of on every row (on 1,000,000 rows the
 * per-row `timezone()` + `strftime()` alone took 1.5 s, the bucketing 30 ms).
 */
import type { ReadQuery } from '../../src/pipeline/report.js';
import type { ReportFilter } from './views.js';
import { whenRange } from '../../src/pipeline/report-time.js';
import { kindOf, quarterHourOf, tsFromEpochMs, tsText, type StoreKind } from '../../src/state/dialect.js';
import { num } from '../../src/state/row-values.js';
import { sourcesOf } from './sources.js';

type Reader = ReadQuery;

export interface DayKindRow {
  day: string;
  kind: string;
  events: number;
  errors: number;
}

/** Row filters: the report's bounds as instants (a day bound is its local midnight in `tz`), and the owner. */
function rowFilters(kind: StoreKind, f: ReportFilter, params: (string | number)[]): string[] {
  const add = (v: string | number) => {
    params.push(v);
    return `$${params.length}`;
  };
  const where: string[] = [];
  const r = whenRange(f.since, f.until, f.tz);
  if (r.since !== undefined) where.push(`ts >= ${tsFromEpochMs(kind, `CAST(${add(r.since)} AS BIGINT)`)}`);
  if (r.until !== undefined) where.push(`ts < ${tsFromEpochMs(kind, `CAST(${add(r.until)} AS BIGINT)`)}`);
  if (f.owner) where.push(`owner = ${add(f.owner)}`);
  return where;
}

/** Invocation events and their errors per local day and kind (tool, skill, mcp, subagent, command). */
export async function eventsByDayKind(db: Reader, f: ReportFilter): Promise<DayKindRow[]> {
  const kind = kindOf(db);
  const params: (string | number)[] = [f.tz];
  const rowWhere = rowFilters(kind, f, params);
  const src = await sourcesOf(db);
  const rows = await db.all<Record<string, unknown>>(
    `WITH b AS (
  SELECT ${quarterHourOf(kind, 'ts')} AS b, kind, count(*) AS events, count(*) FILTER (WHERE is_error) AS errors
  FROM ${src.events} e
  WHERE ts IS NOT NULL${rowWhere.length ? ` AND ${rowWhere.join(' AND ')}` : ''}
  GROUP BY 1, 2
), d AS (
  SELECT ${tsText(kind, `timezone(CAST($1 AS VARCHAR), timezone('UTC', b))`, 'day')} AS day, kind,
    sum(events)::BIGINT AS events, sum(errors)::BIGINT AS errors
  FROM b GROUP BY 1, 2
)
SELECT * FROM d ORDER BY day, kind`,
    params,
  );
  return rows.map((r) => ({ day: String(r.day), kind: String(r.kind), events: num(r.events), errors: num(r.errors) }));
}
