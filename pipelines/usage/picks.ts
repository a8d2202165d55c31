/**
 * The cross-file dedup, kept as data and folded off the commit path.
 *
 * A message (one API call, by message key) or an invocation event (by event id) can be in
 * several session files: a resumed or forked session copies its history, a subagent file
 * repeats its parent's lines. The rule that picks one row per message or event across files
 * lives in views.ts (`usage_messages_dedup`, `usage_events_dedup`); computed as a window over
 * every row per query it cost 4.4-5.1 s at 1,000,000 messages (docs/dashboard.md).
 *
 * So the rule's result is kept in two tables, `usage_message_picks` and `usage_event_picks`,
 * and a commit only notes the keys it touched in `usage_dirty_keys` (one staged row per
 * message, event and tool result it stages, and the keys of a file it retracts): O(staged
 * rows), through the same staged load as the rows themselves. The views read the picks of
 * keys not noted, plus the rule over the noted keys' rows only, so they are exact at every
 * commit. `fold` recomputes the noted keys' picks and forgets them: one scan of the rows per
 * fold, run by the daemon when commits pause (FOLD_IDLE_MS) and at least every FOLD_MAX_WAIT_MS, instead of one per commit (a
 * recompute in every commit doubled bench:live-reads' append -> commit p99, 516 -> 1,221 ms:
 * docs/dashboard.md, "The dedup table, tried and reverted").
 *
 * The invariant: for every key, either it is in `usage_dirty_keys`, or its pick is the rule
 * over its rows now (no pick when it has none). Every write that can change a key's rule
 * notes it in the same transaction: a staged message, event or tool result (an event's
 * `is_error` comes from the results of its id in any file); a retraction (before its delete);
 * a file whose session id changes (its messages' and events' `session_id` come from
 * `usage_files`). One table for both kinds of key: a message key equal to an event id only
 * makes a fold recompute one more key.
 *
 * Prices are not here: the views join a pick to the active price version at read time, so a
 * new price table reprices every message still.
 */
import type { OutputTable } from '../../src/pipeline/processor.js';
import { columnTypeSql, firstRowsSql, type StoreKind } from '../../src/state/dialect.js';
import { createTableSql, quoteIdent } from '../../src/state/table.js';
import { DIRTY, EVENTS, FILES, MESSAGES, TOOL_RESULTS } from './tables.js';
import { MESSAGE_COST, PRICE_JOINS, pricedRows } from './cost-sql.js';

export const MESSAGE_PICKS = 'usage_message_picks';
export const EVENT_PICKS = 'usage_event_picks';

/** The counting copy's columns of usage_messages that a message pick holds. */
const COPY_COLUMNS = [
  'message_id', 'request_id', 'model', 'speed', 'input_tokens', 'output_tokens', 'cache_creation_tokens',
  'cache_creation_5m_tokens', 'cache_creation_1h_tokens', 'cache_read_tokens', 'total_tokens', 'synthetic', 'long_context',
] as const;

const typeOf = (t: OutputTable, name: string) => t.columns.find((c) => c.name === name)!.type;

/** A pick table's columns: name and declared type. */
const MESSAGE_PICK_COLUMNS: readonly (readonly [string, string])[] = [
  ['message_key', 'VARCHAR'],
  ['first_file', 'VARCHAR'],
  ['first_owner', 'VARCHAR'],
  ['first_ts', 'TIMESTAMP'],
  ['first_session_id', 'VARCHAR'],
  ['copies', 'BIGINT'],
  ...COPY_COLUMNS.map((c) => [c, typeOf(MESSAGES, c)] as const),
];

const EVENT_PICK_COLUMNS: readonly (readonly [string, string])[] = [
  ['event_id', 'VARCHAR'],
  ['session_file', 'VARCHAR'],
  ['owner', 'VARCHAR'],
  ['session_id', 'VARCHAR'],
  ['ts', 'TIMESTAMP'],
  ['kind', 'VARCHAR'],
  ['name', 'VARCHAR'],
  ['tool', 'VARCHAR'],
  ['mcp_server', 'VARCHAR'],
  ['mcp_tool', 'VARCHAR'],
  ['is_error', 'BOOLEAN'],
];

/**
 * A pick table without a primary key: a fold deletes and inserts its keys set-wise in one
 * transaction, and the views join it to nothing by key (an index would only cost inserts).
 * PostgreSQL's text columns in the "C" collation, as every table's (state/table.ts).
 */
function pickTableSql(kind: StoreKind, name: string, columns: readonly (readonly [string, string])[]): string {
  const cols = columns.map(([c, type]) => `${quoteIdent(c)} ${columnTypeSql(kind, type)}${kind === 'postgres' && type === 'VARCHAR' ? ' COLLATE "C"' : ''}`);
  return `CREATE TABLE IF NOT EXISTS ${name} (${cols.join(', ')})`;
}

/** The pick tables (the dirty-key table is a declared output table: tables.ts). */
export function picksDdl(kind: StoreKind): string[] {
  return [pickTableSql(kind, MESSAGE_PICKS, MESSAGE_PICK_COLUMNS), pickTableSql(kind, EVENT_PICKS, EVENT_PICK_COLUMNS)];
}

/** The keys noted dirty, as a query of one `key` column. */
export const DIRTY_KEYS = `SELECT key FROM ${DIRTY.name}`;

/**
 * The message rule over the rows of `within` (a WHERE on usage_messages_priced, or '' for
 * all): one row per message key, the copy with the largest token total (then the earliest
 * ts, NULLs last, then the file name), attributed to the copy seen first (earliest ts, NULLs
 * last, then the file name) and that file's session. `priced`: the view's columns (with cost
 * and price version), else the pick table's.
 */
export function messageRuleSql(kind: StoreKind, within: string, priced: boolean): string {
  const copy = COPY_COLUMNS.map((c) => `m.${c}`);
  const firsts = {
    file: 'first_value(m.session_file) OVER first_seen',
    owner: 'first_value(m.owner) OVER first_seen',
    sid: 'first_value(f.session_id) OVER first_seen',
    ts: 'first_value(m.ts) OVER first_seen',
  };
  const copies = 'count(*) OVER (PARTITION BY m.message_key)';
  const select = priced
    ? `
  m.message_key,
  ${firsts.file} AS session_file,
  ${firsts.owner} AS owner,
  ${firsts.sid} AS session_id,
  ${firsts.ts} AS ts,
  m.message_id, m.request_id, m.model, m.speed,
  m.input_tokens, m.output_tokens, m.cache_creation_tokens, m.cache_creation_5m_tokens,
  m.cache_creation_1h_tokens, m.cache_read_tokens, m.total_tokens,
  m.cost_usd, m.pricing_model, m.price_version, m.synthetic, m.long_context,
  ${copies} AS copies`
    : `m.message_key, ${firsts.file} AS first_file, ${firsts.owner} AS first_owner, ${firsts.ts} AS first_ts,
  ${firsts.sid} AS first_session_id, ${copies} AS copies, ${copy.join(', ')}`;
  const rows = `SELECT * FROM ${MESSAGES.name}${within ? ` WHERE ${within}` : ''}`;
  return firstRowsSql(kind, {
    columns: priced ? MESSAGE_VIEW_COLUMNS : MESSAGE_PICK_COLUMNS.map(([c]) => c),
    select,
    from: `FROM (${priced ? pricedRows(`(${rows})`) : rows}) m
LEFT JOIN ${FILES.name} f ON f.session_file = m.session_file
WINDOW first_seen AS (
  PARTITION BY m.message_key ORDER BY m.ts ASC NULLS LAST, m.session_file
  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)`,
    rowNumber: `row_number() OVER (
  PARTITION BY m.message_key ORDER BY m.total_tokens DESC, m.ts ASC NULLS LAST, m.session_file)`,
  });
}

/** usage_messages_dedup's columns, in order. */
export const MESSAGE_VIEW_COLUMNS = [
  'message_key', 'session_file', 'owner', 'session_id', 'ts', 'message_id', 'request_id', 'model', 'speed',
  'input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_creation_5m_tokens', 'cache_creation_1h_tokens',
  'cache_read_tokens', 'total_tokens', 'cost_usd', 'pricing_model', 'price_version', 'synthetic', 'long_context', 'copies',
] as const;

/**
 * Message picks as usage_messages_dedup's rows, priced at the active version, as
 * usage_messages_priced prices: `from` names the picks (a pick table, maybe with an alias and a WHERE).
 */
export const pricedPicks = (from: string) => `SELECT m.message_key,
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
FROM (SELECT * FROM ${from}) m
${PRICE_JOINS}`;

/** usage_events_dedup's columns, in order (the event pick table's too). */
export const EVENT_VIEW_COLUMNS = EVENT_PICK_COLUMNS.map(([c]) => c);

/**
 * The event rule over the events of `within` (a WHERE on usage_events, or '' for all): one
 * row per event id, the copy seen first (earliest ts, NULLs last, then the file name), with
 * its file's session, and whether any result of that id in any file is an error (commands
 * have none).
 */
export function eventRuleSql(kind: StoreKind, within: string): string {
  const only = within ? ` WHERE ${within.replace(/\bevent_id\b/g, 'tool_use_id')}` : '';
  return firstRowsSql(kind, {
    columns: EVENT_VIEW_COLUMNS,
    select: `e.event_id, e.session_file, e.owner, f.session_id, e.ts, e.kind, e.name, e.tool, e.mcp_server, e.mcp_tool,
  CASE WHEN e.kind = 'command' THEN NULL ELSE r.is_error END AS is_error`,
    from: `FROM (SELECT * FROM ${EVENTS.name}${within ? ` WHERE ${within}` : ''}) e
LEFT JOIN ${FILES.name} f ON f.session_file = e.session_file
LEFT JOIN (SELECT tool_use_id, bool_or(is_error) AS is_error FROM ${TOOL_RESULTS.name}${only} GROUP BY tool_use_id) r
  ON r.tool_use_id = e.event_id`,
    rowNumber: 'row_number() OVER (PARTITION BY e.event_id ORDER BY e.ts ASC NULLS LAST, e.session_file)',
  });
}

const dirtyOnly = (col: string) => `${col} IN (${DIRTY_KEYS})`;
/**
 * A key not noted. DuckDB: NOT IN (the key column is NOT NULL, so the same rows), because its
 * NOT EXISTS turned into a delim join once another filter met it (1,000,000 picks, no key noted,
 * `ts IS NOT NULL` beside it: 160-250 ms, against 40-60 ms). PostgreSQL: NOT EXISTS, a hashed
 * anti-join at any size, where its NOT IN rescans the subquery per row once the keys outgrow work_mem.
 */
const notDirty = (kind: StoreKind, col: string) =>
  kind === 'duckdb' ? `${col} NOT IN (${DIRTY_KEYS})` : `NOT EXISTS (SELECT 1 FROM ${DIRTY.name} d WHERE d.key = ${col})`;

/** The picks of keys not noted, for the views (`p`: the pick table's alias). */
export const cleanPicks = (kind: StoreKind, table: typeof MESSAGE_PICKS | typeof EVENT_PICKS, alias: string) =>
  `${table} ${alias} WHERE ${notDirty(kind, `${alias}.${table === MESSAGE_PICKS ? 'message_key' : 'event_id'}`)}`;

/** The picks of the noted keys (their state at the last fold), for the rollup (`p`: the pick table's alias). */
export const notedPicks = (alias: string) => `${MESSAGE_PICKS} ${alias} WHERE ${dirtyOnly(`${alias}.message_key`)}`;

/**
 * usage_messages_dedup's `owner` and `ts` alone, unpriced: what `report blocks` needs to find
 * its active blocks. The view prices every row first (1,000,000 messages: 1.4-1.8 s for the hour
 * buckets, 62-134 ms from the picks alone).
 */
export const dedupTimes = (kind: StoreKind) => `SELECT c.first_owner AS owner, c.first_ts AS ts FROM ${cleanPicks(kind, MESSAGE_PICKS, 'c')}
UNION ALL
SELECT owner, ts FROM (${dirtyMessages(kind)}) d`;

/** The rule over the noted keys' rows only, for the views. */
export const dirtyMessages = (kind: StoreKind) => messageRuleSql(kind, dirtyOnly('message_key'), true);
export const dirtyEvents = (kind: StoreKind) => eventRuleSql(kind, dirtyOnly('event_id'));

/**
 * Recompute the picks of the noted keys (or of every key: `all`, the migration's and the
 * benchmark seeder's backfill), then forget the noted keys. One transaction, on the writer.
 *
 * PostgreSQL, a store several nodes may write: the dirty table is locked against inserts for
 * the fold's length (SHARE ROW EXCLUSIVE; a commit's insert waits), so no key is noted between
 * the recompute's read and the final DELETE and lost by it; commits touch no pick table, so
 * the lock order cannot deadlock.
 */
export function foldSql(
  kind: StoreKind,
  opts: { all?: boolean; migration?: boolean; aroundMessages?: { before: string[]; after: string[] } } = {},
): string[] {
  const all = opts.all ?? false;
  const msgWhere = all ? '' : ` WHERE ${dirtyOnly('message_key')}`;
  const evWhere = all ? '' : ` WHERE ${dirtyOnly('event_id')}`;
  return [
    // (Not in a migration: it runs alone, under the migrations' advisory lock, maybe outside a transaction.)
    ...(kind === 'postgres' && !opts.migration ? [`LOCK TABLE ${DIRTY.name} IN SHARE ROW EXCLUSIVE MODE`] : []),
    ...(opts.aroundMessages?.before ?? []),
    `DELETE FROM ${MESSAGE_PICKS}${msgWhere}`,
    `INSERT INTO ${MESSAGE_PICKS} (${MESSAGE_PICK_COLUMNS.map(([c]) => c).join(', ')})\n${messageRuleSql(kind, all ? '' : dirtyOnly('message_key'), false)}`,
    ...(opts.aroundMessages?.after ?? []),
    `DELETE FROM ${EVENT_PICKS}${evWhere}`,
    `INSERT INTO ${EVENT_PICKS} (${EVENT_VIEW_COLUMNS.join(', ')})\n${eventRuleSql(kind, all ? '' : dirtyOnly('event_id'))}`,
    // DuckDB: dropped and created again. A DELETE of its 1,500,000 rows (after a backfill) took
    // 88 s, the primary key's index emptied row by row; DROP + CREATE 4 ms. (DuckDB views bind at
    // query time; PostgreSQL's depend on the table, and its DELETE is cheap.)
    ...(kind === 'duckdb' ? [`DROP TABLE ${DIRTY.name}`, createTableSql(DIRTY)] : [`DELETE FROM ${DIRTY.name}`]),
  ];
}

/**
 * Note the keys of a file's stored rows: run by a retraction before it deletes them, and by a
 * batch that changes the file's session id (a flat subagent file learns its parent's from a
 * line), whose earlier rows' picks name the old one.
 */
export const NOTE_FILE_KEYS = `INSERT INTO ${DIRTY.name} (key)
SELECT message_key FROM ${MESSAGES.name} WHERE session_file = $1
UNION SELECT event_id FROM ${EVENTS.name} WHERE session_file = $1
UNION SELECT tool_use_id FROM ${TOOL_RESULTS.name} WHERE session_file = $1
ON CONFLICT DO NOTHING`;
