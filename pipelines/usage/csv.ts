/** CSV of report rows: a header line, list fields joined with `;`, RFC 4180 quoting. */
function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : Array.isArray(v) ? v.join(';') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderCsv<Row extends object>(fields: readonly (keyof Row & string)[], rows: readonly Row[]): string {
  const lines = [fields.join(',')];
  for (const r of rows) lines.push(fields.map((f) => csvCell(r[f])).join(','));
  return lines.join('\n') + '\n';
}

