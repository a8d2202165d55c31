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

/**
 * A timestamp given as epoch ms (fractions kept to the microsecond, as DuckDB's appender does), in
 * PostgreSQL's input form. Any year a JS Date holds: years past 9999 as such, and years before 1
 * as BC (the ISO year 0 is 1 BC), so a transcript's odd timestamp loads on both stores.
 */
export function copyTimestamp(ms: number): string {
  let whole = Math.floor(ms);
  let frac = Math.round((ms - whole) * 1000); // microseconds past the millisecond
  if (frac === 1000) {
    whole += 1;
    frac = 0;
  }
  const d = new Date(whole);
  if (Number.isNaN(d.getTime())) throw new Error(`timestamp out of range: ${ms}`);
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ, or ±YYYYYY-MM-DDT... outside 0..9999
  const t = iso.indexOf('T');
  const time = `${iso.slice(t - 5, t)} ${iso.slice(t + 1, -1)}${String(frac).padStart(3, '0')}`;
  const year = d.getUTCFullYear();
  return year >= 1 ? `${String(year).padStart(4, '0')}-${time}` : `${String(1 - year).padStart(4, '0')}-${time} BC`;
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
