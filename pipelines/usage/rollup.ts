/**
 * Message sums kept as data: the folded message picks (picks.ts) summed per group, priced at the
 * active price version, in two grains:
 * - `usage_rollup`: per UTC 15-minute bucket, owner, session, model and synthetic flag. The
 *   grouped usage reports and `usage_sessions` read it instead of one row per message: at
 *   1,000,000 messages (one DuckDB thread) pricing every row cost ~200 ms and the per-day
 *   breakdown 1.7-1.9 s a load, which the dashboard pays on every commit.
 * - `usage_rollup_time`: per bucket, model and synthetic flag only, for the time and model
 *   reports of the whole root (the dashboard's default). The benchmark's 50 owners made the
 *   first 413,280 rows, where this one has 34,568: its per-day breakdown 205-225 ms -> ~25 ms.
 * - `usage_rollup_owner`: per owner, model and synthetic flag, for owner and model reports over
 *   all time (200 rows).
 * - `usage_rollup_session`: per owner, session, model and synthetic flag: `usage_sessions` and
 *   `--by session` over all time (200,000 rows; summing the first per session cost 150 ms).
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
 * go into the rollup's delta table negated before the picks are recomputed and their new picks
 * after, then the groups they touch are summed again. A fold that recomputes every pick
 * rebuilds the rollup. Prices: every row is priced at `price_version`, the active version; an
 * activation that changes what the active version prices (price-versions.ts) rebuilds it.
 */
import type { StoreKind } from '../../src/state/dialect.js';
import { quarterHourOf } from '../../src/state/dialect.js';
import { quoteIdent } from '../../src/state/table.js';
import { costFixed, costFixedType } from './cost-sql.js';
import { dirtyMessages, MESSAGE_PICKS, notedPicks, pricedPicks } from './picks.js';

/** A rollup: its table, its fold's scratch table, the view of it now, and its grain. */
export interface Rollup {
  readonly table: string;
  readonly delta: string;
  readonly current: string;
  /** The group's columns, of the dedup view's rows (`b`: the UTC 15-minute bucket of `ts`). */
  readonly group: readonly (readonly [string, string])[];
}

const B = ['b', 'TIMESTAMP'] as const;
const OWNER = ['owner', 'VARCHAR'] as const;
const SESSION_ID = ['session_id', 'VARCHAR'] as const;
const MODEL = ['model', 'VARCHAR'] as const;
const SYNTHETIC = ['synthetic', 'BOOLEAN'] as const;

export const ROLLUP: Rollup = {
  table: 'usage_rollup',
  delta: 'usage_rollup_delta',
  current: 'usage_rollup_current',
  group: [B, OWNER, SESSION_ID, MODEL, SYNTHETIC],
};
export const TIME_ROLLUP: Rollup = {
  table: 'usage_rollup_time',
  delta: 'usage_rollup_time_delta',
  current: 'usage_rollup_time_current',
  group: [B, MODEL, SYNTHETIC],
};
export const OWNER_ROLLUP: Rollup = {
  table: 'usage_rollup_owner',
  delta: 'usage_rollup_owner_delta',
  current: 'usage_rollup_owner_current',
  group: [OWNER, MODEL, SYNTHETIC],
};
export const SESSION_ROLLUP: Rollup = {
  table: 'usage_rollup_session',
  delta: 'usage_rollup_session_delta',
  current: 'usage_rollup_session_current',
  group: [OWNER, SESSION_ID, MODEL, SYNTHETIC],
};
/**
 * Smallest first (1,000,000 benchmark messages: 200, 34,568, 200,000 and 413,280 rows): a report
 * reads the first that has its grain. Each grain is a subset of the first rollup's (ROLLUP), so
 * the others are summed from it and from its fold's delta.
 */
export const ROLLUPS: readonly Rollup[] = [OWNER_ROLLUP, TIME_ROLLUP, SESSION_ROLLUP, ROLLUP];
const COARSE = ROLLUPS.filter((r) => r !== ROLLUP);

/** The smallest rollup whose groups carry every column of `needs`. */
export const rollupWith = (needs: readonly string[]): Rollup => ROLLUPS.find((r) => needs.every((c) => r.group.some(([g]) => g === c))) ?? ROLLUP;

export const TOKEN_COLUMNS = [
  'input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_creation_5m_tokens', 'cache_creation_1h_tokens',
  'cache_read_tokens', 'total_tokens',
] as const;
/** The additive figures of a group: messages, priced messages, token sums and the fixed-point cost sum. */
const COUNTS = ['n', 'n_priced', ...TOKEN_COLUMNS] as const;
const FIGURES = [...COUNTS, 'cost_fixed'];
const names = (r: Rollup) => r.group.map(([c]) => c);
const cols = (r: Rollup) => ['gk', ...names(r), ...FIGURES];

function tableSql(kind: StoreKind, r: Rollup, name: string, withVersion: boolean): string {
  const text = (c: string) => `${quoteIdent(c)} VARCHAR${kind === 'postgres' ? ' COLLATE "C"' : ''}`;
  const columns = [
    `${text('gk')} NOT NULL`,
    ...r.group.map(([c, t]) => (t === 'VARCHAR' ? text(c) : `${quoteIdent(c)} ${t}`)),
    ...COUNTS.map((c) => `${quoteIdent(c)} BIGINT NOT NULL`),
    `cost_fixed ${costFixedType(kind)}`,
    ...(withVersion ? ['price_version INTEGER'] : []),
  ];
  return `CREATE TABLE IF NOT EXISTS ${name} (${columns.join(', ')})`;
}

/**
 * The rollups' tables and their folds' scratch tables. No primary key: a fold deletes and
 * inserts the groups it touches set-wise, joining on `gk` with a hash join (an index would only
 * cost inserts).
 */
export const rollupDdl = (kind: StoreKind): string[] => ROLLUPS.flatMap((r) => [tableSql(kind, r, r.table, true), tableSql(kind, r, r.delta, false)]);

/**
 * A group as one text, NULL-safe and unambiguous (each part length-prefixed): an equality join
 * on it hashes in both stores, where IS NOT DISTINCT FROM over five columns does not in PostgreSQL.
 */
function groupKey(kind: StoreKind, r: Rollup): string {
  const len = kind === 'postgres' ? 'octet_length' : 'strlen';
  const part = (e: string) => `coalesce(CAST(${len}(${e}) AS VARCHAR) || ':' || ${e}, '-')`;
  return names(r).map((c) => part(`CAST(${c} AS VARCHAR)`)).join(` || '/' || `);
}

/** Rows of usage_messages_dedup's shape (`rows`, a query) summed per group of `r`, times `sign`. */
function grouped(kind: StoreKind, r: Rollup, rows: string, sign: 1 | -1): string {
  const s = sign === 1 ? '' : '-';
  return `SELECT ${groupKey(kind, r)} AS gk, ${names(r).join(', ')},
  ${s}count(*) AS n, ${s}count(cost_usd) AS n_priced,
  ${TOKEN_COLUMNS.map((c) => `${s}coalesce(sum(${c}), 0) AS ${c}`).join(', ')},
  ${s}sum(${costFixed(kind, 'cost_usd')}) AS cost_fixed
FROM (SELECT ${quarterHourOf(kind, 'ts')} AS b, owner, session_id, model, synthetic, ${TOKEN_COLUMNS.join(', ')}, cost_usd
  FROM (${rows}) r) g
GROUP BY ${names(r).join(', ')}`;
}

const ACTIVE = '(SELECT price_version FROM usage_price_active)';

/**
 * Rows of a rollup's columns (`from`, signed or not) summed per group of `r`: ROLLUP's delta into
 * a coarser grain, or a rollup's rows and its delta netted (`netOut`: groups netted to no
 * message dropped).
 */
const summed = (kind: StoreKind, r: Rollup, from: string, netOut: boolean) =>
  `SELECT ${groupKey(kind, r)} AS gk, ${names(r).join(', ')}, ${COUNTS.map((c) => `sum(${c}) AS ${c}`).join(', ')}, sum(cost_fixed) AS cost_fixed
FROM ${from} GROUP BY ${names(r).join(', ')}${netOut ? '\nHAVING sum(n) <> 0' : ''}`;

/**
 * How a reader sums a current rollup's rows per group (its rows repeat, signed, while keys are
 * noted): the group holds a message, its cost (NULL when none is priced), whether it holds an
 * unpriced message, and whether a message that is not <synthetic>.
 */
export const GROUP_READS = {
  present: 'sum(n) > 0',
  cost: 'CASE WHEN sum(n_priced) > 0 THEN sum(cost_fixed) END',
  anyUnpriced: 'sum(n) > sum(n_priced)',
  anyReal: 'sum(CASE WHEN synthetic THEN 0 ELSE n END) > 0',
} as const;

/**
 * Every pick summed again into every rollup: a migration's backfill, a fold of every key, an
 * activation that reprices. The picks once, into ROLLUP; the coarser grains from it.
 */
export function rollupRebuildSql(kind: StoreKind): string[] {
  return [
    ...ROLLUPS.map((r) => `DELETE FROM ${r.table}`),
    `INSERT INTO ${ROLLUP.table} (${cols(ROLLUP).join(', ')}, price_version)
SELECT ${cols(ROLLUP).join(', ')}, ${ACTIVE} FROM (${grouped(kind, ROLLUP, pricedPicks(`${MESSAGE_PICKS} c`), 1)}) s`,
    ...COARSE.map(
      (r) => `INSERT INTO ${r.table} (${cols(r).join(', ')}, price_version)
SELECT ${cols(r).join(', ')}, ${ACTIVE} FROM (${summed(kind, r, ROLLUP.table, false)}) s`,
    ),
  ];
}

/**
 * The fold's statements around the message picks' recompute (fold.ts): `before` subtracts the
 * noted keys' old picks, `after` adds their new ones, sums ROLLUP's delta into the coarser
 * rollups' deltas, and sums each rollup's touched groups again.
 */
export function rollupFoldSql(kind: StoreKind, all: boolean): { before: string[]; after: string[] } {
  if (all) return { before: [], after: rollupRebuildSql(kind) };
  const delta = (sign: 1 | -1) => `INSERT INTO ${ROLLUP.delta} (${cols(ROLLUP).join(', ')})\n${grouped(kind, ROLLUP, pricedPicks(notedPicks('c')), sign)}`;
  return {
    before: [delta(-1)],
    after: [
      delta(1),
      ...COARSE.map((r) => `INSERT INTO ${r.delta} (${cols(r).join(', ')})\n${summed(kind, r, ROLLUP.delta, false)}`),
      ...ROLLUPS.flatMap((r) => {
        const touched = `gk IN (SELECT gk FROM ${r.delta})`;
        const c = cols(r).join(', ');
        return [
          `INSERT INTO ${r.delta} (${c}) SELECT ${c} FROM ${r.table} WHERE ${touched}`,
          `DELETE FROM ${r.table} WHERE ${touched}`,
          `INSERT INTO ${r.table} (${c}, price_version) SELECT ${c}, ${ACTIVE} FROM (${summed(kind, r, r.delta, true)}) s`,
        ];
      }),
      ...ROLLUPS.map((r) => `DELETE FROM ${r.delta}`),
    ],
  };
}

/**
 * A rollup now: its rows, and the noted keys' change since the fold as rows of the same
 * columns, signed (their picks' sums negated, the sums of the rule over their rows). A group may
 * so appear more than once, with negative figures: readers sum rows per group before they look
 * at one (a group whose `n` sums to 0 holds no message; one whose `n` sums above `n_priced` holds
 * an unpriced one). Unnetted, so a read pays no join of the rollup against the change (at
 * 1,000,000 messages the anti-join alone cost 0.15-0.2 s with no key noted).
 * Columns: the group's, `n`, `n_priced`, the token sums and `cost_fixed`.
 */
export function rollupCurrentView(kind: StoreKind, r: Rollup): string {
  const out = [...names(r), ...FIGURES].join(', ');
  return `CREATE OR REPLACE VIEW ${r.current} AS
SELECT ${out} FROM ${r.table}
UNION ALL
SELECT ${out} FROM (${grouped(kind, r, pricedPicks(notedPicks('c')), -1)}) o
UNION ALL
SELECT ${out} FROM (${grouped(kind, r, dirtyMessages(kind), 1)}) w`;
}

/** The rollups' views. */
export const rollupViews = (kind: StoreKind): string[] => ROLLUPS.map((r) => rollupCurrentView(kind, r));
