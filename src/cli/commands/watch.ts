/** `session-pipeline watch`: the daemon. */
import { Command } from 'commander';
import { addSettings, configFrom, guard, CliError, EXIT } from '../common.js';
import { checkRoot, rootProblem } from '../../discover/root.js';
import { createLogger } from '../../log.js';
import { selectProcessors, settingsFor } from '../../../pipelines/index.js';
import { startDaemon } from '../../watch/daemon.js';
import { AdminStartError, checkAdminBind, startAdmin } from '../../ops/start-admin.js';
import { RUN_SETTINGS } from './run.js';
import { displayLocation } from '../../state/dialect.js';

export const WATCH_SETTINGS = [
  ...RUN_SETTINGS,
  'logDest',
  'rescanIntervalMs',
  'quietMs',
  'maxWaitMs',
  'concurrency',
  'watcher',
  'watchPollMs',
  'drainTimeoutMs',
  'adminHost',
  'adminPort',
  'adminToken',
  'healthStuckMs',
  'healthLagBytes',
  'healthLagFiles',
] as const;

export function watchCommand(): Command {
  const cmd = new Command('watch').description('run the daemon: keep every processor current as session files change');
  const processorSettings = settingsFor('watch');
  addSettings(cmd, WATCH_SETTINGS, processorSettings);
  cmd.action((opts) =>
    guard(async () => {
      const config = configFrom(opts, processorSettings);
      checkAdminBind(config);
      // A root that does not exist yet is waited for (and /health says so); a file never becomes one.
      const root = checkRoot(config.root);
      if (root === 'not-dir') throw new CliError(rootProblem(config.root, root), EXIT.usage);
      const log = createLogger(config.logLevel, config.logDest);
      const processors = selectProcessors(config);
      const daemon = await startDaemon({ config, processors, log });
      const closers: (() => Promise<void>)[] = [];
      const writeFailed = (err: Error) => log.fatal({ db: displayLocation(config.db), err: err.message.split('\n')[0] }, 'cannot write to the database; stopping');
      try {
        closers.push(await startAdmin(daemon));
      } catch (err) {
        // The admin API's audit table commits through the committer, queued behind the first
        // catch-up: a disk that fills before it lands is the database's failure, not the admin's.
        const failure = daemon.pipeline.committer.failure;
        if (failure) {
          writeFailed(failure);
          log.flush();
          return EXIT.failure;
        }
        if (err instanceof AdminStartError) throw new CliError(err.message, EXIT.unavailable);
        throw err;
      }
      log.info(
        { root: config.root, db: displayLocation(config.db), processors: processors.map((p) => `${p.name}@${p.version}`), watcher: config.watcher },
        'watching',
      );
      // pm2 wait_ready: the initial scan is under way.
      process.send?.('ready');

      let writeFailure: Error | null = null;
      let databaseLost = false;
      await new Promise<void>((resolve) => {
        let signals = 0;
        const shutdown = (why: string) => {
          signals++;
          if (signals > 1) {
            // Second signal: leave now. Commits are transactional, so nothing is lost.
            log.warn({ why }, 'second shutdown signal; exiting immediately');
            log.flush();
            process.exit(130);
          }
          log.info({ why }, 'shutting down');
          void (async () => {
            for (const c of closers) await c().catch(() => undefined);
            await daemon.stop();
            resolve();
          })();
        };
        process.on('SIGINT', () => shutdown('SIGINT'));
        process.on('SIGTERM', () => shutdown('SIGTERM'));
        process.on('message', (m) => {
          if (m === 'shutdown') shutdown('pm2 shutdown message');
        });
        // The database stopped taking writes (disk full, read-only): exit non-zero so the supervisor
        // restarts us (with backoff) once it can; nothing past the last commit is lost.
        // The database file was deleted or replaced: what is committed from now on would be lost.
        // Exit non-zero so the supervisor restarts onto a fresh file, rebuilt from the transcripts.
        daemon.events.listen({
          databaseLost: () => {
            databaseLost = true;
            shutdown('database file lost');
          },
        });
        daemon.pipeline.committer.onBroken((err) => {
          writeFailure = err;
          writeFailed(err);
          shutdown('database write failure');
        });
      });
      if (writeFailure || databaseLost) return EXIT.failure;
    }),
  );
  return cmd;
}
