/**
 * The latency bench's writer, in its own process so its timers do not share
 * an event loop with the daemon: appends one realistic line per live file per
 * second, staggered, each stamped with `benchAppendedAt`.
 */
import fs from 'node:fs';
import { makeRng, newContext, sessionLines } from './lib/corpus.js';

const [files, seconds] = [JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as string[], Number(process.argv[3])];
const rng = makeRng(42);
const gens = files.map((f, i) => sessionLines(rng, newContext(rng, `/Users/live/p${i}`), { maxResult: 2048 }));
const end = Date.now() + seconds * 1000;
let appended = 0;
const tick = 1000 / files.length;
let i = 0;
const timer = setInterval(() => {
  // Catch up if the timer fired late, so each file gets one line per second.
  const due = Math.min(files.length * 4, Math.floor((Date.now() - start) / tick) - i);
  for (let k = 0; k < due; k++, i++) {
    const idx = i % files.length;
    const v = JSON.parse(gens[idx].next().value as string);
    v.benchAppendedAt = Date.now();
    fs.appendFileSync(files[idx], JSON.stringify(v) + '\n');
    appended++;
  }
  if (Date.now() >= end) {
    clearInterval(timer);
    process.stdout.write(JSON.stringify({ appended }) + '\n');
  }
}, 5);
const start = Date.now();
