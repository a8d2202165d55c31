/**
 * SQL over the usage tables: the views analysts query (`session-pipeline sql`,
 * or any PostgreSQL client on a PostgreSQL store), and the grouped queries
 * behind `session-pipeline report`.
 *
 * One text for both stores wherever their common subset allows (no GROUP BY
 * ALL, list literals or `list()`); the rest comes from
 * src/state/dialect.ts by the store's kind. Same names, columns and rows in
 * both (test/usage/pg-reports.test.ts).
 *
 * Cross-file dedup: `usage_messages` keeps one row per (file, message), and
 * `usage_messages_dedup` shows one row per message across files (the largest
 * token total; attributed to the file where the message appeared first, by
 * timestamp, ties by file name). Retracting a file deletes only its rows, so
 * the other file's copy takes over. The rule is kept as data, folded off the
 * commit path (picks.ts); the views stay exact at every commit.
 *
 * Cost is computed here, at read time: `usage_messages_priced` joins each
 * message to the active price version (price-versions.ts), so every view and
 * report prices all history, deleted transcripts included, with the table of
 * the last run.
 */
import { ACTIVE_VERSION_VIEW } from './price-versions.js';
import { LONG_CONTEXT_THRESHOLD } from './pricing.js';
import { whenRange } from '../../src/pipeline/report-time.js';
import { argMaxSql, quarterHourOf, tsFromEpochMs, tsText, type StoreKind } from '../../src/state/dialect.js';
import { cleanPicks, dirtyEvents, dirtyMessages, EVENT_PICKS, EVENT_VIEW_COLUMNS, MESSAGE_PICKS } from './picks.js';

/** A session's key: the parent session's file, which subagent files join. */
export const SESSION_KEY = `owner || '/' || session_id || '.jsonl'`;

const unknownModel = `coalesce(model, '(unknown)')`;

/** An empty text list, the same value in both stores. */
export const NO_STRINGS = 'CAST(ARRAY[] AS VARCHAR[])';

/**
 * A sum of USD doubles, exact: each term as a 12-decimal fixed-point number, the sum back to a
 * double, so the order rows come in cannot move the result. PostgreSQL's float8 -> numeric keeps
 * only 15 significant digits, so there the double goes through its text (shortest round-trip,
 * 17 digits) as DuckDB's cast does from the double itself.
 */
export function costSum(kind: StoreKind, expr = 'cost_usd'): string {
  return `CAST(sum(${costFixed(kind, expr)}) AS DOUBLE PRECISION)`;
}

/** A USD double as the 12-decimal fixed-point number `costSum` adds (sums of them are exact, in any grouping). */
function costFixed(kind: StoreKind, expr: string): string {
  return kind === 'postgres' ? `CAST(CAST(${expr} AS TEXT) AS NUMERIC(38, 12))` : `CAST(${expr} AS DECIMAL(38, 12))`;
}

/** The usage aggregates every grouped view and report shares. Unpriced rows have a NULL cost. */
export function usageAggregates(kind: StoreKind): string {
  return `count(*)::BIGINT AS messages,
  coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
  coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
  coalesce(sum(cache_creation_tokens), 0)::BIGINT AS cache_creation_tokens,
  coalesce(sum(cache_creation_5m_tokens), 0)::BIGINT AS cache_creation_5m_tokens,
  coalesce(sum(cache_creation_1h_tokens), 0)::BIGINT AS cache_creation_1h_tokens,
  coalesce(sum(cache_read_tokens), 0)::BIGINT AS cache_read_tokens,
  coalesce(sum(total_tokens), 0)::BIGINT AS total_tokens,
  ${costSum(kind)} AS cost_usd,
  coalesce(array_agg(DISTINCT ${unknownModel} ORDER BY ${unknownModel}) FILTER (WHERE cost_usd IS NULL), ${NO_STRINGS}) AS unpriced_models`;
}

/** A rate of price row `p` for message `m`: its above-200k rate when the prompt was long and the model has that tier. */
const rate = (col: string) => `CASE WHEN m.long_context AND p.input_above_200k IS NOT NULL THEN p.${col}_above_200k ELSE p.${col} END`;

/**
 * The USD cost of message `m` at price row `p`: pricing.ts `costUsd` in SQL, term by
 * term in the same order so the doubles agree. <synthetic> costs 0; no price is NULL.
 */
export const MESSAGE_COST = `CASE WHEN m.synthetic THEN CAST(0 AS DOUBLE PRECISION) WHEN p.entry IS NULL THEN NULL ELSE
  (m.input_tokens * ${rate('input')} + m.output_tokens * ${rate('output')}
   + m.cache_creation_5m_tokens * ${rate('cache_write_5m')} + m.cache_creation_1h_tokens * ${rate('cache_write_1h')}
   + m.cache_read_tokens * ${rate('cache_read')})
  * CASE WHEN m.speed = 'fast' THEN coalesce(p.fast, 1) ELSE 1 END END`;

/** `long_context` of a row written before migration 2 stored it (the rule of pricing.ts `isLongContext`). */
export const LONG_CONTEXT_SQL = `input_tokens + cache_creation_tokens + cache_read_tokens > ${LONG_CONTEXT_THRESHOLD}`;

const pricedMessages = `CREATE OR REPLACE VIEW usage_messages_priced AS
SELECT m.*,
  a.price_version,
  CASE WHEN m.synthetic THEN NULL ELSE p.entry END AS pricing_model,
  ${MESSAGE_COST} AS cost_usd
FROM usage_messages m
LEFT JOIN usage_price_active a ON true
LEFT JOIN usage_price_models pm ON pm.price_version = a.price_version AND pm.model = m.model
LEFT JOIN usage_prices p ON p.price_version = a.price_version AND p.entry = pm.entry`;

const PRICE_JOINS = `LEFT JOIN usage_price_active a ON true
LEFT JOIN usage_price_models pm ON pm.price_version = a.price_version AND pm.model = m.model
LEFT JOIN usage_prices p ON p.price_version = a.price_version AND p.entry = pm.entry`;

/**
 * One row per message across files (picks.ts has the rule and why it is kept as data): the
 * folded picks of the keys no commit has touched since the last fold, priced as
 * usage_messages_priced prices, and the rule over the touched keys' rows only. At 1,000,000
 * messages the window over every row cost 4.4-5.1 s a query (docs/dashboard.md).
 */
const dedupMessages = (kind: StoreKind) => `CREATE OR REPLACE VIEW usage_messages_dedup AS
SELECT m.message_key,
  m.first_file AS session_file,
  m.first_owner AS owner,
  m.first_session_id AS session_id,
  m.first_ts AS ts,
  m.message_id, m.request_id, m.model, m.speed,
  m.input_tokens, m.output_tokens, m.cache_creation_tokens, m.cache_creation_5m_tokens,
  m.cache_creation_1h_tokens, m.cache_read_tokens, m.total_tokens,
  ${MESSAGE_COST} AS cost_usd,
  CASE WHEN m.synthetic THEN NULL ELSE p.entry END AS pricing_model,
  a.price_version, m.synthetic, m.long_context,
  m.copies
FROM (SELECT * FROM ${cleanPicks(MESSAGE_PICKS, 'c')}) m
${PRICE_JOINS}
UNION ALL
SELECT * FROM (${dirtyMessages(kind)}) d`;

/** One row per invocation event across files: the folded picks of untouched ids, and the rule over the touched ids' events. */
const dedupEvents = (kind: StoreKind) => `CREATE OR REPLACE VIEW usage_events_dedup AS
SELECT ${EVENT_VIEW_COLUMNS.join(', ')} FROM ${cleanPicks(EVENT_PICKS, 'c')}
UNION ALL
SELECT * FROM (${dirtyEvents(kind)}) d`;

/** GROUP BY the first `n` select items, by position (both stores; GROUP BY ALL is DuckDB's). */
export const groupByFirst = (n: number) => `GROUP BY ${Array.from({ length: n }, (_, i) => i + 1).join(', ')}`;

const grouped = (kind: StoreKind, name: string, keys: readonly string[], from = 'usage_messages_dedup', where = '') =>
  `CREATE OR REPLACE VIEW ${name} AS
SELECT ${keys.join(', ')}, ${usageAggregates(kind)}
FROM ${from}${where ? ` WHERE ${where}` : ''}
${groupByFirst(keys.length)}`;

/** The models of a group, as ccusage lists them (no <synthetic>). */
const MODELS = `coalesce(array_agg(DISTINCT model ORDER BY model) FILTER (WHERE NOT synthetic AND model IS NOT NULL), ${NO_STRINGS}) AS models`;

/** A session's latest header fact: from its main file, else from its latest subagent file. */
const latestFact = (kind: StoreKind, col: string) =>
  `coalesce(${argMaxSql(kind, col, ['last_ts', 'session_file'], 'NOT subagent')}, ${argMaxSql(kind, col, ['last_ts', 'session_file'])}) AS ${col}`;

const sessions = (kind: StoreKind) => `CREATE OR REPLACE VIEW usage_sessions AS
WITH files AS (
  SELECT owner, session_id,
    min(first_ts) AS first_ts, max(last_ts) AS last_ts,
    count(*)::BIGINT AS files,
    ${latestFact(kind, 'cwd')},
    ${latestFact(kind, 'git_branch')},
    ${latestFact(kind, 'cc_version')}
  FROM usage_files GROUP BY owner, session_id
), msgs AS (
  SELECT owner, session_id, ${usageAggregates(kind)}, ${MODELS}
  FROM usage_messages_dedup GROUP BY owner, session_id
), ev AS (
  SELECT owner, session_id,
    count(*) FILTER (WHERE kind <> 'command')::BIGINT AS tool_calls,
    count(*) FILTER (WHERE kind <> 'command' AND is_error)::BIGINT AS tool_errors,
    count(*) FILTER (WHERE kind = 'command')::BIGINT AS commands
  FROM usage_events_dedup GROUP BY owner, session_id
)
SELECT ${SESSION_KEY} AS session, owner, session_id, f.first_ts, f.last_ts,
  coalesce(m.models, ${NO_STRINGS}) AS models,
  coalesce(m.messages, 0) AS messages,
  coalesce(ev.tool_calls, 0) AS tool_calls,
  coalesce(ev.tool_errors, 0) AS tool_errors,
  coalesce(ev.commands, 0) AS commands,
  coalesce(m.input_tokens, 0) AS input_tokens,
  coalesce(m.output_tokens, 0) AS output_tokens,
  coalesce(m.cache_creation_tokens, 0) AS cache_creation_tokens,
  coalesce(m.cache_read_tokens, 0) AS cache_read_tokens,
  coalesce(m.total_tokens, 0) AS total_tokens,
  CASE WHEN m.messages IS NULL THEN 0 ELSE m.cost_usd END AS cost_usd,
  coalesce(m.unpriced_models, ${NO_STRINGS}) AS unpriced_models,
  f.cwd, f.git_branch, f.cc_version, f.files
FROM files f
LEFT JOIN msgs m USING (owner, session_id)
LEFT JOIN ev USING (owner, session_id)`;

/** The views in a store's dialect, in dependency order; the same names and columns in both. */
export function viewDdl(kind: StoreKind): string[] {
  return [
    ACTIVE_VERSION_VIEW,
    pricedMessages,
    dedupMessages(kind),
    dedupEvents(kind),
    // Within-file dedup only: the per-file figures (a message shared by two files shows in both).
    grouped(kind, 'usage_by_file', ['session_file', 'owner'], 'usage_messages_priced'),
    grouped(kind, 'usage_daily', ['CAST(ts AS DATE) AS day']),
    grouped(kind, 'usage_weekly', [`CAST(date_trunc('week', ts) AS DATE) AS week`]),
    grouped(kind, 'usage_monthly', [`CAST(date_trunc('month', ts) AS DATE) AS month`]),
    grouped(kind, 'usage_by_owner', ['owner']),
    grouped(kind, 'usage_by_model', [`${unknownModel} AS model`], 'usage_messages_dedup', 'NOT synthetic'),
    grouped(kind, 'usage_by_session', [`${SESSION_KEY} AS session`, 'owner', 'session_id']),
    sessions(kind),
  ];
}

/** DuckDB's views (usage migrations). */
export const VIEW_DDL: readonly string[] = viewDdl('duckdb');

/** Every relation an analyst (or `export`) may want, tables first. */
export const EXPORTED = [
  'usage_messages',
  'usage_events',
  'usage_tool_results',
  'usage_files',
  'usage_price_versions',
  'usage_prices',
  'usage_price_models',
  'usage_price_active',
  'usage_messages_priced',
  'usage_messages_dedup',
  'usage_events_dedup',
  'usage_by_file',
  'usage_daily',
  'usage_weekly',
  'usage_monthly',
  'usage_by_owner',
  'usage_by_model',
  'usage_by_session',
  'usage_sessions',
] as const;

// ---- report queries ----

export const USAGE_GROUPS = ['day', 'week', 'month', 'session', 'owner', 'model'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];
export const EVENT_GROUPS = ['tool', 'skill', 'mcp', 'subagent', 'command'] as const;
export type EventGroup = (typeof EVENT_GROUPS)[number];

export interface ReportFilter {
  /** IANA time zone for day/week/month buckets and --since/--until days. */
  tz: string;
  /** Canonical bounds (src/pipeline/report-time.ts): a day YYYY-MM-DD (inclusive, in `tz`) or an ISO instant. */
  since?: string;
  until?: string;
  owner?: string;
  /** Only messages of this model (usage reports; events carry no model). */
  model?: string;
  /** Row order by key; ascending by default, as in ccusage. */
  order?: 'asc' | 'desc';
}

export interface Query {
  sql: string;
  params: (string | number)[];
}

/** Collects positional parameters while a query is built. */
class Params {
  readonly values: (string | number)[] = [];
  private tzRef: string | null = null;

  constructor(
    readonly kind: StoreKind,
    private readonly tz: string,
  ) {}

  add(v: string | number): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }

  /** `ts` (or another UTC TIMESTAMP column) in the report's time zone. */
  localTs(col = 'ts'): string {
    this.tzRef ??= this.add(this.tz);
    return `timezone(CAST(${this.tzRef} AS VARCHAR), timezone('UTC', ${col}))`;
  }
}

/** Row filters on `ts` and `owner`: the report's bounds as instants (a day bound is its local midnight in `tz`). */
function filters(f: ReportFilter, p: Params): string[] {
  const where: string[] = [];
  const r = whenRange(f.since, f.until, f.tz);
  if (r.since !== undefined) where.push(`ts >= ${tsFromEpochMs(p.kind, `CAST(${p.add(r.since)} AS BIGINT)`)}`);
  if (r.until !== undefined) where.push(`ts < ${tsFromEpochMs(p.kind, `CAST(${p.add(r.until)} AS BIGINT)`)}`);
  if (f.owner) where.push(`owner = ${p.add(f.owner)}`);
  return where;
}

/**
 * How each group is summed: the columns of its partial sums (`partial`, per row), and its key
 * from them. Time groups sum per UTC 15-minute bucket: every zone's offset (since 1970) is a
 * multiple of 15 minutes, so a bucket never straddles a local midnight, and the time-zone
 * conversion and the date text run once per bucket instead of once per row.
 */
const USAGE_KEYS: Record<UsageGroup, { partial: (kind: StoreKind) => readonly string[]; key: (p: Params) => string }> = {
  day: { partial: (kind) => [`${quarterHourOf(kind, 'ts')} AS b`], key: (p) => tsText(p.kind, p.localTs('b'), 'day') },
  week: { partial: (kind) => [`${quarterHourOf(kind, 'ts')} AS b`], key: (p) => tsText(p.kind, `date_trunc('week', ${p.localTs('b')})`, 'day') },
  month: { partial: (kind) => [`${quarterHourOf(kind, 'ts')} AS b`], key: (p) => tsText(p.kind, p.localTs('b'), 'month') },
  session: { partial: () => ['owner', 'session_id'], key: () => SESSION_KEY },
  owner: { partial: () => ['owner'], key: () => 'owner' },
  model: { partial: () => [], key: () => unknownModel },
};

/**
 * A group's rows summed first per partial key and model, with the group's key: the relation
 * `partialAggregates` reads. Per row only sums are left; the key's text (a date in the report's
 * zone, a session key), the sorted distinct model lists and the grouping sets run per partial
 * group. At 1,000,000 messages (one DuckDB thread, load 7-8) `strftime` per row alone cost
 * 0.7-0.9 s and `timezone()` + `strftime` 4.7-6.0 s; `report usage --by day` went from
 * 3.2-5.2 s to 0.2-0.4 s (two threads), its rows byte for byte the same. Exact: counts and
 * token sums are integers, costs the 12-decimal fixed-point terms of `costSum`, and whether a
 * model is present (or unpriced) is kept per model.
 */
function partials(by: UsageGroup, kind: StoreKind, p: Params, where: readonly string[]): string {
  const cols = USAGE_KEYS[by].partial(kind);
  const sum = (c: string) => `sum(${c}) AS ${c}`;
  return `(SELECT ${USAGE_KEYS[by].key(p)} AS key, ${unknownModel} AS model_key, q.* FROM (
  SELECT ${[...cols, 'model'].join(', ')}, count(*) AS n,
    ${TOKEN_COLUMNS.map(sum).join(', ')},
    sum(${costFixed(kind, 'cost_usd')}) AS cost_fixed,
    bool_or(cost_usd IS NULL) AS any_unpriced,
    bool_or(NOT synthetic) AS any_real
  FROM usage_messages_dedup${whereOf(where)}
  ${groupByFirst(cols.length + 1)}) q)`;
}

const TOKEN_COLUMNS = [
  'input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_creation_5m_tokens', 'cache_creation_1h_tokens',
  'cache_read_tokens', 'total_tokens',
] as const;

/** `usageAggregates` and MODELS over `partials` rows: the same values, column for column. */
function partialAggregates(): string {
  return `coalesce(sum(n), 0)::BIGINT AS messages,
  ${TOKEN_COLUMNS.map((c) => `coalesce(sum(${c}), 0)::BIGINT AS ${c}`).join(',\n  ')},
  CAST(sum(cost_fixed) AS DOUBLE PRECISION) AS cost_usd,
  coalesce(array_agg(DISTINCT model_key ORDER BY model_key) FILTER (WHERE any_unpriced), ${NO_STRINGS}) AS unpriced_models`;
}
const PARTIAL_MODELS = `coalesce(array_agg(DISTINCT model ORDER BY model) FILTER (WHERE any_real AND model IS NOT NULL), ${NO_STRINGS}) AS models`;

const whereOf = (where: readonly string[]) => (where.length ? ` WHERE ${where.join(' AND ')}` : '');

/*
 * The grouped reports group a subquery's `key` column: GROUPING SETS and grouping() take a
 * column in both stores, where PostgreSQL refuses grouping() of a select-list alias.
 */

/**
 * Grouped usage over deduplicated messages: rows ordered by key, and a final
 * row with a NULL key and `is_total` for the whole selection.
 */
export function usageQuery(by: UsageGroup, f: ReportFilter, kind: StoreKind = 'duckdb'): Query {
  const p = new Params(kind, f.tz);
  const where = filters(f, p);
  if (f.model) where.push(`${unknownModel} = ${p.add(f.model)}`);
  if (by === 'model') where.push('NOT synthetic');
  return {
    sql: `SELECT key, grouping(key) = 1 AS is_total, ${partialAggregates()}, ${PARTIAL_MODELS}
FROM ${partials(by, kind, p, where)} s
GROUP BY GROUPING SETS ((key), ())
ORDER BY is_total, key ${f.order === 'desc' ? 'DESC NULLS LAST' : 'NULLS FIRST'}`,
    params: p.values,
  };
}

/** `--breakdown`: the same groups split per model (`<synthetic>` left out, as in the model grouping). */
export function usageBreakdownQuery(by: UsageGroup, f: ReportFilter, kind: StoreKind = 'duckdb'): Query {
  const p = new Params(kind, f.tz);
  const where = [...filters(f, p), 'NOT synthetic'];
  if (f.model) where.push(`${unknownModel} = ${p.add(f.model)}`);
  return {
    sql: `SELECT key, grouping(key) = 1 AS is_total, model_key AS model, ${partialAggregates()}
FROM ${partials(by, kind, p, where)} s
GROUP BY GROUPING SETS ((key, model_key), (model_key))
ORDER BY is_total, key, cost_usd DESC NULLS LAST, model_key`,
    params: p.values,
  };
}

const EVENT_FILTER: Record<EventGroup, string> = {
  tool: `kind <> 'command'`,
  skill: `kind = 'skill'`,
  mcp: `kind = 'mcp'`,
  subagent: `kind = 'subagent'`,
  command: `kind = 'command'`,
};

/** Grouped invocation events (deduplicated across files), with a total row. */
export function eventsQuery(by: EventGroup, f: ReportFilter, kind: StoreKind = 'duckdb'): Query {
  const p = new Params(kind, f.tz);
  const where = [EVENT_FILTER[by], ...filters(f, p)];
  return {
    sql: `SELECT key, grouping(key) = 1 AS is_total,
  count(*)::BIGINT AS events,
  count(*) FILTER (WHERE is_error)::BIGINT AS errors,
  count(DISTINCT ${SESSION_KEY})::BIGINT AS sessions
FROM (SELECT ${by === 'tool' ? 'tool' : 'name'} AS key, * FROM usage_events_dedup${whereOf(where)}) s
GROUP BY GROUPING SETS ((key), ())
ORDER BY is_total, events DESC, key NULLS LAST`,
    params: p.values,
  };
}
