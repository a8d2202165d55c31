/**
 * A message's cost in SQL, once: the price joins, the cost expression and its exact sum. The
 * views (views.ts) price at read time with them, and the rollup (rollup.ts) prices its sums
 * with the same text, so both give the same doubles.
 */
import type { StoreKind } from '../../src/state/dialect.js';

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
export function costFixed(kind: StoreKind, expr: string): string {
  return kind === 'postgres' ? `CAST(CAST(${expr} AS TEXT) AS NUMERIC(38, 12))` : `CAST(${expr} AS DECIMAL(38, 12))`;
}

/** The fixed-point type `costFixed` gives, for a column that keeps such sums. */
export const costFixedType = (kind: StoreKind) => (kind === 'postgres' ? 'NUMERIC(38, 12)' : 'DECIMAL(38, 12)');

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

/** The joins that give message `m` its active price version `a`, mapping `pm` and price row `p`. */
export const PRICE_JOINS = `LEFT JOIN usage_price_active a ON true
LEFT JOIN usage_price_models pm ON pm.price_version = a.price_version AND pm.model = m.model
LEFT JOIN usage_prices p ON p.price_version = a.price_version AND p.entry = pm.entry`;

/**
 * Messages (`from`: usage_messages, or a subquery of its rows) with their active price version,
 * price entry and cost: usage_messages_priced's rows. A subquery that filters keeps its filter
 * below the joins: DuckDB does not push a semi-join filter under them (one noted key: 160 ms on
 * the view over 1,000,000 messages, 7 ms on the rows first).
 */
export const pricedRows = (from: string) => `SELECT m.*,
  a.price_version,
  CASE WHEN m.synthetic THEN NULL ELSE p.entry END AS pricing_model,
  ${MESSAGE_COST} AS cost_usd
FROM ${from} m
${PRICE_JOINS}`;
