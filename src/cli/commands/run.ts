/** `session-pipeline run --once`. */
import { Command } from 'commander';
import Table from 'cli-table3';
import cliProgress from 'cli-progress';
import { addSettings, configFrom, guard, CliError, EXIT } from '../common.js';
import { createLogger } from '../../log.js';
import { selectProcessors, settingsFor } from '../../../pipelines/index.js';
import { Pipeline } from '../../pipeline/pipeline.js';
import { runOnce, type RunSummary } from '../../pipeline/once.js';
import { checkRoot, rootProblem } from '../../discover/root.js';

/** The core settings of `run`; each processor's own settings are added from its definition. */
export const RUN_SETTINGS = ['root', 'db', 'pgPoolMax', 'dbThreads', 'processors', 'workers', 'logLevel', 'maxLineBytes', 'maxAttempts', 'retryBaseMs', 'sourceName', 'nodeName', 'leaseTtlMs'] as const;

export function runCommand(): Command {
  const cmd = new Command('run')
    .description('bring every processor up to date on every session file, then exit')
    .option('--once', 'process what is pending and exit (the only mode of `run`; see `watch` for the daemon)')
    .option('--json', 'print the summary as one JSON object')
    .option('--no-progress', 'no progress bar, even on a TTY');
  const processorSettings = settingsFor('run');
  addSettings(cmd, RUN_SETTINGS, processorSettings);
  cmd.action((opts) =>
    guard(async () => {
      if (!opts.once) throw new CliError('`run` needs --once (use `watch` to keep running)', EXIT.usage);
      const config = configFrom(opts, processorSettings);
      const root = checkRoot(config.root);
      if (root !== 'dir') throw new CliError(rootProblem(config.root, root), EXIT.usage);
      const log = createLogger(config.logLevel);
      const processors = selectProcessors(config);
      const pipeline = await Pipeline.open({
        root: config.root,
        dbPath: config.db,
        pgPoolMax: config.pgPoolMax,
        dbThreads: config.dbThreads === 'auto' ? undefined : config.dbThreads,
        processors,
        log,
        retry: { maxAttempts: config.maxAttempts, baseDelayMs: config.retryBaseMs, maxDelayMs: 15 * 60_000 },
        maxLineBytes: config.maxLineBytes,
        // A shared (PostgreSQL) store only: an embedded one ignores both.
        source: config.sourceName,
        lease: { node: config.nodeName, ttlMs: config.leaseTtlMs },
      });
      let bar: cliProgress.SingleBar | null = null;
      try {
        const showBar = opts.progress !== false && process.stderr.isTTY && !opts.json;
        const summary = await runOnce(pipeline, { workers: config.workers, onProgress: (p) => {
          if (!showBar) return;
          if (!bar) {
            bar = new cliProgress.SingleBar(
              { format: 'backfill |{bar}| {percentage}% {value}/{total} files {mb}/{mbTotal} MB', stream: process.stderr },
              cliProgress.Presets.shades_classic,
            );
            bar.start(p.total, 0, { mb: 0, mbTotal: (p.bytesTotal / 1e6).toFixed(1) });
          }
          bar.update(p.done, { mb: (p.bytesDone / 1e6).toFixed(1), mbTotal: (p.bytesTotal / 1e6).toFixed(1) });
        } });
        (bar as cliProgress.SingleBar | null)?.stop();
        process.stdout.write(opts.json ? JSON.stringify(summary) + '\n' : renderSummary(summary, config.root));
        log.info({ duration_ms: summary.duration_ms, files: summary.files }, 'run --once finished');
      } finally {
        await pipeline.close();
        log.flush();
      }
    }),
  );
  return cmd;
}

export function renderSummary(s: RunSummary, root: string): string {
  const cols = ['scanned', 'unchanged', 'appended', 'rewritten', 'deleted', 'errors', 'quarantined', 'lines', 'bytes_read', 'items'] as const;
  const t = new Table({ head: ['processor', ...cols], style: { head: [], border: [] } });
  for (const [name, p] of Object.entries(s.processors)) t.push([name, ...cols.map((c) => p[c].toLocaleString('en-US'))]);
  return `${root}: ${s.files} session files in ${(s.duration_ms / 1000).toFixed(2)} s\n${t.toString()}\n`;
}
