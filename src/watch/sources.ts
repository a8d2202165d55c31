/**
 * Where hints come from: chokidar events, raw directory events, and the
 * stat-only rescan (which is also the initial scan).
 *
 * chokidar keeps one inotify watch per watched file (~9 KB each), so only the
 * *hot* set is watched as files: those modified within `hotWindowMs`. Every
 * directory that can hold sessions is watched, and a directory's raw inotify
 * events name the file that changed, so an append to a cold file still
 * produces a hint at once, and chokidar promotes it to the hot set. The
 * rescan covers whatever the events miss (overflow, ENOSPC, a dropped
 * trailing `change`).
 */
import path from 'node:path';
import { Observable } from 'rxjs';
import { watch, type FSWatcher } from 'chokidar';
import type { Stats } from 'node:fs';
import type { Logger } from 'pino';
import { hint, type FileHint } from './hint.js';
import { mayContainSessions, parseSessionPath, toSessionKey } from '../discover/session-path.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { FileStat } from '../state/classify.js';
import { isConfirmedMissing } from '../discover/walk.js';

export interface WatcherStatus {
  state: 'starting' | 'ok' | 'degraded' | 'off';
  reason?: string;
  events: number;
  errors: number;
  hotFiles: number;
}

export interface ChokidarSourceOptions {
  root: string;
  hotWindowMs: number;
  log: Logger;
  status: WatcherStatus;
  onReady?: () => void;
}

/** Session key for an absolute path under the root, or null if it is not a session file. */
export function sessionKeyOf(root: string, absPath: string): string | null {
  const key = toSessionKey(path.relative(root, absPath));
  return key && parseSessionPath(key) ? key : null;
}

export function chokidarHints(opts: ChokidarSourceOptions): Observable<FileHint> & { demote?: never } {
  return new Observable<FileHint>((subscriber) => {
    const { root, status, log } = opts;
    const lastActive = new Map<string, number>();
    const ignored = (p: string, st?: Stats): boolean => {
      if (!st) return false;
      const rel = toSessionKey(path.relative(root, p));
      if (rel === null) return true;
      if (rel === '') return false;
      if (st.isDirectory()) return !mayContainSessions(rel);
      if (!st.isFile() || !parseSessionPath(rel)) return true;
      // Cold files are left to the directory watch and the rescan.
      return Date.now() - st.mtimeMs > opts.hotWindowMs;
    };
    let watcher: FSWatcher;
    try {
      watcher = watch(root, {
        ignoreInitial: true,
        followSymlinks: false,
        alwaysStat: true,
        ignored,
        // Never awaitWriteFinish: it never fires on a file appended every 200 ms.
        awaitWriteFinish: false,
        atomic: false,
      });
    } catch (err) {
      degrade(status, log, `watcher failed to start: ${(err as Error).message}`);
      return () => undefined;
    }
    const emit = (abs: string, reason: FileHint['reason']) => {
      const key = sessionKeyOf(root, abs);
      if (!key) return;
      status.events++;
      if (reason !== 'unlink') lastActive.set(abs, Date.now());
      else lastActive.delete(abs);
      status.hotFiles = lastActive.size;
      subscriber.next(hint(key, reason));
    };
    watcher.on('add', (p) => emit(p, 'add'));
    watcher.on('change', (p) => emit(p, 'change'));
    watcher.on('unlink', (p) => emit(p, 'unlink'));
    watcher.on('raw', (event, p, details) => {
      const dir = (details as { watchedPath?: string })?.watchedPath;
      if (!dir || !p || path.isAbsolute(p)) return;
      if (!p.endsWith('.jsonl')) return;
      emit(path.join(dir, p), 'dir-event');
    });
    watcher.on('error', (err) => {
      status.errors++;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EMFILE') {
        degrade(status, log, `${code}: inotify watch limit reached; falling back to rescans`);
      } else if (status.errors <= 5) {
        log.warn({ err: (err as Error).message, code }, 'watcher error');
      }
    });
    watcher.on('ready', () => {
      if (status.state === 'starting') status.state = 'ok';
      opts.onReady?.();
    });
    // Fault injection (test/reliability/faults.test.ts): report this error code once the watcher is
    // up, as the kernel would with an inotify watch limit of 0 (ENOSPC) or no descriptors left (EMFILE).
    const fault = process.env.SESSION_PIPELINE_FAULT_WATCH_ERROR;
    if (fault) {
      setImmediate(() => watcher.emit('error', Object.assign(new Error(`${fault}: injected by SESSION_PIPELINE_FAULT_WATCH_ERROR`), { code: fault })));
    }

    // Demote files that went cold, so the watch set stays the hot set.
    const demoter = setInterval(() => {
      const cutoff = Date.now() - opts.hotWindowMs;
      for (const [abs, t] of lastActive) {
        if (t >= cutoff) continue;
        lastActive.delete(abs);
        watcher.unwatch(abs);
        // unwatch() records the path as ignored; undo that so the directory watch can promote it again.
        (watcher as unknown as { _removeIgnoredPath?: (p: string) => void })._removeIgnoredPath?.(abs);
      }
      status.hotFiles = lastActive.size;
    }, Math.max(1000, Math.min(opts.hotWindowMs, 60_000)));
    demoter.unref();

    return () => {
      clearInterval(demoter);
      void watcher.close();
    };
  });
}

function degrade(status: WatcherStatus, log: Logger, reason: string): void {
  if (status.state === 'degraded') return;
  status.state = 'degraded';
  status.reason = reason;
  log.error({ reason }, 'file watcher degraded; changes are found by rescans only');
}

export interface RescanResult {
  files: number;
  hinted: number;
  durationMs: number;
}

/**
 * Stat-only rescan: walk the root and hint every file whose size, mtime or
 * inode differs from a processor's checkpoint, plus files that are gone and
 * retries that are due. Yields to the event loop between slices, so a scan
 * of 50k files never holds it for long.
 */
export async function rescan(
  pipeline: Pipeline,
  emit: (h: FileHint) => void,
  reason: FileHint['reason'],
  /** Told every walked file's stat, and null for known files the walk confirms are gone (lag metrics). */
  onStat?: (sessionFile: string, stat: FileStat | null) => void,
  known?: ReadonlyMap<string, unknown>,
): Promise<RescanResult> {
  const started = Date.now();
  const walk = await pipeline.scan();
  const now = Date.now();
  let hinted = 0;
  const slice = 2000;
  for (let i = 0; i < walk.files.length; i += slice) {
    const t0 = Date.now();
    for (const f of walk.files.slice(i, i + slice)) {
      onStat?.(f.ref.sessionFile, f.stat);
      for (const p of pipeline.processors) {
        const cp = pipeline.checkpoints.get(p.name, f.ref.sessionFile);
        const moved =
          !cp ||
          cp.processorVersion !== p.version ||
          cp.size !== f.stat.size ||
          cp.mtimeMs !== f.stat.mtimeMs ||
          cp.inode !== f.stat.ino ||
          cp.status === 'deleted' ||
          (cp.status === 'retrying' && (cp.nextAttemptAt ?? 0) <= now);
        if (moved) {
          emit(hint(f.ref.sessionFile, reason));
          hinted++;
          break;
        }
      }
    }
    if (Date.now() - t0 > 0 || i + slice < walk.files.length) await new Promise((r) => setImmediate(r));
  }
  for (const file of pipeline.missingFiles(walk)) {
    const live = pipeline.processors.some((p) => {
      const cp = pipeline.checkpoints.get(p.name, file);
      return cp && cp.status !== 'deleted';
    });
    if (live) {
      emit(hint(file, reason));
      hinted++;
    }
  }
  if (onStat && known) {
    const found = new Set(walk.files.map((f) => f.ref.sessionFile));
    for (const file of [...known.keys()]) if (!found.has(file) && isConfirmedMissing(file, walk)) onStat(file, null);
  }
  return { files: walk.files.length, hinted, durationMs: Date.now() - started };
}
