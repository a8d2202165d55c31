/**
 * A `run --once` with the recorder and `lines` processors, as a bare node
 * process the model test can SIGKILL at any moment (the CLI cannot load the
 * test-only recorder). Imports the compiled pipeline from dist/ (built by
 * `pretest`).
 *
 *   node crash-child.mjs '{"root": ..., "db": ..., "maxLineBytes": ..., "read": {...}}'
 */
import { pino } from 'pino';
import { recorder } from './recorder.mjs';

const dist = (p) => new URL(`../../dist/${p}`, import.meta.url).href;
const { Pipeline } = await import(dist('src/pipeline/pipeline.js'));
const { runOnce } = await import(dist('src/pipeline/once.js'));
const { linesProcessor } = await import(dist('pipelines/lines/index.js'));

const opts = JSON.parse(process.argv[2]);
const pipeline = await Pipeline.open({
  root: opts.root,
  dbPath: opts.db,
  processors: [recorder(), linesProcessor],
  log: pino({ level: 'silent' }),
  retry: { maxAttempts: 1000, baseDelayMs: 0, maxDelayMs: 0 },
  maxLineBytes: opts.maxLineBytes,
  read: opts.read,
});
process.stdout.write('opened\n');
const summary = await runOnce(pipeline);
await pipeline.close();
process.stdout.write(JSON.stringify(summary) + '\n');
