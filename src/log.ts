/**
 * Logging. pino to stderr, so stdout stays clean for reports and `--json`.
 * Nothing here ever logs transcript content: only files, offsets and counts.
 *
 * The daemon, which prints nothing else, can log to stdout, or split: ordinary
 * lines to stdout and warnings and errors to stderr. Supervisors that keep two
 * logs (pm2's out and error logs) then keep problems apart from the one line per
 * commit; with everything on stderr, every info line landed in pm2's error log.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export type LogDest = 'stderr' | 'stdout' | 'split';

export function createLogger(level: string, dest: number | string | LogDest = 2): Logger {
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (dest === 'split') {
    // dedupe: a line goes to the stream with the highest level it reaches, not to both.
    return pino(
      options,
      pino.multistream(
        [
          { level: 'trace', stream: pino.destination({ dest: 1, sync: true }) },
          { level: 'warn', stream: pino.destination({ dest: 2, sync: true }) },
        ],
        { dedupe: true },
      ),
    );
  }
  const fd = dest === 'stderr' ? 2 : dest === 'stdout' ? 1 : dest;
  return pino(options, pino.destination({ dest: fd, sync: true }));
}

/**
 * Log a problem once per key (a file and what went wrong with it) within a
 * window, and count every occurrence, so a poison file cannot flood the logs.
 */
export class OnceLogger {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs = 10 * 60_000,
    private readonly maxKeys = 10_000,
  ) {}

  shouldLog(key: string, now = Date.now()): boolean {
    const last = this.seen.get(key);
    if (last !== undefined && now - last < this.windowMs) return false;
    if (this.seen.size >= this.maxKeys) {
      for (const k of this.seen.keys()) {
        this.seen.delete(k);
        if (this.seen.size < this.maxKeys / 2) break;
      }
    }
    this.seen.set(key, now);
    return true;
  }
}
