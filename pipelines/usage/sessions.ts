/**
 * Session-level reports for the dashboard: the files active right now, the
 * session list (sorted, searched, paged) and one session's timeline.
 *
 * None of them returns transcript text: only ids, names, models, token
 * counts and costs, as the other usage reports do.
 */
import type { ReadQuery } from '../../src/pipeline/report.js';
import { costSum } from './cost-sql.js';
import { sourcesOf } from './sources.js';
import { NO_STRINGS, SESSION_COLUMN_NAMES, sessionListsSql, sessionsSql, sessionsWithModelSql, type ReportFilter } from './views.js';
import { whenRange } from '../../src/pipeline/report-time.js';
import { argMaxSql, kindOf, tsFromEpochMs, type StoreKind } from '../../src/state/dialect.js';
import { iso, micro, num, str, strings } from '../../src/state/row-values.js';

type Reader = ReadQuery;

const tokens = (kind: StoreKind) => `count(*)::BIGINT AS messages,
    coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
    coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
    coalesce(sum(cache_creation_tokens), 0)::BIGINT AS cache_creation_tokens,
    coalesce(sum(cache_read_tokens), 0)::BIGINT AS cache_read_tokens,
    ${costSum(kind)} AS cost_usd`;

interface Tokens {
  messages: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
  cost_usd: number | null;
}

const tokensOf = (r: Record<string, unknown>): Tokens => ({
  messages: num(r.messages),
  input_tokens: num(r.input_tokens),
  output_tokens: num(r.output_tokens),
  cache_creation_tokens: num(r.cache_creation_tokens),
  cache_read_tokens: num(r.cache_read_tokens),
  cost_usd: micro(r.cost_usd),
});

/**
 * `session_file` among `n` names given as parameters $1..$n. By name rather than by a subquery on
 * usage_files: DuckDB then filters the scans of usage_messages and usage_events on the list,
 * before the price joins and the windows (1,000,000 messages, one thread: 110 -> 19 ms a scan).
 */
const namedFiles = (n: number) => `session_file IN (${Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', ')})`;

// ------------------------------------------------------------------ live

export interface LiveFile extends Tokens {
  session_file: string;
  owner: string;
  session_id: string | null;
  subagent: boolean;
  model: string | null;
  first_ts: string | null;
  last_ts: string | null;
  /** The file's newest tool call when no result for it has been seen yet. */
  running_tool: string | null;
  running_since: string | null;
}

export interface LiveQuery {
  /** Epoch ms: files whose newest line is at or after this. */
  since: number;
  owner?: string;
  model?: string;
}

/**
 * Session files with a line at or after `since`, newest first. Figures are
 * per file (a message a resumed file repeats counts in both files here).
 */
export async function liveFiles(db: Reader, q: LiveQuery): Promise<LiveFile[]> {
  const kind = kindOf(db);
  const params: (string | number)[] = [Math.trunc(q.since)];
  const where = [`last_ts >= ${tsFromEpochMs(kind, 'CAST($1 AS BIGINT)')}`];
  if (q.owner) {
    params.push(q.owner);
    where.push(`owner = $${params.length}`);
  }
  const active = await db.all<{ session_file: string }>(`SELECT session_file FROM usage_files WHERE ${where.join(' AND ')}`, params);
  if (active.length === 0) return [];
  const fp: (string | number)[] = active.map((r) => String(r.session_file));
  const inFiles = namedFiles(fp.length);
  if (q.model) fp.push(q.model);
  const modelWhere = q.model ? `WHERE m.model = $${fp.length}` : '';
  // Latest by ts, ties by position in the file (then id: one line can hold several tool calls).
  const rows = await db.all<Record<string, unknown>>(
    `WITH f AS (
  SELECT session_file, owner, session_id, subagent, first_ts, last_ts FROM usage_files WHERE ${inFiles}
), m AS (
  SELECT session_file, ${tokens(kind)}, ${argMaxSql(kind, 'model', ['ts', 'line_offset'], 'NOT synthetic')} AS model
  FROM usage_messages_priced WHERE ${inFiles} GROUP BY session_file
), last_event AS (
  SELECT session_file, ${argMaxSql(kind, 'event_id', ['ts', 'line_offset', 'event_id'])} AS event_id,
    ${argMaxSql(kind, 'name', ['ts', 'line_offset', 'event_id'])} AS name, max(ts) AS ts
  FROM usage_events WHERE ${inFiles} AND kind <> 'command' GROUP BY session_file
)
SELECT f.session_file, f.owner, f.session_id, f.subagent, f.first_ts, f.last_ts,
  m.messages, m.input_tokens, m.output_tokens, m.cache_creation_tokens, m.cache_read_tokens, m.cost_usd, m.model,
  CASE WHEN r.tool_use_id IS NULL THEN e.name END AS running_tool,
  CASE WHEN r.tool_use_id IS NULL THEN e.ts END AS running_since
FROM f
LEFT JOIN m USING (session_file)
LEFT JOIN last_event e USING (session_file)
LEFT JOIN (SELECT DISTINCT tool_use_id FROM usage_tool_results WHERE tool_use_id IN (SELECT event_id FROM last_event)) r
  ON r.tool_use_id = e.event_id
${modelWhere}
ORDER BY f.last_ts DESC, f.session_file`,
    fp,
  );
  return rows.map((r) => ({
    session_file: String(r.session_file),
    owner: String(r.owner),
    session_id: str(r.session_id),
    subagent: r.subagent === true,
    model: str(r.model),
    first_ts: iso(r.first_ts),
    last_ts: iso(r.last_ts),
    ...tokensOf(r),
    running_tool: str(r.running_tool),
    running_since: iso(r.running_since),
  }));
}

// ------------------------------------------------------------------ session list

export const SESSION_SORTS = [
  'last_ts',
  'first_ts',
  'session',
  'owner',
  'messages',
  'tool_calls',
  'tool_errors',
  'input_tokens',
  'output_tokens',
  'cache_creation_tokens',
  'cache_read_tokens',
  'cost_usd',
] as const;
export type SessionSort = (typeof SESSION_SORTS)[number];

export interface SessionListQuery extends ReportFilter {
  model?: string;
  /** Case-insensitive substring of the session key, working directory or git branch. */
  search?: string;
  sort: SessionSort;
  desc: boolean;
  limit: number;
  offset: number;
}

export interface SessionRow extends Tokens {
  session: string;
  owner: string;
  session_id: string;
  first_ts: string | null;
  last_ts: string | null;
  models: string[];
  tool_calls: number;
  tool_errors: number;
  files: number;
  cwd: string | null;
  git_branch: string | null;
}

export interface SessionList {
  total: number;
  rows: SessionRow[];
}

/** Sessions from `usage_sessions`, filtered on their last line. */
export async function sessionList(db: Reader, q: SessionListQuery): Promise<SessionList> {
  const kind = kindOf(db);
  const src = await sourcesOf(db);
  const params: (string | number)[] = [];
  const add = (v: string | number) => {
    params.push(v);
    return `$${params.length}`;
  };
  const where: string[] = [];
  // Sessions whose last line falls in the range (a day bound is its local midnight in the zone).
  const r = whenRange(q.since, q.until, q.tz);
  if (r.since !== undefined) where.push(`last_ts >= ${tsFromEpochMs(kind, `CAST(${add(r.since)} AS BIGINT)`)}`);
  if (r.until !== undefined) where.push(`last_ts < ${tsFromEpochMs(kind, `CAST(${add(r.until)} AS BIGINT)`)}`);
  if (q.owner) where.push(`owner = ${add(q.owner)}`);
  if (q.model) where.push(`session IN (${sessionsWithModelSql(`CAST(${add(q.model)} AS VARCHAR)`, src)})`);
  if (q.search) {
    const p = add(`%${q.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    where.push(`(session ILIKE ${p} ESCAPE '\\' OR coalesce(cwd, '') ILIKE ${p} ESCAPE '\\' OR coalesce(git_branch, '') ILIKE ${p} ESCAPE '\\')`);
  }
  const sort = (SESSION_SORTS as readonly string[]).includes(q.sort) ? q.sort : 'last_ts';
  const order = `ORDER BY ${sort} ${q.desc ? 'DESC' : 'ASC'} NULLS LAST, session`;
  // usage_sessions' rows (one definition: views.ts) in two steps: the page's sessions from the
  // columns the filter and the sort read (DuckDB then leaves the other sums out: 1,000,000
  // messages, one thread, 470 -> 205 ms), then every column and the model lists for the page only.
  // The page's owners and session ids, each as a plain IN (an EXISTS on both became a delim join
  // per source, 30-80 ms each): a superset of the page's sessions, which the JOIN below cuts to it.
  const inPage = (a: string) =>
    `${a}.owner IN (SELECT owner FROM page) AND (${a}.session_id IN (SELECT session_id FROM page) OR (${a}.session_id IS NULL AND EXISTS (SELECT 1 FROM page WHERE session_id IS NULL)))`;
  const pageCols = [...new Set(['session', 'owner', 'session_id', 'last_ts', sort, ...(q.search ? ['cwd', 'git_branch'] : [])])];
  const rows = await db.all<Record<string, unknown>>(
    `WITH page AS (
  SELECT ${pageCols.join(', ')}, count(*) OVER () AS total FROM (${sessionsSql(kind, { columns: pageCols, src })}) s
  ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
  ${order}
  LIMIT ${Math.max(1, Math.min(1000, Math.trunc(q.limit)))} OFFSET ${Math.max(0, Math.trunc(q.offset))}
)
SELECT s.*, p.total, coalesce(l.models, ${NO_STRINGS}) AS models
FROM (${sessionsSql(kind, { columns: SESSION_COLUMN_NAMES.filter((c) => c !== 'models' && c !== 'unpriced_models'), within: inPage, src })}) s
JOIN page p ON p.owner = s.owner AND p.session_id IS NOT DISTINCT FROM s.session_id
LEFT JOIN (${sessionListsSql(kind, inPage('r'), src)}) l ON l.owner = s.owner AND l.session_id IS NOT DISTINCT FROM s.session_id
ORDER BY s.${sort} ${q.desc ? 'DESC' : 'ASC'} NULLS LAST, s.session`,
    params,
  );
  return {
    total: rows.length ? num(rows[0].total) : 0,
    rows: rows.map((r) => ({
      session: String(r.session),
      owner: String(r.owner),
      session_id: String(r.session_id),
      first_ts: iso(r.first_ts),
      last_ts: iso(r.last_ts),
      models: strings(r.models),
      ...tokensOf(r),
      tool_calls: num(r.tool_calls),
      tool_errors: num(r.tool_errors),
      files: num(r.files),
      cwd: str(r.cwd),
      git_branch: str(r.git_branch),
    })),
  };
}

// ------------------------------------------------------------------ one session

export interface SessionFileRow {
  session_file: string;
  subagent: boolean;
  first_ts: string | null;
  last_ts: string | null;
  lines: number;
}

export interface TimelineMessage {
  ts: string | null;
  session_file: string;
  model: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
  cost_usd: number | null;
}

export interface TimelineEvent {
  ts: string | null;
  session_file: string;
  kind: string;
  name: string | null;
  /** null: no result seen (yet), or a slash command. */
  is_error: boolean | null;
}

export interface SessionDetail {
  session: string;
  files: SessionFileRow[];
  totals: Tokens & { tool_calls: number; tool_errors: number };
  messages: TimelineMessage[];
  events: TimelineEvent[];
  /** True when the timeline was cut at `limit` messages or events. */
  truncated: boolean;
}

/** `owner/<session id>.jsonl` (the key `usage_sessions` and `--by session` use) into its parts. */
export function parseSessionKey(key: string): { owner: string; sessionId: string } | null {
  const m = /^(.+)\/([^/]+)\.jsonl$/.exec(key);
  return m ? { owner: m[1], sessionId: m[2] } : null;
}

/**
 * One session's files, messages (each counted once within the session, the
 * copy with the most tokens, as the dedup view picks) and tool calls.
 */
export async function sessionDetail(db: Reader, key: string, limit = 5_000): Promise<SessionDetail | null> {
  const k = parseSessionKey(key);
  if (!k) return null;
  const p = [k.owner, k.sessionId];
  const files = await db.all<Record<string, unknown>>(
    `SELECT session_file, subagent, first_ts, last_ts, lines FROM usage_files WHERE owner = $1 AND session_id = $2 ORDER BY subagent, first_ts NULLS LAST, session_file`,
    p,
  );
  if (files.length === 0) return null;
  const kind = kindOf(db);
  const fp = files.map((f) => String(f.session_file));
  const inFiles = namedFiles(fp.length);
  // Each message once within the session: the copy the dedup view picks.
  const picked = `SELECT *, row_number() OVER (PARTITION BY message_key ORDER BY total_tokens DESC, ts ASC NULLS LAST, session_file) AS pick
  FROM usage_messages_priced WHERE ${inFiles}`;
  const messages = await db.all<Record<string, unknown>>(
    `SELECT ts, session_file, model, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd
FROM (${picked}) d WHERE pick = 1
ORDER BY ts NULLS LAST, session_file, line_offset
LIMIT ${limit + 1}`,
    fp,
  );
  const events = await db.all<Record<string, unknown>>(
    `SELECT ts, session_file, kind, name, is_error FROM (
  SELECT e.ts, e.session_file, e.kind, e.name, e.line_offset, CASE WHEN e.kind = 'command' THEN NULL ELSE r.is_error END AS is_error,
    row_number() OVER (PARTITION BY e.event_id ORDER BY e.ts ASC NULLS LAST, e.session_file) AS pick
  FROM usage_events e
  LEFT JOIN (SELECT tool_use_id, bool_or(is_error) AS is_error FROM usage_tool_results WHERE ${inFiles} GROUP BY tool_use_id) r
    ON r.tool_use_id = e.event_id
  WHERE e.${inFiles}) d
WHERE pick = 1
ORDER BY ts NULLS LAST, session_file, line_offset
LIMIT ${limit + 1}`,
    fp,
  );
  const totals = await db.all<Record<string, unknown>>(`SELECT ${tokens(kind)} FROM (${picked}) d WHERE pick = 1`, fp);
  const shownEvents = events.slice(0, limit).map((r) => ({
    ts: iso(r.ts),
    session_file: String(r.session_file),
    kind: String(r.kind),
    name: str(r.name),
    is_error: r.is_error === null || r.is_error === undefined ? null : r.is_error === true,
  }));
  return {
    session: key,
    files: files.map((r) => ({
      session_file: String(r.session_file),
      subagent: r.subagent === true,
      first_ts: iso(r.first_ts),
      last_ts: iso(r.last_ts),
      lines: num(r.lines),
    })),
    totals: {
      ...tokensOf(totals[0] ?? {}),
      tool_calls: shownEvents.filter((e) => e.kind !== 'command').length,
      tool_errors: shownEvents.filter((e) => e.is_error === true).length,
    },
    messages: messages.slice(0, limit).map((r) => ({
      ts: iso(r.ts),
      session_file: String(r.session_file),
      model: str(r.model),
      input_tokens: num(r.input_tokens),
      output_tokens: num(r.output_tokens),
      cache_creation_tokens: num(r.cache_creation_tokens),
      cache_read_tokens: num(r.cache_read_tokens),
      cost_usd: micro(r.cost_usd),
    })),
    events: shownEvents,
    truncated: messages.length > limit || events.length > limit,
  };
}
