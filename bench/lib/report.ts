/** Tiny helpers for bench output: an aligned table on stdout, JSON results in `.bench/`. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root: the nearest directory above this file with a package.json, so it holds both
 * when this runs as dist/bench/lib/report.js and as bench/lib/report.ts under vitest.
 */
export const REPO_ROOT = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above bench/lib');
    dir = up;
  }
  return dir;
})();

export type Cell = string | number | null | undefined;

function fmt(v: Cell): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(2);
  return v;
}

/** Print rows (objects sharing keys) as an aligned table; numbers right-aligned. */
export function printTable(title: string, rows: Record<string, Cell>[], out: NodeJS.WritableStream = process.stdout): void {
  if (rows.length === 0) return;
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => cols.map((c) => fmt(r[c])));
  const width = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const numeric = cols.map((c) => rows.every((r) => typeof r[c] === 'number' || r[c] == null));
  const line = (vals: string[]) =>
    vals.map((v, i) => (numeric[i] ? v.padStart(width[i]) : v.padEnd(width[i]))).join('  ').trimEnd();
  out.write(`\n${title}\n`);
  out.write(line(cols) + '\n');
  out.write(width.map((w) => '-'.repeat(w)).join('  ') + '\n');
  for (const r of cells) out.write(line(r) + '\n');
}

/** Write `.bench/<name>.json` at the repo root; returns the path. */
export function writeResult(name: string, result: unknown): string {
  const dir = path.join(REPO_ROOT, '.bench');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  return file;
}

export const MB = 1024 * 1024;
export const mb = (bytes: number) => bytes / MB;
export const secs = (ms: number) => ms / 1000;
export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
