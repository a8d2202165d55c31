/**
 * A result row's values as either store hands them over, to the plain JSON a
 * report prints. DuckDB gives BIGINT as `bigint` and TIMESTAMP as `Date`;
 * node-postgres gives `bigint` (int8) and `numeric` as text unless a type
 * parser says otherwise, and a TIMESTAMP as a `Date` or its text. The same
 * stored value must print the same either way, so reports decode through these.
 */

/** A number from BIGINT, INTEGER, DOUBLE or a numeric's text; 0 for NULL (counts and sums). */
export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v !== '') {
    const n = Number(v);
    return Number.isNaN(n) ? 0 : n;
  }
  return 0;
}

/** USD rounded to 6 decimals (ccusage's precision); NULL stays null (unpriced). */
export function micro(v: unknown): number | null {
  return v === null || v === undefined ? null : Math.round(num(v) * 1e6) / 1e6;
}

/** A TIMESTAMP (UTC, no zone in the store) as ISO 8601 with `Z`. */
export function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const text = String(v);
  const d = v instanceof Date ? v : new Date(text.replace(' ', 'T') + (/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? '' : 'Z'));
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

export const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** A list column (DuckDB LIST, PostgreSQL array) as strings; NULL as empty. */
export const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
