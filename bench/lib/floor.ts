/**
 * The backfill reference: read files and JSON.parse every line, nothing else,
 * on one core (bench:backfill, bench:scale-out).
 */
import fs from 'node:fs';
import { gcMeter } from './gc.js';

/**
 * The floor: read every file and JSON.parse every line, nothing else.
 *
 * Two ways to split on '\n', and the floor is the faster:
 * - `text`: decode the whole file, `split('\n')`, parse each piece;
 * - `buffer`: find each '\n' in the Buffer, decode that line alone, parse it.
 * They differ more than one would think: one non-ASCII character (Read results
 * carry '→', tool output box-drawing and emoji) makes V8 decode the whole file
 * on its slow path into a two-byte string, and JSON.parse is slower on those
 * too; per line, only the lines that hold such characters pay.
 */
export async function floorPass(files: string[], mode: 'text' | 'buffer'): Promise<{ ms: number; cpuMs: number; gcMs: number; bytes: number; lines: number }> {
  const gc = gcMeter();
  const t = performance.now();
  const cpu0 = process.cpuUsage();
  let bytes = 0;
  let lines = 0;
  let keys = 0;
  for (const f of files) {
    const buf = fs.readFileSync(f);
    bytes += buf.length;
    if (mode === 'text') {
      for (const l of buf.toString('utf8').split('\n')) {
        if (l === '') continue;
        const v = JSON.parse(l) as Record<string, unknown>;
        if (v.type !== undefined) keys++;
        lines++;
      }
    } else {
      let pos = 0;
      for (;;) {
        const nl = buf.indexOf(10, pos);
        if (nl < 0) break;
        if (nl > pos) {
          const v = JSON.parse(buf.toString('utf8', pos, nl)) as Record<string, unknown>;
          if (v.type !== undefined) keys++;
          lines++;
        }
        pos = nl + 1;
      }
    }
  }
  const ms = performance.now() - t;
  const cpu = process.cpuUsage(cpu0);
  if (keys < 0) console.log(keys); // keep the parse observable
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, gcMs: (await gc.stop()).ms, bytes, lines };
}

