#!/usr/bin/env node
/**
 * The `session-pipeline` command line.
 *
 * Commands are loaded on demand: `run --once` should not pay for fastify,
 * rxjs and the watcher, nor `health` for DuckDB. Without a known command name
 * (top-level `--help`), all are loaded so the help lists them.
 */
import { Command, CommanderError } from 'commander';
import { EXIT } from './common.js';
import { traceArgv } from './commands/trace-args.js';

type Loader = () => Promise<Command[]>;

const ops: Loader = async () => (await import('./commands/ops.js')).opsCommands();
const shortcuts: Loader = async () => (await import('./commands/report.js')).shortcutCommands();
const LOADERS: Record<string, Loader> = {
  run: async () => [(await import('./commands/run.js')).runCommand()],
  watch: async () => [(await import('./commands/watch.js')).watchCommand()],
  report: async () => [(await import('./commands/report.js')).reportCommand()],
  // ccusage's top-level shortcuts: daily, weekly, monthly, session, blocks.
  daily: shortcuts,
  weekly: shortcuts,
  monthly: shortcuts,
  session: shortcuts,
  blocks: shortcuts,
  export: async () => [(await import('./commands/export.js')).exportCommand()],
  sql: async () => [(await import('./commands/sql.js')).sqlCommand()],
  status: ops,
  health: ops,
  trace: ops,
  requeue: ops,
  rescan: ops,
};

const program = new Command('session-pipeline')
  .description('exactly-once, incremental processing of Claude Code session transcripts into DuckDB')
  .version('0.1.0')
  .showHelpAfterError();

const invoked = process.argv[2];
// --version needs no command at all; anything else unknown (help, a typo) lists them all.
const versionOnly = invoked === '--version' || invoked === '-V';
const loaders = versionOnly ? [] : invoked && LOADERS[invoked] ? [LOADERS[invoked]] : [...new Set(Object.values(LOADERS))];
for (const load of loaders) {
  for (const c of await load()) {
    // ops loads several commands; keep only the invoked one when there is one.
    if (!invoked || !LOADERS[invoked] || c.name() === invoked) program.addCommand(c);
  }
}

/**
 * Commander exits 1 on its own parse errors (unknown command or flag, a `--by` outside its
 * choices, a missing argument); README promises 2 for bad usage. Overridden on every command:
 * addCommand() does not pass the setting down.
 */
function exitOnUsageErrors(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) exitOnUsageErrors(sub);
}
exitOnUsageErrors(program);

try {
  await program.parseAsync(invoked === 'trace' ? traceArgv(process.argv) : process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  // --help and --version end here too, with exit code 0; commander has printed the message.
  process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
}
