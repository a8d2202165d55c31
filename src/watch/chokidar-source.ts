/**
 * The chokidar source (`--watcher chokidar`): the portable one, for macOS and
 * for network filesystems (`--watch-poll-ms N` polls instead of native events).
 *
 * It costs more than the inotify source on Linux: chokidar answers every event
 * in a directory by re-reading and lstat-ing the whole directory (readdirp
 * always stats), and passes only the first `change` per file per 50 ms. Both
 * are fine here: its events are hints like any other, the run after a hint
 * stats the file again and requeues it if it moved, and the rescan covers
 * whatever is missed. Directories that cannot hold sessions and files that are
 * not `.jsonl` are ignored, so chokidar keeps no state for them.
 */
import path from 'node:path';
import { Observable } from 'rxjs';
import { watch } from 'chokidar';
import { hint, type FileHint } from './hint.js';
import { mayContainSessions, toSessionKey } from '../discover/session-path.js';
import { sessionKeyOf, watchFailed, type DirectorySourceOptions } from './sources.js';

export function chokidarHints(opts: DirectorySourceOptions & { pollMs: number }): Observable<FileHint> {
  return new Observable<FileHint>((subscriber) => {
    const { root, status } = opts;
    const rel = (abs: string) => toSessionKey(path.relative(root, abs)) ?? '';
    const w = watch(root, {
      ignoreInitial: true, // the daemon's initial scan finds what is there
      persistent: true,
      followSymlinks: false,
      usePolling: opts.pollMs > 0,
      interval: opts.pollMs > 0 ? opts.pollMs : undefined,
      ignored: (p, stats) => {
        if (!stats || p === root) return false;
        if (stats.isDirectory()) return !mayContainSessions(rel(p));
        return !p.endsWith('.jsonl');
      },
    });
    const emit = (abs: string, reason: FileHint['reason']) => {
      const key = sessionKeyOf(root, abs);
      if (!key) return;
      status.events++;
      subscriber.next(hint(key, reason));
    };
    w.on('add', (p) => emit(p, 'add'));
    w.on('change', (p) => emit(p, 'change'));
    w.on('unlink', (p) => emit(p, 'unlink'));
    w.on('addDir', () => status.watchedDirs++);
    w.on('unlinkDir', () => (status.watchedDirs = Math.max(0, status.watchedDirs - 1)));
    w.on('error', (err) => watchFailed(opts, err as NodeJS.ErrnoException));
    w.on('ready', () => {
      // ignoreInitial hides the directories found at start from addDir: count them once here.
      status.watchedDirs = Object.keys(w.getWatched()).length;
      if (status.state === 'starting') status.state = 'ok';
    });
    return () => {
      void w.close();
    };
  });
}
