/**
 * bench/live-cost's writer, in its own process: appends one realistic line per
 * live file per second, staggered over the second, for `seconds`. For the
 * first `sample` files it records each append's end offset and time, so the
 * bench can match them with the daemon's commit records.
 *
 *   node dist/bench/live-writer.js <files.json> <seconds> <sample> <appends.jsonl>
 * Prints `{"appended":N}` on stdout when done.
 */
import fs from 'node:fs';
import { makeRng, newContext, sessionLines } from './lib/corpus.js';

const files = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as string[];
const seconds = Number(process.argv[3]);
const sample = Number(process.argv[4]);
const log = fs.openSync(process.argv[5], 'w');
const rng = makeRng(42);
const gens = files.map((f, i) => sessionLines(rng, newContext(rng, `/Users/live/p${i}`), { maxResult: 2048 }));
const sizes = files.map((f) => fs.statSync(f).size);
const tick = 1000 / files.length;
let appended = 0;
let i = 0;
const start = Date.now();
const end = start + seconds * 1000;
const timer = setInterval(() => {
  // Catch up if the timer fired late, so each file gets one line per second.
  const due = Math.min(files.length * 4, Math.floor((Date.now() - start) / tick) - i);
  for (let k = 0; k < due; k++, i++) {
    const idx = i % files.length;
    const text = (gens[idx].next().value as string) + '\n';
    fs.appendFileSync(files[idx], text);
    const at = Date.now();
    sizes[idx] += Buffer.byteLength(text);
    if (idx < sample) fs.writeSync(log, `${JSON.stringify({ file: idx, end: sizes[idx], at })}\n`);
    appended++;
  }
  if (Date.now() >= end) {
    clearInterval(timer);
    fs.closeSync(log);
    process.stdout.write(JSON.stringify({ appended }) + '\n');
  }
}, 5);
