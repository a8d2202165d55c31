/**
 * The cross-file dedup, kept as data. A message (one API call, by message key) can be in
 * several session files: a resumed or forked session copies its history, a subagent file
 * repeats its parent's lines. `usage_messages` keeps one row per (file, message);
 * `usage_message_picks` keeps one row per message:
 * - `session_file`: the copy that counts, the largest token total, then the earliest
 *   timestamp (NULLs last), then the file name;
 * - `first_file`, `first_owner`, `first_ts`, `first_session_id`: where the message
 *   appeared first, by timestamp (NULLs last), ties by file name; the message is
 *   attributed there (the session from `usage_files`: a file whose session id changes
 *   has its keys noted, `NOTE_FILE_KEYS`);
 * - `copies`: in how many files it is;
 * - the counting copy's columns (tokens, model, ...), so reading the dedup reads one table.
 *
 * This was a view (window functions over every message on every query): `count(*)` over it
 * took 2.0-5.1 s at 1,000,000 messages, against 27-66 ms over the plain table, and every
 * report reads it. Now the usage processor keeps it in the commit transaction
 * (`afterLoad`): the message keys a commit touched (its staged rows, and the rows a
 * retraction deleted, noted in `usage_message_touched` before the delete) have their picks
 * recomputed set-wise from `usage_messages`. `recomputePicks` is the one definition, for
 * the migration's backfill (every key) and each commit (the touched keys).
 *
 * Prices are not here: `usage_messages_dedup` (views.ts) joins the pick to the priced
 * message, so a new price version reprices every message still at read time.
 */
import { createTableSql, type AfterLoadContext, type OutputTable } from '../../src/pipeline/processor.js';
import { firstRowsSql, type StoreKind } from '../../src/state/dialect.js';
import { FILES, MESSAGES } from './tables.js';

export const PICKS = 'usage_message_picks';

/** The columns of the counting copy a pick holds (all of usage_messages' that the dedup view shows). */
const COPY_COLUMNS = [
  'message_id', 'request_id', 'model', 'speed', 'input_tokens', 'output_tokens', 'cache_creation_tokens',
  'cache_creation_5m_tokens', 'cache_creation_1h_tokens', 'cache_read_tokens', 'total_tokens', 'synthetic', 'long_context',
] as const;
export const TOUCHED = 'usage_message_touched';

const PICK_COLUMNS = ['message_key', 'session_file', 'first_file', 'first_owner', 'first_ts', 'first_session_id', 'copies', ...COPY_COLUMNS];

/** Not an output table: no row is staged into it, the commit recomputes it (`afterLoad`). */
export const PICKS_TABLE: OutputTable = {
  name: PICKS,
  columns: [
    { name: 'message_key', type: 'VARCHAR' },
    { name: 'session_file', type: 'VARCHAR', notNull: true },
    { name: 'first_file', type: 'VARCHAR', notNull: true },
    { name: 'first_owner', type: 'VARCHAR' },
    { name: 'first_ts', type: 'TIMESTAMP' },
    { name: 'first_session_id', type: 'VARCHAR' },
    { name: 'copies', type: 'BIGINT', notNull: true },
    // The counting copy's own columns (usage_messages'), so the view reads no other table of rows.
    ...COPY_COLUMNS.map((name) => MESSAGES.columns.find((c) => c.name === name)!),
  ],
  key: ['message_key'],
};

/** The tables, in a store's dialect (PostgreSQL's text in the "C" collation, as every table's: state/table.ts). */
export function picksDdl(kind: StoreKind): string[] {
  return [
    createTableSql(PICKS_TABLE, kind),
    // No key: a commit notes a key once per retracted file, and duplicates cost less than conflicts
    // (on a shared PostgreSQL store, two nodes noting one key would wait on each other's index entry).
    `CREATE TABLE IF NOT EXISTS ${TOUCHED} (message_key VARCHAR NOT NULL)`,
  ];
}

/**
 * Recompute the picks of the message keys selected by `keys` (a query of one `message_key`
 * column), or of every message when `keys` is null: delete them, insert them again from
 * `usage_messages`. A key with no message left keeps no pick.
 */
export function recomputePicks(kind: StoreKind, keys: string | null): string[] {
  const within = keys === null ? '' : ` WHERE message_key IN (${keys})`;
  const pick = firstRowsSql(kind, {
    columns: PICK_COLUMNS,
    select: `m.message_key, m.session_file,
  first_value(m.session_file) OVER first_seen AS first_file,
  first_value(m.owner) OVER first_seen AS first_owner,
  first_value(m.ts) OVER first_seen AS first_ts,
  first_value(f.session_id) OVER first_seen AS first_session_id,
  count(*) OVER (PARTITION BY m.message_key) AS copies,
  ${COPY_COLUMNS.map((c) => `m.${c}`).join(', ')}`,
    from: `FROM (SELECT * FROM ${MESSAGES.name}${within}) m
LEFT JOIN ${FILES.name} f ON f.session_file = m.session_file
WINDOW first_seen AS (
  PARTITION BY m.message_key ORDER BY m.ts ASC NULLS LAST, m.session_file
  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)`,
    rowNumber: `row_number() OVER (
  PARTITION BY m.message_key ORDER BY m.total_tokens DESC, m.ts ASC NULLS LAST, m.session_file)`,
  });
  return [
    keys === null ? `DELETE FROM ${PICKS}` : `DELETE FROM ${PICKS}${within}`,
    `INSERT INTO ${PICKS} (${PICK_COLUMNS.join(', ')})\n${pick}`,
  ];
}

/**
 * Note the keys of a file's stored messages, for `picksAfterLoad` to recompute: run by a
 * retraction before it deletes them, and by a batch that changes the file's session id (a
 * flat subagent file learns its parent's from a line), whose earlier picks name the old one.
 */
export const NOTE_FILE_KEYS = `INSERT INTO ${TOUCHED} SELECT DISTINCT message_key FROM ${MESSAGES.name} WHERE session_file = $1`;

/**
 * The usage processor's `afterLoad`: the picks of every key the group touched, recomputed
 * after its rows are in `usage_messages` and its retractions are done.
 *
 * PostgreSQL, a store several nodes write: one group's recompute at a time (an advisory
 * lock held to the commit), so each recompute's statements, read-committed, see every
 * message the previous one committed; two nodes recomputing one key at once would each
 * miss the other's copy.
 */
export function picksAfterLoad(ctx: AfterLoadContext): string[] {
  const keys = `SELECT message_key FROM ${ctx.stage(MESSAGES.name)} UNION SELECT message_key FROM ${TOUCHED}`;
  return [
    ...(ctx.kind === 'postgres' ? ["SELECT pg_advisory_xact_lock(hashtext('session-pipeline usage picks'))"] : []),
    ...recomputePicks(ctx.kind, keys),
    `DELETE FROM ${TOUCHED}`,
  ];
}

/**
 * Each commit's recompute reads the copies of its keys from every file: without an index on
 * `message_key` that is a scan of all of usage_messages, 0.4-1.6 s for 20 keys at 1M messages
 * (load 15), with it 4-11 ms. (DuckDB refuses ALTER TABLE on an indexed table: a later
 * migration that alters usage_messages drops it first.)
 */
export const MESSAGE_KEY_INDEX = `CREATE INDEX IF NOT EXISTS usage_messages_by_key ON ${MESSAGES.name} (message_key)`;

/** The migration that turns the dedup view into the picks table: create, backfill every key. */
export function picksMigration(kind: StoreKind): string[] {
  return [...picksDdl(kind), ...recomputePicks(kind, null), `DELETE FROM ${TOUCHED}`];
}
