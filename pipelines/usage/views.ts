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
import { costFixed, costSum, pricedRows } from './cost-sql.js';
import { LONG_CONTEXT_THRESHOLD } from './pricing.js';
import { whenRange } from '../../src/pipeline/report-time.js';
import { argMaxSql, quarterHourOf, tsFromEpochMs, tsText, type StoreKind } from '../../src/state/dialect.js';
import { GROUP_READS, rollupViews, rollupWith, SESSION_ROLLUP, TOKEN_COLUMNS, type Rollup } from './rollup.js';
import { cleanPicks, dirtyEvents, dirtyMessages, EVENT_PICKS, EVENT_VIEW_COLUMNS, MESSAGE_PICKS, pricedPicks } from './picks.js';
import { viewSources, type UsageSources } from './sources.js';

/** A session's key: the parent session's file, which subagent files join. */
export const SESSION_KEY = `owner || '/' || session_id || '.jsonl'`;

const unknownModel = `coalesce(model, '(unknown)')`;

/** An empty text list, the same value in both stores. */
export const NO_STRINGS = 'CAST(ARRAY[] AS VARCHAR[])';

/**
 * The sorted list of the distinct non-NULL values of `expr` over a group's rows where `filter`
 * holds, or an empty list: the same value in both stores. DuckDB's DISTINCT aggregate builds a
 * hash table per group; sorting each group's small list is cheaper (20,201 sessions, one
 * thread: the grouping 0.37 s -> 0.1 s, the by-session report 480 -> 300 ms).
 */
export const sortedDistinct = (kind: StoreKind, expr: string, filter: string): string =>
  kind === 'duckdb'
    ? `coalesce(list_sort(list_distinct(array_agg(${expr}) FILTER (WHERE ${filter}))), ${NO_STRINGS})`
    : `coalesce(array_agg(DISTINCT ${expr} ORDER BY ${expr}) FILTER (WHERE ${filter}), ${NO_STRINGS})`;

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
  ${sortedDistinct(kind, unknownModel, 'cost_usd IS NULL')} AS unpriced_models`;
}

/** `long_context` of a row written before migration 2 stored it (the rule of pricing.ts `isLongContext`). */
export const LONG_CONTEXT_SQL = `input_tokens + cache_creation_tokens + cache_read_tokens > ${LONG_CONTEXT_THRESHOLD}`;

const pricedMessages = `CREATE OR REPLACE VIEW usage_messages_priced AS
${pricedRows('usage_messages')}`;

/**
 * One row per message across files (picks.ts has the rule and why it is kept as data): the
 * folded picks of the keys no commit has touched since the last fold, priced as
 * usage_messages_priced prices, and the rule over the touched keys' rows only. At 1,000,000
 * messages the window over every row cost 4.4-5.1 s a query (docs/dashboard.md).
 */
const dedupMessages = (kind: StoreKind) => `CREATE OR REPLACE VIEW usage_messages_dedup AS
${pricedPicks(cleanPicks(kind, MESSAGE_PICKS, 'c'))}
UNION ALL
SELECT * FROM (${dirtyMessages(kind)}) d`;

/** One row per invocation event across files: the folded picks of untouched ids, and the rule over the touched ids' events. */
const dedupEvents = (kind: StoreKind) => `CREATE OR REPLACE VIEW usage_events_dedup AS
SELECT ${EVENT_VIEW_COLUMNS.join(', ')} FROM ${cleanPicks(kind, EVENT_PICKS, 'c')}
UNION ALL
SELECT * FROM (${dirtyEvents(kind)}) d`;

/** GROUP BY the first `n` select items, by position (both stores; GROUP BY ALL is DuckDB's). */
export const groupByFirst = (n: number) => `GROUP BY ${Array.from({ length: n }, (_, i) => i + 1).join(', ')}`;

const grouped = (kind: StoreKind, name: string, keys: readonly string[], from = 'usage_messages_dedup', where = '') =>
  `CREATE OR REPLACE VIEW ${name} AS
SELECT ${keys.join(', ')}, ${usageAggregates(kind)}
FROM ${from}${where ? ` WHERE ${where}` : ''}
${groupByFirst(keys.length)}`;


/** Per session, its message sums from the session rollup (rollup.ts): sums add, so straight per session. `w`: its FROM's alias and WHERE. */
const sessionSums = (w: string, src: UsageSources) => `SELECT owner, session_id, sum(n) AS messages,
    ${TOKEN_COLUMNS.map((c) => `sum(${c}) AS ${c}`).join(', ')},
    ${GROUP_READS.cost} AS cost_fixed
  FROM ${src.rollup(SESSION_ROLLUP)}${w} GROUP BY owner, session_id`;

/**
 * Per session, its models (ccusage's: no <synthetic>) and unpriced models, as `usageAggregates`
 * and the per-message path list them: per model first, netted (a model is listed while a message
 * of it remains). `where`: which rollup rows (e.g. a page's sessions; '' for all). The lists are
 * the costly part of usage_sessions (1,000,000 messages, one thread: 0.6 s of its 1.5 s), so the
 * session list builds them for its page only (sessions.ts).
 */
export const sessionListsSql = (kind: StoreKind, where: string, src: UsageSources = viewSources(kind)) => `SELECT owner, session_id,
  ${sortedDistinct(kind, unknownModel, 'n > n_priced')} AS unpriced_models,
  ${sortedDistinct(kind, 'model', 'any_real AND model IS NOT NULL')} AS models
FROM (SELECT owner, session_id, model, sum(n) AS n, sum(n_priced) AS n_priced, ${GROUP_READS.anyReal} AS any_real
  FROM ${src.rollup(SESSION_ROLLUP)} r${where ? ` WHERE ${where}` : ''} GROUP BY owner, session_id, model
  HAVING ${GROUP_READS.present}) pm
GROUP BY owner, session_id`;

/** The sessions whose messages include `model` (a parameter), as `model = ANY(models)` of usage_sessions picks them. */
export const sessionsWithModelSql = (model: string, src: UsageSources) => `SELECT ${SESSION_KEY} FROM ${src.rollup(SESSION_ROLLUP)}
  WHERE model = ${model} AND NOT synthetic GROUP BY owner, session_id HAVING ${GROUP_READS.present}`;

/** A session's latest header fact: from its main file, else from its latest subagent file. */
// One aggregate: the main file ranks first, then the latest. (Two, a main file's else any
// file's, cost twice as much: 123 ms for 55,000 files.)
const latestFact = (kind: StoreKind, col: string) =>
  `${argMaxSql(kind, col, ['CASE WHEN NOT subagent THEN 1 ELSE 0 END', 'last_ts', 'session_file'], 'last_ts IS NOT NULL')} AS ${col}`;

type SessionPart = 'f' | 'm' | 'ev' | 'l';
/** A column of part `from`: its expression `expr` (by default the part's column of that name). */
const col = (name: string, from: SessionPart, expr = `${from}.${name}`) => ({ name, expr, from });
/** A part's count, 0 for a session the part has no row of. */
const orZero = (name: string, from: SessionPart, cast = '') => col(name, from, `coalesce(${from}.${name}, 0)${cast} AS ${name}`);
/** A part's list, empty for a session the part has no row of. */
const orNone = (name: string) => col(name, 'l', `coalesce(l.${name}, ${NO_STRINGS}) AS ${name}`);

/** usage_sessions' columns in order, each with its expression and the part it comes from (files, message sums, events, model lists). */
const SESSION_COLUMNS: readonly { name: string; expr: string; from: SessionPart }[] = [
  col('session', 'f', `${SESSION_KEY} AS session`),
  col('owner', 'f', 'owner'),
  col('session_id', 'f', 'session_id'),
  col('first_ts', 'f'),
  col('last_ts', 'f'),
  orNone('models'),
  orZero('messages', 'm', '::BIGINT'),
  orZero('tool_calls', 'ev'),
  orZero('tool_errors', 'ev'),
  orZero('commands', 'ev'),
  ...['input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_read_tokens', 'total_tokens'].map((c) => orZero(c, 'm', '::BIGINT')),
  col('cost_usd', 'm', 'CASE WHEN coalesce(m.messages, 0) = 0 THEN 0 ELSE CAST(m.cost_fixed AS DOUBLE PRECISION) END AS cost_usd'),
  orNone('unpriced_models'),
  col('cwd', 'f'),
  col('git_branch', 'f'),
  col('cc_version', 'f'),
  col('files', 'f'),
];
export const SESSION_COLUMN_NAMES = SESSION_COLUMNS.map((c) => c.name);

/**
 * usage_sessions' rows: every column (the view), or only `columns`, joining only the parts they
 * come from (DuckDB does not drop a LEFT JOIN whose columns go unread: the dashboard's list
 * sorts the sessions on one column first, then reads the rest for its page). `within`: a
 * condition on each part's rows (given their alias; `owner` and `session_id` columns) that keeps
 * only some sessions, so they alone are summed. One definition for the view and the list (sessions.ts).
 */
export function sessionsSql(kind: StoreKind, opts: { columns?: readonly string[]; within?: (alias: string) => string; src?: UsageSources } = {}): string {
  const src = opts.src ?? viewSources(kind);
  const cols = opts.columns ? SESSION_COLUMNS.filter((c) => opts.columns!.includes(c.name)) : SESSION_COLUMNS;
  const uses = (part: SessionPart) => cols.some((c) => c.from === part);
  const w = opts.within ? ` x WHERE ${opts.within('x')}` : '';
  const parts = [
    `files AS (
  SELECT owner, session_id,
    min(first_ts) AS first_ts, max(last_ts) AS last_ts,
    count(*)::BIGINT AS files,
    ${latestFact(kind, 'cwd')},
    ${latestFact(kind, 'git_branch')},
    ${latestFact(kind, 'cc_version')}
  FROM usage_files${w} GROUP BY owner, session_id
)`,
    ...(uses('m') ? [`msgs AS (${sessionSums(w, src)})`] : []),
    ...(uses('ev')
      ? [
          `ev AS (
  SELECT owner, session_id,
    count(*) FILTER (WHERE kind <> 'command')::BIGINT AS tool_calls,
    count(*) FILTER (WHERE kind <> 'command' AND is_error)::BIGINT AS tool_errors,
    count(*) FILTER (WHERE kind = 'command')::BIGINT AS commands
  FROM ${src.events}${w} GROUP BY owner, session_id
)`,
        ]
      : []),
    ...(uses('l') ? [`lists AS (${sessionListsSql(kind, opts.within ? opts.within('r') : '', src)})`] : []),
  ];
  const joins = [
    ...(uses('m') ? ['LEFT JOIN msgs m USING (owner, session_id)'] : []),
    ...(uses('ev') ? ['LEFT JOIN ev USING (owner, session_id)'] : []),
    ...(uses('l') ? ['LEFT JOIN lists l USING (owner, session_id)'] : []),
  ];
  return `WITH ${parts.join(', ')}
SELECT ${cols.map((c) => c.expr).join(',\n  ')}
FROM files f${joins.length ? `\n${joins.join('\n')}` : ''}`;
}

const sessions = (kind: StoreKind) => `CREATE OR REPLACE VIEW usage_sessions AS\n${sessionsSql(kind)}`;

/** The views in a store's dialect, in dependency order; the same names and columns in both. */
export function viewDdl(kind: StoreKind): string[] {
  return [
    ACTIVE_VERSION_VIEW,
    pricedMessages,
    dedupMessages(kind),
    dedupEvents(kind),
    ...rollupViews(kind),
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

/**
 * Row filters on `ts` (or another column) and `owner`: the report's bounds as instants (a day
 * bound is its local midnight in `tz`).
 */
function filters(f: ReportFilter, p: Params, ts = 'ts'): string[] {
  const where: string[] = [];
  const r = whenRange(f.since, f.until, f.tz);
  if (r.since !== undefined) where.push(`${ts} >= ${tsFromEpochMs(p.kind, `CAST(${p.add(r.since)} AS BIGINT)`)}`);
  if (r.until !== undefined) where.push(`${ts} < ${tsFromEpochMs(p.kind, `CAST(${p.add(r.until)} AS BIGINT)`)}`);
  if (f.owner) where.push(`owner = ${p.add(f.owner)}`);
  return where;
}

/**
 * How each group is summed: the columns of its partial sums (`partial`, per row), and its key
 * from them. Time groups sum per UTC 15-minute bucket: every zone's offset (since 1970) is a
 * multiple of 15 minutes, so a bucket never straddles a local midnight, and the time-zone
 * conversion and the date text run once per bucket instead of once per row.
 */
const USAGE_KEYS: Record<UsageGroup, { partial: readonly string[]; key: (p: Params) => string }> = {
  day: { partial: ['b'], key: (p) => tsText(p.kind, p.localTs('b'), 'day') },
  week: { partial: ['b'], key: (p) => tsText(p.kind, `date_trunc('week', ${p.localTs('b')})`, 'day') },
  month: { partial: ['b'], key: (p) => tsText(p.kind, p.localTs('b'), 'month') },
  session: { partial: ['owner', 'session_id'], key: () => SESSION_KEY },
  owner: { partial: ['owner'], key: () => 'owner' },
  model: { partial: [], key: () => unknownModel },
};

/** 15 minutes, in ms: the rollup's buckets (rollup.ts). */
const BUCKET_MS = 15 * 60_000;

/**
 * Whether a report's rows can come from the rollup: its bounds (if any) fall on bucket edges, so
 * `ts >= since` holds exactly when the bucket's start does. Day bounds always do (a local
 * midnight, as above); an instant such as `--since 2025-10-01T10:07:00Z` reads every message.
 */
export function rollupServes(f: ReportFilter): boolean {
  const r = whenRange(f.since, f.until, f.tz);
  const onEdge = (ms: number | undefined) => ms === undefined || ms % BUCKET_MS === 0;
  return onEdge(r.since) && onEdge(r.until);
}

/**
 * A group's rows summed first per partial key and model, with the group's key: the relation
 * `partialAggregates` reads. Per row only sums are left; the key's text (a date in the report's
 * zone, a session key), the sorted distinct model lists and the grouping sets run per partial
 * group. At 1,000,000 messages (one DuckDB thread, load 7-8) `strftime` per row alone cost
 * 0.7-0.9 s and `timezone()` + `strftime` 4.7-6.0 s; `report usage --by day` went from
 * 3.2-5.2 s to 0.2-0.4 s (two threads), its rows byte for byte the same. Exact: counts and
 * token sums are integers, costs the 12-decimal fixed-point terms of `costSum`, and whether a
 * model is present (or unpriced) is kept per model.
 *
 * `rollup`: the sums come from that rollup's groups instead of one row per message (the same
 * partial rows: test/usage/picks.test.ts).
 */
function partials(by: UsageGroup, kind: StoreKind, p: Params, where: readonly string[], rollup: Rollup | null, src: UsageSources, bySynthetic = false): string {
  const cols = [...USAGE_KEYS[by].partial, ...(bySynthetic ? ['synthetic'] : [])];
  const sum = (c: string) => `sum(${c}) AS ${c}`;
  const figures = rollup
    ? `sum(n) AS n,
    ${TOKEN_COLUMNS.map(sum).join(', ')},
    ${GROUP_READS.cost} AS cost_fixed,
    ${GROUP_READS.anyUnpriced} AS any_unpriced,
    ${GROUP_READS.anyReal} AS any_real
  FROM ${src.rollup(rollup)}`
    : `count(*) AS n,
    ${TOKEN_COLUMNS.map(sum).join(', ')},
    sum(${costFixed(kind, 'cost_usd')}) AS cost_fixed,
    bool_or(cost_usd IS NULL) AS any_unpriced,
    bool_or(NOT synthetic) AS any_real
  FROM (SELECT ${quarterHourOf(kind, 'ts')} AS b, * FROM ${src.messages} d) m`;
  // (The rollup's rows of a group repeat, signed, while keys are noted: a group of no message is none.)
  return `(SELECT ${USAGE_KEYS[by].key(p)} AS key, ${unknownModel} AS model_key, q.* FROM (
  SELECT ${[...cols, 'model'].join(', ')}, ${figures}${whereOf(where)}
  ${groupByFirst(cols.length + 1)}${rollup ? `\n  HAVING ${GROUP_READS.present}` : ''}) q)`;
}

/** `usageAggregates` and the models list over `partials` rows: the same values, column for column. */
function partialAggregates(kind: StoreKind): string {
  return `coalesce(sum(n), 0)::BIGINT AS messages,
  ${TOKEN_COLUMNS.map((c) => `coalesce(sum(${c}), 0)::BIGINT AS ${c}`).join(',\n  ')},
  CAST(sum(cost_fixed) AS DOUBLE PRECISION) AS cost_usd,
  ${sortedDistinct(kind, 'model_key', 'any_unpriced')} AS unpriced_models`;
}
const partialModels = (kind: StoreKind) => `${sortedDistinct(kind, 'model', 'any_real AND model IS NOT NULL')} AS models`;

const whereOf = (where: readonly string[]) => (where.length ? ` WHERE ${where.join(' AND ')}` : '');

/*
 * The grouped reports group a subquery's `key` column: GROUPING SETS and grouping() take a
 * column in both stores, where PostgreSQL refuses grouping() of a select-list alias.
 */

/**
 * Which rollup a report reads (rollup.ts), or none (one row per message): the smallest with the
 * report's grain, i.e. its partial columns, model and synthetic flag, the owner for an owner
 * filter and the bucket for a time range.
 */
function rollupFor(by: UsageGroup, f: ReportFilter, use: boolean): Rollup | null {
  if (!use) return null;
  const needs = [...USAGE_KEYS[by].partial, 'model', 'synthetic'];
  if (f.owner !== undefined) needs.push('owner');
  if (f.since !== undefined || f.until !== undefined) needs.push('b');
  return rollupWith(needs);
}

/**
 * Grouped usage over deduplicated messages: rows ordered by key, and a final
 * row with a NULL key and `is_total` for the whole selection.
 */
export function usageQuery(by: UsageGroup, f: ReportFilter, kind: StoreKind = 'duckdb', useRollup = rollupServes(f), src = viewSources(kind)): Query {
  const p = new Params(kind, f.tz);
  const rollup = rollupFor(by, f, useRollup);
  const where = filters(f, p, rollup ? 'b' : 'ts');
  if (f.model) where.push(`${unknownModel} = ${p.add(f.model)}`);
  if (by === 'model') where.push('NOT synthetic');
  return {
    sql: `SELECT key, grouping(key) = 1 AS is_total, ${partialAggregates(kind)}, ${partialModels(kind)}
FROM ${partials(by, kind, p, where, rollup, src)} s
GROUP BY GROUPING SETS ((key), ())
ORDER BY is_total, key ${f.order === 'desc' ? 'DESC NULLS LAST' : 'NULLS FIRST'}`,
    params: p.values,
  };
}

/**
 * `--breakdown`: usageQuery's rows (`part` 0), then the same groups split per model (`part` 1,
 * `<synthetic>` left out, as in the model grouping, each key's models largest cost first), from
 * one scan. The partial sums are split by the synthetic flag too, so that the split can leave
 * its rows out after they are summed: the same sums, since they add. Two queries read the
 * rollup's view twice, and with a key noted each paid its change again: at 1,000,000 messages
 * (one DuckDB thread, one key noted) the report took 277 ms as two queries.
 */
export function usageBreakdownQuery(by: UsageGroup, f: ReportFilter, kind: StoreKind = 'duckdb', useRollup = rollupServes(f), src = viewSources(kind)): Query {
  const p = new Params(kind, f.tz);
  const rollup = rollupFor(by, f, useRollup);
  const where = filters(f, p, rollup ? 'b' : 'ts');
  if (f.model) where.push(`${unknownModel} = ${p.add(f.model)}`);
  return {
    sql: `WITH s AS MATERIALIZED (SELECT * FROM ${partials(by, kind, p, where, rollup, src, true)} q)
SELECT 0 AS part, key, grouping(key) = 1 AS is_total, CAST(NULL AS VARCHAR) AS split_model, ${partialAggregates(kind)}, ${partialModels(kind)}
FROM s GROUP BY GROUPING SETS ((key), ())
UNION ALL
SELECT 1 AS part, key, grouping(key) = 1 AS is_total, model_key AS split_model, ${partialAggregates(kind)}, ${NO_STRINGS} AS models
FROM s WHERE NOT synthetic GROUP BY GROUPING SETS ((key, model_key), (model_key))
ORDER BY part, is_total, key ${f.order === 'desc' ? 'DESC NULLS LAST' : 'NULLS FIRST'}, cost_usd DESC NULLS LAST, split_model`,
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

/**
 * Grouped invocation events (deduplicated across files), with a total row per group: of one
 * group (`report events --by`), or of several from one scan of the events, rows tagged `grp`
 * (the group's index in `by`). The dashboard's tools view asks for its four small groups in
 * one request: four queries cost 91-132 ms, one 82-93 ms (1,000,000 messages, one thread), and
 * the browser then holds five connections to the daemon, not seven (it allows six per host).
 */
export function eventsQuery(by: EventGroup | readonly EventGroup[], f: ReportFilter, kind: StoreKind = 'duckdb', src = viewSources(kind)): Query {
  const groups: readonly EventGroup[] = typeof by === 'string' ? [by] : by;
  const p = new Params(kind, f.tz);
  const rowWhere = filters(f, p);
  const one = groups.length === 1;
  const keyed = (g: EventGroup, i: number) =>
    `SELECT ${i} AS grp, ${g === 'tool' ? 'tool' : 'name'} AS key, owner, session_id, is_error FROM ${one ? `${src.events} d` : 'ev'}${whereOf([EVENT_FILTER[g], ...(one ? rowWhere : [])])}`;
  // Several groups: the events are read once, then each group picks its rows.
  const rows = one
    ? keyed(groups[0], 0)
    : `WITH ev AS MATERIALIZED (SELECT kind, name, tool, owner, session_id, is_error FROM ${src.events} d${whereOf(rowWhere)})
${groups.map(keyed).join('\nUNION ALL\n')}`;
  return {
    // Summed per key and session first, and per session for the total: each key's sessions are
    // then its rows (a session key is one (owner, session) pair: an owner holds no '/'), counted
    // without a DISTINCT (500,000 events, one thread: 200 -> 130 ms; 340-490 ms per event before).
    sql: `SELECT grp, key, is_total,
  coalesce(sum(n), 0)::BIGINT AS events,
  coalesce(sum(errors), 0)::BIGINT AS errors,
  count(${SESSION_KEY})::BIGINT AS sessions
FROM (SELECT grp, key, grouping(key) = 1 AS is_total, owner, session_id, count(*) AS n, count(*) FILTER (WHERE is_error) AS errors
  FROM (${rows}) e
  GROUP BY GROUPING SETS ((grp, key, owner, session_id), (grp, owner, session_id))) s
GROUP BY grp, key, is_total
ORDER BY grp, is_total, events DESC, key NULLS LAST`,
    params: p.values,
  };
}
