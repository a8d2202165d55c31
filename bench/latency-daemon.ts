/**
 * bench:latency's daemon as a process of its own, so that a bench measures it
 * from outside (/proc) like the CLI's `watch`, with the bench-only probe
 * processor loaded (the CLI cannot load it). Settings come from the
 * environment, as for the CLI (SESSION_ROOT, SESSION_PIPELINE_DB, ...).
 *
 *   node dist/bench/latency-daemon.js once    the live processors + probe, run --once, exit
 *   node dist/bench/latency-daemon.js watch   the daemon; prints `ready` once started; on SIGTERM
 *                                             stops and prints {"commit_ms": [...]} (each commit
 *                                             transaction's duration, as the committer measured it)
 */
import { pino } from 'pino';
import { loadConfig } from '../src/config/config.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import { runOnce } from '../src/pipeline/once.js';
import { startDaemon } from '../src/watch/daemon.js';
import { latencyProcessors } from './lib/latency-load.js';

const mode = process.argv[2];
const config = loadConfig({}, process.env);
const processors = latencyProcessors(config);
const log = pino({ level: config.logLevel });

if (mode === 'once') {
  const p = await Pipeline.open({
    root: config.root,
    dbPath: config.db,
    processors,
    log,
    retry: { maxAttempts: config.maxAttempts, baseDelayMs: config.retryBaseMs, maxDelayMs: 15 * 60_000 },
    maxLineBytes: config.maxLineBytes,
  });
  await runOnce(p);
  await p.close();
} else if (mode === 'watch') {
  const daemon = await startDaemon({ config, processors, log });
  const commitMs: number[] = [];
  daemon.pipeline.committer.onCommit((_u, ms) => commitMs.push(ms));
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await daemon.stop();
  process.stdout.write(JSON.stringify({ commit_ms: commitMs }) + '\n');
} else {
  process.stderr.write('usage: latency-daemon once|watch\n');
  process.exitCode = 2;
}
