/**
 * Logging. pino to stderr, so stdout stays clean for reports and `--json`.
 * Nothing here ever logs transcript content: only files, offsets and counts.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, dest: number | string = 2): Logger {
  return pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest, sync: true }),
  );
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
