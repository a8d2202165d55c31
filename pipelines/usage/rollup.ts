/**
 * Message sums kept as data: `usage_rollup`, the folded message picks (picks.ts) summed per
 * group of a UTC 15-minute bucket, owner, session, model and synthetic flag, priced at the
 * active price version. The grouped usage reports and `usage_sessions` read it instead of one
 * row per message: at 1,000,000 messages (one DuckDB thread) pricing every row cost ~200 ms and
 * the per-day breakdown 1.7-1.9 s a load, which the dashboard pays on every commit.
 *
 * Exact, at every commit, as the dedup views are. The rollup is the sum of the picks as of the
 * last fold; a commit since then only noted keys (usage_dirty_keys). So `usage_rollup_current`
 * reads the rollup, minus the noted keys' picks, plus the rule over the noted keys' rows
 * (`dirtyMessages`). Every sum subtracts exactly: counts and token sums are integers, costs the
 * 12-decimal fixed-point terms of `costSum` (cost-sql.ts). Whether a group has an unpriced
 * message is a count too (`n` - `n_priced`), and whether it has any message (`n`), so a reader
 * that sums per group sees the groups the per-message path sees.
 *
 * Kept by the fold, in the same transaction as the picks (fold.ts): the noted keys' old picks
 * go into `usage_rollup_delta` negated before the picks are recomputed and their new picks
 * after, then the groups they touch are summed again. A fold that recomputes every pick
 * rebuilds the rollup. Prices: every row is priced at `price_version`, the active version; an
 * activation that changes what the active version prices (price-versions.ts) rebuilds it.
 */
import type { StoreKind } from '../../src/state/dialect.js';
import { quarterHourOf } from '../../src/state/dialect.js';
import { quoteIdent } from '../../src/state/table.js';
import { costFixed, costFixedType } from './cost-sql.js';
import { dirtyMessages, MESSAGE_PICKS, notedPicks, pricedPicks } from './picks.js';

export const ROLLUP = 'usage_rollup';
export const ROLLUP_DELTA = 'usage_rollup_delta';
export const ROLLUP_CURRENT = 'usage_rollup_current';

/** A group: the UTC 15-minute bucket of the message's first sighting (`ts` of the dedup view), owner, session, model, synthetic. */
const GROUP: readonly (readonly [string, string])[] = [
  ['b', 'TIMESTAMP'],
  ['owner', 'VARCHAR'],
  ['session_id', 'VARCHAR'],
  ['model', 'VARCHAR'],
  ['synthetic', 'BOOLEAN'],
];
export const TOKEN_COLUMNS = [
  'input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_creation_5m_tokens', 'cache_creation_1h_tokens',
  'cache_read_tokens', 'total_tokens',
] as const;
/** The additive figures of a group: messages, priced messages, token sums and the fixed-point cost sum. */
const COUNTS = ['n', 'n_priced', ...TOKEN_COLUMNS] as const;
const GROUP_NAMES = GROUP.map(([c]) => c);
const FIGURES = [...COUNTS, 'cost_fixed'];

function tableSql(kind: StoreKind, name: string, withVersion: boolean): string {
  const text = (c: string) => `${quoteIdent(c)} VARCHAR${kind === 'postgres' ? ' COLLATE "C"' : ''}`;
  const cols = [
    `${text('gk')} NOT NULL`,
    ...GROUP.map(([c, t]) => (t === 'VARCHAR' ? text(c) : `${quoteIdent(c)} ${t}`)),
    ...COUNTS.map((c) => `${quoteIdent(c)} BIGINT NOT NULL`),
    `cost_fixed ${costFixedType(kind)}`,
    ...(withVersion ? ['price_version INTEGER'] : []),
  ];
  return `CREATE TABLE IF NOT EXISTS ${name} (${cols.join(', ')})`;
}

/**
 * The rollup and its fold's scratch table. No primary key: a fold deletes and inserts the groups
 * it touches set-wise, and reads join on `gk` with a hash join (an index would only cost inserts).
 */
export const rollupDdl = (kind: StoreKind): string[] => [tableSql(kind, ROLLUP, true), tableSql(kind, ROLLUP_DELTA, false)];

/**
 * A group as one text, NULL-safe and unambiguous (each part length-prefixed): an equality join
 * on it hashes in both stores, where IS NOT DISTINCT FROM over five columns does not in PostgreSQL.
 */
function groupKey(kind: StoreKind): string {
  const len = kind === 'postgres' ? 'octet_length' : 'strlen';
  const part = (e: string) => `coalesce(CAST(${len}(${e}) AS VARCHAR) || ':' || ${e}, '-')`;
  return GROUP_NAMES.map((c) => part(`CAST(${c} AS VARCHAR)`)).join(` || '/' || `);
}

/** Rows of usage_messages_dedup's shape (`rows`, a query) summed per group, times `sign`. */
function grouped(kind: StoreKind, rows: string, sign: 1 | -1): string {
  const s = sign === 1 ? '' : '-';
  return `SELECT ${groupKey(kind)} AS gk, ${GROUP_NAMES.join(', ')},
  ${s}count(*) AS n, ${s}count(cost_usd) AS n_priced,
  ${TOKEN_COLUMNS.map((c) => `${s}coalesce(sum(${c}), 0) AS ${c}`).join(', ')},
  ${s}sum(${costFixed(kind, 'cost_usd')}) AS cost_fixed
FROM (SELECT ${quarterHourOf(kind, 'ts')} AS b, owner, session_id, model, synthetic, ${TOKEN_COLUMNS.join(', ')}, cost_usd
  FROM (${rows}) r) g
GROUP BY ${GROUP_NAMES.join(', ')}`;
}

const ACTIVE = '(SELECT price_version FROM usage_price_active)';
const cols = ['gk', ...GROUP_NAMES, ...FIGURES];

/** Sums of groups' rows (`from`, of the rollup's columns) per group; groups netted to no message dropped. */
const netted = (from: string) => `SELECT gk, ${GROUP_NAMES.join(', ')}, ${COUNTS.map((c) => `sum(${c}) AS ${c}`).join(', ')}, sum(cost_fixed) AS cost_fixed
FROM (${from}) x
GROUP BY gk, ${GROUP_NAMES.join(', ')}
HAVING sum(n) <> 0`;

/** Every pick summed again: a migration's backfill, a fold of every key, an activation that reprices. */
export function rollupRebuildSql(kind: StoreKind): string[] {
  return [
    `DELETE FROM ${ROLLUP}`,
    `INSERT INTO ${ROLLUP} (${cols.join(', ')}, price_version)
SELECT ${cols.join(', ')}, ${ACTIVE} FROM (${grouped(kind, pricedPicks(`${MESSAGE_PICKS} c`), 1)}) s`,
  ];
}

/**
 * The fold's statements around the message picks' recompute (fold.ts): `before` subtracts the
 * noted keys' old picks, `after` adds their new ones and sums the touched groups again.
 */
export function rollupFoldSql(kind: StoreKind, all: boolean): { before: string[]; after: string[] } {
  if (all) return { before: [], after: rollupRebuildSql(kind) };
  const delta = (sign: 1 | -1) => `INSERT INTO ${ROLLUP_DELTA} (${cols.join(', ')})\n${grouped(kind, pricedPicks(notedPicks('c')), sign)}`;
  const touched = `gk IN (SELECT gk FROM ${ROLLUP_DELTA})`;
  return {
    before: [delta(-1)],
    after: [
      delta(1),
      `INSERT INTO ${ROLLUP_DELTA} (${cols.join(', ')}) SELECT ${cols.join(', ')} FROM ${ROLLUP} WHERE ${touched}`,
      `DELETE FROM ${ROLLUP} WHERE ${touched}`,
      `INSERT INTO ${ROLLUP} (${cols.join(', ')}, price_version) SELECT ${cols.join(', ')}, ${ACTIVE} FROM (${netted(`SELECT * FROM ${ROLLUP_DELTA}`)}) s`,
      `DELETE FROM ${ROLLUP_DELTA}`,
    ],
  };
}

/**
 * The rollup now: its rows, and the noted keys' change since the fold as rows of the same
 * columns, signed (their picks' sums negated, the sums of the rule over their rows). A group may
 * so appear more than once, with negative figures: readers sum rows per group before they look
 * at one (a group whose `n` sums to 0 holds no message; one whose `n` sums above `n_priced` holds
 * an unpriced one). Unnetted, so a read pays no join of the rollup against the change (at
 * 1,000,000 messages the anti-join alone cost 0.15-0.2 s with no key noted).
 * Columns: the group's, `n`, `n_priced`, the token sums and `cost_fixed`.
 */
export function rollupCurrentView(kind: StoreKind): string {
  const out = [...GROUP_NAMES, ...FIGURES].join(', ');
  return `CREATE OR REPLACE VIEW ${ROLLUP_CURRENT} AS
SELECT ${out} FROM ${ROLLUP}
UNION ALL
SELECT ${out} FROM (${grouped(kind, pricedPicks(notedPicks('c')), -1)}) o
UNION ALL
SELECT ${out} FROM (${grouped(kind, dirtyMessages(kind), 1)}) w`;
}
