/**
 * Summarise a `.cpuprofile`: top self time by function and by file, and the
 * inclusive time of the pipeline's main stages.
 *
 *   node dist/bench/profile.js <file.cpuprofile | dir> [--top 25]
 *
 * To profile a run:  node --cpu-prof --cpu-prof-dir=.bench/prof dist/bench/inproc.js --root R --db D
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { summarizeProfile, newestProfile } from './lib/cpuprofile.js';
import { printTable, REPO_ROOT, round } from './lib/report.js';
import { STAGES } from './profile-stages.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
let file = positionals[0] ?? `${REPO_ROOT}/.bench/prof`;
if (fs.statSync(file).isDirectory()) {
  const newest = newestProfile(file);
  if (!newest) throw new Error(`no .cpuprofile in ${file}`);
  file = newest;
}
const s = summarizeProfile(file, { root: REPO_ROOT, top: Number(values.top), inclusiveOf: STAGES });
const pct = (x: { name: string; ms: number; share: number }) => ({ name: x.name, ms: round(x.ms, 0), '%': round(x.share * 100, 1) });
console.log(`${file}: sampled ${(s.totalMs / 1000).toFixed(2)} s, busy ${(s.busyMs / 1000).toFixed(2)} s`);
printTable('top self time by function', s.functions.map(pct));
printTable('self time by file', s.files.map(pct));
printTable('inclusive time of stages', s.inclusive.map(pct));
