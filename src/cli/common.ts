/**
 * What every command shares: declaring config flags, loading config with a
 * one-line error, and mapping known failures to exit codes.
 */
import type { Command } from 'commander';
import { ConfigError, loadConfig, SETTINGS, type Config, type SettingName, type SettingsTable } from '../config/config.js';
import { DatabaseLockedError, DatabaseOpenError, DatabaseWriteError } from '../state/errors.js';
import { ReportParamError } from '../pipeline/report.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, locked: 3, unavailable: 4 } as const;

/** Declare the flags of some core settings, and of the processors' settings (`extra`), on a command. */
export function addSettings(cmd: Command, names: readonly SettingName[], extra: SettingsTable = {}): Command {
  for (const s of [...names.map((n) => SETTINGS[n]), ...Object.values(extra)]) {
    cmd.option(s.flag, `${s.describe} [env ${s.env}]`);
  }
  return cmd;
}

/** Every core setting, and the processors' settings of this command (`extra`), from flags and environment. */
export function configFrom(opts: Record<string, unknown>, extra: SettingsTable = {}): Config {
  return loadConfig(opts, process.env, undefined, { ...SETTINGS, ...extra });
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Resolves once everything written to `stream` so far has reached its file descriptor (or it failed). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/**
 * A reader that went away (`| head`) is not an error: stop quietly with the
 * exit code so far. Without a listener Node would print EPIPE's stack trace.
 */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  if (stream.listenerCount('error') > 0) return;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') process.exit(typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok);
    throw err;
  });
}

/**
 * Run a command body; known errors become one line on stderr and an exit code.
 *
 * The process exits only once stdout and stderr are flushed: a pipe takes
 * 64 KiB before writes queue in the process, and `process.exit()` drops the
 * queue, which cut `report ... --json | python3 -m json.tool` at 65,523
 * characters with exit 0.
 */
export async function guard(fn: () => Promise<number | void>): Promise<void> {
  quietOnClosedPipe(process.stdout);
  quietOnClosedPipe(process.stderr);
  let code: number = EXIT.ok;
  try {
    code = (await fn()) ?? EXIT.ok;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`session-pipeline: ${err.message}\n`);
      code = EXIT.usage;
    } else if (err instanceof DatabaseLockedError) {
      process.stderr.write(
        `session-pipeline: ${err.message}\n  another session-pipeline (daemon or run) holds the DuckDB write lock on ${err.dbPath}; stop it or use a different --db\n`,
      );
      code = EXIT.locked;
    } else if (err instanceof DatabaseWriteError) {
      process.stderr.write(
        `session-pipeline: ${err.message}\n  nothing after the last commit was recorded; free space or fix permissions and run again (it resumes from there)\n`,
      );
      code = EXIT.failure;
    } else if (err instanceof DatabaseOpenError) {
      process.stderr.write(`session-pipeline: ${err.message}\n`);
      code = EXIT.failure;
    } else if (err instanceof ReportParamError) {
      process.stderr.write(`session-pipeline: ${err.message}\n`);
      code = EXIT.usage;
    } else if (err instanceof CliError) {
      process.stderr.write(`session-pipeline: ${err.message}\n`);
      code = err.exitCode;
    } else {
      process.stderr.write(`session-pipeline: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
      code = EXIT.failure;
    }
  }
  process.exitCode = code;
  await flushed(process.stdout);
  await flushed(process.stderr);
  // Nothing is pending now; exiting here also ends commands whose clients leave handles open.
  process.exit(code);
}
