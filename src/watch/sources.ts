/**
 * Where hints come from (`--watcher`): `inotify`, below, the default on
 * Linux; `chokidar` (chokidar-source.ts), the default elsewhere; or `off`,
 * rescans only. Both sources feed the same hint stream.
 *
 * The inotify source: one inotify watch per directory that can hold
 * sessions, whose events name the file that was created, modified, renamed
 * or deleted.
 *
 * Files are never watched one by one: that costs an inotify watch per file
 * (~9 KB each; 176 MB for 20k files). chokidar was the first choice, but it
 * answers every event in a directory by re-reading and lstat-ing the whole
 * directory through the libuv threadpool (its readdirp always stats): with
 * 200 live files among 20k idle ones that was ~20k lstat/s, a core of CPU,
 * and DuckDB commits starved for 10-25 s (bench/latency: p50 31 s). A
 * directory's own events already carry the file name, so a hint costs
 * nothing more than the event. The rescan (rescan.ts) covers whatever
 * events miss (queue overflow, ENOSPC, a dropped event).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Observable } from 'rxjs';
import type { Logger } from 'pino';
import { hint, type FileHint } from './hint.js';
import { mayContainSessions, parseSessionPath, toSessionKey } from '../discover/session-path.js';
import type { WatcherSource } from '../config/config.js';
import { chokidarHints } from './chokidar-source.js';
import { mayBeLossy, pathOfKey, segmentOfName } from '../discover/names.js';

export interface WatcherStatus {
  /** Which source runs (`--watcher`). */
  source: WatcherSource;
  /** chokidar only: polling every this many ms (0 = native events). */
  pollMs?: number;
  state: 'starting' | 'ok' | 'degraded' | 'off';
  reason?: string;
  events: number;
  errors: number;
  /** Directories under watch (one inotify watch each). */
  watchedDirs: number;
}

export interface DirectorySourceOptions {
  root: string;
  log: Logger;
  status: WatcherStatus;
}

/** The configured source's hints; nothing for `off`. */
export function watchHints(source: WatcherSource, opts: DirectorySourceOptions & { pollMs: number }): Observable<FileHint> {
  const fault = process.env.SESSION_PIPELINE_FAULT_WATCH_ERROR;
  if (fault) {
    // Fault injection (test/reliability/faults.test.ts): behave as the kernel would with an
    // inotify watch limit of 0 (ENOSPC) or no descriptors left (EMFILE).
    return new Observable<FileHint>(() => {
      watchFailed(opts, Object.assign(new Error(`${fault}: injected by SESSION_PIPELINE_FAULT_WATCH_ERROR`), { code: fault }));
    });
  }
  if (source === 'chokidar') return chokidarHints(opts);
  if (source === 'inotify') return directoryHints(opts);
  return new Observable<FileHint>();
}

/** A watch error: out of watches or descriptors degrades to rescans only; others are logged (the first few). */
export function watchFailed(opts: DirectorySourceOptions, err: NodeJS.ErrnoException): void {
  const { status, log } = opts;
  status.errors++;
  if (err.code === 'ENOSPC' || err.code === 'EMFILE') {
    degrade(status, log, `${err.code}: ${status.source === 'inotify' ? 'inotify watch limit reached' : 'no watches or descriptors left'}; falling back to rescans`);
  } else if (status.errors <= 5) {
    log.warn({ err: err.message, code: err.code }, 'watcher error');
  }
}

/** Session key for an absolute path under the root, or null if it is not a session file. */
export function sessionKeyOf(root: string, absPath: string): string | null {
  const key = toSessionKey(path.relative(root, absPath));
  return key && parseSessionPath(key) ? key : null;
}

export function directoryHints(opts: DirectorySourceOptions): Observable<FileHint> {
  return new Observable<FileHint>((subscriber) => {
    const { root, status, log } = opts;
    const watchers = new Map<string, fs.FSWatcher>();
    let closed = false;

    const emit = (rel: string, reason: FileHint['reason']) => {
      if (!parseSessionPath(rel)) return;
      status.events++;
      subscriber.next(hint(rel, reason));
    };
    const unwatch = (rel: string) => {
      for (const [dir, w] of watchers) {
        if (dir === rel || dir.startsWith(rel + '/')) {
          w.close();
          watchers.delete(dir);
        }
      }
      status.watchedDirs = watchers.size;
    };
    const failed = (err: NodeJS.ErrnoException) => watchFailed(opts, err);
    /** Watch a directory and, below it, every directory that can hold sessions. */
    const watchDir = (rel: string, announce: boolean) => {
      if (closed || watchers.has(rel) || !mayContainSessions(rel) || status.state === 'degraded') return;
      const abs = pathOfKey(root, rel);
      let w: fs.FSWatcher;
      try {
        w = fs.watch(abs, { persistent: true }, (event, name) => onEvent(rel, event, name));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') failed(err as NodeJS.ErrnoException);
        return;
      }
      w.on('error', (err: NodeJS.ErrnoException) => {
        // The directory went away (or its watch broke): drop it; the rescan decides about its files.
        unwatch(rel);
        if (err.code !== 'ENOENT' && err.code !== 'EPERM') failed(err);
      });
      watchers.set(rel, w);
      status.watchedDirs = watchers.size;
      let entries: fs.Dirent[] = [];
      try {
        entries = fs.readdirSync(abs, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        // A name that did not decode is left to the rescan, which reads its bytes.
        if (mayBeLossy(e.name)) continue;
        const seg = segmentOfName(e.name);
        const child = rel === '' ? seg : `${rel}/${seg}`;
        // Dirent types come from lstat semantics: a symlinked directory is not followed.
        if (e.isDirectory()) watchDir(child, announce);
        // Files that appeared before this new directory's watch was set up produce no event.
        else if (announce && e.isFile()) emit(child, 'add');
      }
    };
    const onEvent = (dirRel: string, event: string, name: string | Buffer | null) => {
      if (!name || mayBeLossy(String(name))) return; // not valid UTF-8: the rescan finds it
      const seg = segmentOfName(String(name));
      const child = dirRel === '' ? seg : `${dirRel}/${seg}`;
      if (child.endsWith('.jsonl')) {
        emit(child, event === 'rename' ? 'add' : 'change');
        return;
      }
      if (event !== 'rename' || !mayContainSessions(child)) return;
      try {
        if (fs.lstatSync(pathOfKey(root, child)).isDirectory()) watchDir(child, true);
      } catch {
        unwatch(child);
      }
    };

    watchDir('', false);
    if (status.state === 'starting') status.state = 'ok';
    return () => {
      closed = true;
      for (const w of watchers.values()) w.close();
      watchers.clear();
    };
  });
}

function degrade(status: WatcherStatus, log: Logger, reason: string): void {
  if (status.state === 'degraded') return;
  status.state = 'degraded';
  status.reason = reason;
  log.error({ reason }, 'file watcher degraded; changes are found by rescans only');
}
