#!/usr/bin/env node
/** The `session-pipeline` command line. */
import { Command } from 'commander';
import { runCommand } from './commands/run.js';
import { watchCommand } from './commands/watch.js';
import { opsCommands } from './commands/ops.js';
import '../ops/register.js'; // the admin API of `watch`
import { reportCommand } from './commands/report.js';
import { exportCommand } from './commands/export.js';

const program = new Command('session-pipeline')
  .description('exactly-once, incremental processing of Claude Code session transcripts into DuckDB')
  .version('0.1.0')
  .showHelpAfterError();

program.addCommand(runCommand());
program.addCommand(watchCommand());
for (const c of opsCommands()) program.addCommand(c);
program.addCommand(reportCommand());
program.addCommand(exportCommand());

await program.parseAsync(process.argv);
