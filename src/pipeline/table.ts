/**
 * Aligned text tables in cli-table3's styles (compact, or with a rule between rows), in linear time.
 *
 * cli-table3 lays out every cell through its generic span/wrap machinery, and
 * its cost grows faster than the row count: 2,000 / 4,000 / 8,000 rows of three
 * columns took 4.9 / 8.2 / 53.6 s here under load, which makes a 50,000-row
 * `sql` table or `report usage --by session` over 20,000 sessions unusable. This
 * prints the same characters for single-line cells (checked against cli-table3
 * in test/reads/table.test.ts); a newline or tab inside a cell is shown escaped.
 */
export type Align = 'left' | 'right';

const clean = (s: string) => (/[\n\t]/.test(s) ? s.replace(/\r?\n/g, '\\n').replace(/\t/g, '\\t') : s);

/** Printable ASCII only: one column a character (nearly every cell of a report). */
const PLAIN = /^[\x20-\x7e]*$/;

/** Display width: one column per code point, two for East Asian wide and emoji ranges. */
export function displayWidth(s: string): number {
  if (PLAIN.test(s)) return s.length;
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x1100) w += c < 0x20 || (c >= 0x7f && c < 0xa0) ? 0 : 1;
    else if (
      (c >= 0x1100 && c <= 0x115f) ||
      (c >= 0x2e80 && c <= 0xa4cf) ||
      (c >= 0xac00 && c <= 0xd7a3) ||
      (c >= 0xf900 && c <= 0xfaff) ||
      (c >= 0xfe30 && c <= 0xfe4f) ||
      (c >= 0xff00 && c <= 0xff60) ||
      (c >= 0xffe0 && c <= 0xffe6) ||
      (c >= 0x1f300 && c <= 0x1faff) ||
      (c >= 0x20000 && c <= 0x3fffd)
    )
      w += 2;
    else if (c >= 0x300 && c <= 0x36f) w += 0;
    else w += 1;
  }
  return w;
}

/** `rowLines`: a rule between body rows too, as cli-table3's default (not compact) style draws. */
export interface TableStyle {
  rowLines?: boolean;
}

export function renderTable(head: readonly string[], rows: readonly (readonly string[])[], aligns: readonly Align[] = [], style: TableStyle = {}): string {
  const h = head.map(clean);
  const body = rows.map((r) => head.map((_, i) => clean(r[i] ?? '')));
  const widths = h.map((c, i) => {
    let w = displayWidth(c);
    for (const r of body) w = Math.max(w, displayWidth(r[i]));
    return w;
  });
  const line = (l: string, m: string, r: string) => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r;
  const row = (cells: readonly string[], align: (i: number) => Align) =>
    '│' +
    cells
      .map((c, i) => {
        const pad = ' '.repeat(widths[i] - displayWidth(c));
        return ' ' + (align(i) === 'right' ? pad + c : c + pad) + ' ';
      })
      .join('│') +
    '│';
  const align = (i: number) => aligns[i] ?? 'left';
  const out: string[] = [line('┌', '┬', '┐'), row(h, align)];
  if (body.length > 0) out.push(line('├', '┼', '┤'));
  const between = style.rowLines ? line('├', '┼', '┤') : null;
  body.forEach((r, i) => {
    if (between !== null && i > 0) out.push(between);
    out.push(row(r, align));
  });
  out.push(line('└', '┴', '┘'));
  return out.join('\n');
}

/**
 * An integer with en-US thousands separators, as `toLocaleString('en-US')` prints it.
 * That call costs ~0.8 µs: 95 ms of the table of `report usage --by session` over 20,201
 * sessions. Anything but a safe integer (fractions, -0, NaN) still goes through it.
 */
export function int(n: number): string {
  if (!Number.isSafeInteger(n) || Object.is(n, -0)) return n.toLocaleString('en-US');
  const digits = String(n < 0 ? -n : n);
  const lead = digits.length % 3 || 3;
  let out = digits.slice(0, lead);
  for (let i = lead; i < digits.length; i += 3) out += ',' + digits.slice(i, i + 3);
  return n < 0 ? '-' + out : out;
}

/** USD as the report tables print it: cents, or 4 decimals under a cent; `unpriced` for null (never $0). */
export const usd = (n: number | null): string => (n === null ? 'unpriced' : `$${n.toFixed(n === 0 || n >= 0.01 ? 2 : 4)}`);
