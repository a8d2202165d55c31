/** Numbers as the reports print them: exact integers with en-US separators, costs in dollars. */
const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export const int = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : intFmt.format(n));

export function usd(n: number | null | undefined): string {
  if (n === null || n === undefined) return 'unpriced';
  const digits = n === 0 || Math.abs(n) >= 0.01 ? 2 : 4;
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;
}

export const pct = (part: number, whole: number): string => (whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : '–');

/** A timestamp in the chosen time zone, to the second. */
export function when(iso: string | null | undefined, tz: string): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return d.toLocaleString('en-CA', { timeZone: tz, hour12: false, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).replace(',', '');
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '–';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s ago`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
}

/** The local date (YYYY-MM-DD) of an instant in a time zone. */
export function localDate(at: Date, tz: string): string {
  return at.toLocaleDateString('en-CA', { timeZone: tz });
}
