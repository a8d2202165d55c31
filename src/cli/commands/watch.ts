/** `session-pipeline watch`: the daemon. */
import { Command } from 'commander';
import { addSettings, configFrom, guard, CliError, EXIT } from '../common.js';
import { checkRoot, rootProblem } from '../../discover/root.js';
import { createLogger } from '../../log.js';
import { selectProcessors } from '../../../pipelines/index.js';
import { startDaemon, type Daemon } from '../../watch/daemon.js';
import { RUN_SETTINGS } from './run.js';
import type { Config } from '../../config/config.js';

export const WATCH_SETTINGS = [
  ...RUN_SETTINGS,
  'logDest',
  'rescanIntervalMs',
  'quietMs',
  'maxWaitMs',
  'concurrency',
  'watcher',
  'drainTimeoutMs',
  'adminHost',
  'adminPort',
  'adminToken',
  'secretsSettleMs',
  'healthStuckMs',
  'healthLagBytes',
  'healthLagFiles',
] as const;

/** Checks other modules (the admin API) run on the config before the daemon starts; throw to refuse. */
export const daemonPreflight: ((config: Config) => void)[] = [];

/** Hooks other modules (the admin API) attach to a started daemon. */
export const daemonPlugins: ((d: Daemon) => Promise<(() => Promise<void>) | void>)[] = [];

export function watchCommand(): Command {
  const cmd = new Command('watch').description('run the daemon: keep every processor current as session files change');
  addSettings(cmd, WATCH_SETTINGS);
  cmd.action((opts) =>
    guard(async () => {
      const config = configFrom(opts);
      for (const check of daemonPreflight) check(config);
      // A root that does not exist yet is waited for (and /health says so); a file never becomes one.
      const root = checkRoot(config.root);
      if (root === 'not-dir') throw new CliError(rootProblem(config.root, root), EXIT.usage);
      const log = createLogger(config.logLevel, config.logDest);
      const processors = selectProcessors(config);
      const daemon = await startDaemon({ config, processors, log });
      const closers: (() => Promise<void>)[] = [];
      for (const plugin of daemonPlugins) {
        const close = await plugin(daemon);
        if (close) closers.push(close);
      }
      log.info(
        { root: config.root, db: config.db, processors: processors.map((p) => `${p.name}@${p.version}`), watcher: config.watcher },
        'watching',
      );
      // pm2 wait_ready: the initial scan is under way.
      process.send?.('ready');

      let writeFailure: Error | null = null;
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
        daemon.pipeline.committer.onBroken((err) => {
          writeFailure = err;
          log.fatal({ db: config.db, err: err.message.split('\n')[0] }, 'cannot write to the database; stopping');
          shutdown('database write failure');
        });
      });
      if (writeFailure) return EXIT.failure;
    }),
  );
  return cmd;
}
