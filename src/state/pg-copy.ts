/**
 * Rows as PostgreSQL's COPY text format, for the committer's bulk load
 * (`COPY ... FROM STDIN`): one line per row, columns separated by tabs,
 * `\N` for NULL. Pure, so the escaping is tested without a server.
 *
 * In a text value a backslash, tab, newline and carriage return are escaped
 * (`\\`, `\t`, `\n`, `\r`); everything else goes through as UTF-8, so a 1 MB
 * tool result costs one pass of `replace` and no quoting state. The one
 * character PostgreSQL cannot store in text is U+0000 (DuckDB can): it becomes
 * U+FFFD, as an invalid UTF-8 byte already does on the way in, rather than
 * failing the file's commit on every retry until it is quarantined.
 */
import type { CellValue, ColumnType } from './table.js';

const SPECIAL = /[\\\t\n\r\u0000]/;
const SPECIAL_ALL = /[\\\t\n\r\u0000]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\u0000': '\uFFFD' };

export function copyText(s: string): string {
  return SPECIAL.test(s) ? s.replace(SPECIAL_ALL, (c) => ESCAPES[c]) : s;
}

/** A timestamp given as epoch ms (fractions kept to the microsecond, as DuckDB's appender does). */
export function copyTimestamp(ms: number): string {
  const micros = Math.round(ms * 1000);
  if (!Number.isSafeInteger(micros)) throw new Error(`timestamp out of range: ${ms}`);
  const whole = Math.floor(micros / 1000);
  const frac = micros - whole * 1000; // 0..999 microseconds past the millisecond
  const iso = new Date(whole).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ, or ±YYYYYY-... outside 0..9999
  if (iso.length !== 24) throw new Error(`timestamp out of range: ${ms}`);
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(frac).padStart(3, '0')}`;
}

/** One value in COPY text format; types as the loader declares them (state/table.ts). */
export function copyValue(type: ColumnType, v: CellValue | undefined): string {
  if (v === null || v === undefined) return '\\N';
  switch (type) {
    case 'VARCHAR':
      return copyText(typeof v === 'string' ? v : String(v));
    case 'BIGINT':
      return BigInt(Math.trunc(Number(v))).toString();
    case 'INTEGER': {
      const n = Math.trunc(Number(v));
      if (!Number.isFinite(n)) throw new Error(`not an integer: ${String(v)}`);
      return String(n);
    }
    case 'DOUBLE': {
      const n = Number(v);
      if (Number.isNaN(n)) return 'NaN';
      if (n === Infinity) return 'Infinity';
      if (n === -Infinity) return '-Infinity';
      return String(n);
    }
    case 'BOOLEAN':
      return v ? 't' : 'f';
    case 'TIMESTAMP':
      return copyTimestamp(Number(v));
  }
}

/**
 * Rows `[from, to)` as COPY text lines, each prefixed with its index in `rows` (the staging
 * table's `_seq`: the order rows were staged in, for `prefer`).
 */
export function copyLines(types: readonly ColumnType[], rows: readonly CellValue[][], from: number, to: number): string {
  const out: string[] = [];
  for (let i = from; i < to; i++) {
    const row = rows[i];
    let line = String(i);
    for (let c = 0; c < types.length; c++) line += '\t' + copyValue(types[c], row[c]);
    out.push(line);
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}
