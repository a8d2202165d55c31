/**
 * The live-reads bench's reader, in its own process: runs
 * `session-pipeline report usage --by session` against the daemon in a loop
 * (each run a fresh CLI process, as an analyst's shell loop would) for
 * `seconds`; prints `{"runs", "failures", "ms": [...]}`.
 *
 *   node dist/bench/live-reads-reader.js <cli> <db> <admin-port> <seconds>
 */
import { spawnSync } from 'node:child_process';

const [cli, db, port, seconds] = [process.argv[2], process.argv[3], process.argv[4], Number(process.argv[5])];
const env = { ...process.env, SESSION_PIPELINE_ADMIN_PORT: port };
const end = Date.now() + seconds * 1000;
const ms: number[] = [];
let failures = 0;
let bytes = 0;
while (Date.now() < end) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [cli, 'report', 'usage', '--by', 'session', '--db', db], { env, encoding: 'utf8', maxBuffer: 256 << 20 });
  ms.push(Math.round(performance.now() - t0));
  if (r.status !== 0) {
    failures++;
    if (failures <= 3) process.stderr.write(`reader: exit ${r.status}: ${r.stderr.trim().split('\n')[0]}\n`);
  } else bytes = r.stdout.length;
}
process.stdout.write(JSON.stringify({ runs: ms.length, failures, ms, lastBytes: bytes }) + '\n');
