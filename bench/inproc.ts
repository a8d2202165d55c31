/**
 * `run --once` in-process, timed in phases, for benches and profiling:
 *
 *   node [--cpu-prof] dist/bench/inproc.js --root R --db D [--processors lines,usage]
 *        [--workers N|auto] [--batch-bytes N] [--chunk-bytes N] [--max-rows N] [--max-delay-ms N]
 *
 * Prints one JSON object: {import_ms, open_ms, run_ms, close_ms, run_cpu_ms, gc_ms, gc_major_ms, gc_count, summary}.
 * `run_ms` is the work alone (scan, read, parse, process, commit), without
 * process startup, module loading or opening DuckDB.
 */
import { parseArgs } from 'node:util';
import { gcMeter } from './lib/gc.js';

const t0 = performance.now();
const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    db: { type: 'string' },
    processors: { type: 'string', default: 'all' },
    // Worker threads (src/pipeline/workers/): a count or auto; default 0, as in the library.
    workers: { type: 'string', default: '0' },
    // Experiments: override the reader's batching (see src/read/reader.ts DEFAULT_READ).
    'batch-bytes': { type: 'string' },
    'chunk-bytes': { type: 'string' },
    // ... and the committer's grouping (see src/pipeline/commit.ts DEFAULT_COMMITTER).
    'max-rows': { type: 'string' },
    'max-delay-ms': { type: 'string' },
  },
});
if (!values.root || !values.db) {
  process.stderr.write('usage: inproc --root R --db D [--processors list]\n');
  process.exit(2);
}

const { loadConfig } = await import('../src/config/config.js');
const { createLogger } = await import('../src/log.js');
const { selectProcessors } = await import('../pipelines/index.js');
const { Pipeline } = await import('../src/pipeline/pipeline.js');
const { runOnce } = await import('../src/pipeline/once.js');
const t1 = performance.now();

const config = loadConfig({ root: values.root, db: values.db, processors: values.processors, logLevel: 'warn' });
const pipeline = await Pipeline.open({
  root: config.root,
  dbPath: config.db,
  processors: selectProcessors(config),
  log: createLogger(config.logLevel),
  retry: { maxAttempts: config.maxAttempts, baseDelayMs: config.retryBaseMs, maxDelayMs: 15 * 60_000 },
  maxLineBytes: config.maxLineBytes,
  committer: {
    ...(values['max-rows'] ? { maxRows: Number(values['max-rows']) } : {}),
    ...(values['max-delay-ms'] ? { maxDelayMs: Number(values['max-delay-ms']) } : {}),
  },
  read: {
    ...(values['batch-bytes'] ? { batchBytes: Number(values['batch-bytes']) } : {}),
    ...(values['chunk-bytes'] ? { chunkBytes: Number(values['chunk-bytes']) } : {}),
  },
});
const t2 = performance.now();
// Main-thread GC pauses during runOnce: parsed lines that live long enough to be copied or promoted cost here.
const gc = gcMeter();
const cpu0 = process.cpuUsage();
const summary = await runOnce(pipeline, { workers: values.workers === 'auto' ? 'auto' : Number(values.workers) });
const t3 = performance.now();
const cpu = process.cpuUsage(cpu0);
const gcTotals = await gc.stop();
await pipeline.close();
const t4 = performance.now();

process.stdout.write(
  JSON.stringify({
    import_ms: Math.round(t1 - t0),
    open_ms: Math.round(t2 - t1),
    run_ms: Math.round(t3 - t2),
    close_ms: Math.round(t4 - t3),
    // CPU time of the whole process (all threads, DuckDB included) during runOnce.
    run_cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
    gc_ms: gcTotals.ms,
    gc_major_ms: gcTotals.major_ms,
    gc_count: gcTotals.count,
    summary,
  }) + '\n',
);
