/**
 * The last stat the daemon saw of each session file (rescans, state checks,
 * runs). Lag metrics and the admin API read it; the rescan uses its marks to
 * find known files a walk did not meet, without building a set of the files
 * it did meet.
 *
 * Kept per directory, then per file name: a rescan looks each file up by the
 * name readdir gave it, in a table of one directory's files, instead of
 * building its key and probing a 50k-entry table (that probe was the largest
 * single cost of an idle rescan after lstat itself).
 *
 * Each entry also remembers whether every processor had caught up with that
 * stat when the rescan last asked. Until the stat or one of the file's
 * checkpoints changes (invalidate), the answer cannot change, so an idle
 * rescan touches nothing but this table: reading each file's checkpoints
 * again was a fifth of an idle rescan's CPU.
 */
import { fileStatOf, sameStat, type FileStat } from '../discover/file-stat.js';
import { monoNow } from '../loop/clock.js';
import { splitSessionKey } from '../discover/session-path.js';

interface Seen extends FileStat {
  /** The scan during which this file was last seen or changed. */
  scan: number;
  /** Every processor's checkpoint matched this stat when last asked, and none has changed since. */
  caughtUp: boolean;
  /** When this stat was first seen, on the monotonic clock: how long the file has been quiet, as seen here. */
  since: number;
}

/** What noteIn learnt: the stat is as last seen and the file had caught up, as last seen, or new / changed. */
export const SAME_CAUGHT_UP = 0;
export const SAME = 1;
export const CHANGED = 2;
export type Note = typeof SAME_CAUGHT_UP | typeof SAME | typeof CHANGED;

/** One directory's files, by name. */
export type SeenDir = Map<string, Seen>;

export class SeenFiles implements Iterable<[string, FileStat]> {
  private readonly byDir = new Map<string, SeenDir>();
  private scan = 0;
  private count = 0;
  /** Entries marked by the current scan. */
  private marked = 0;
  /** Files forgotten (found gone) since takeForgotten(). */
  private forgotten = new Set<string>();

  /** Start a scan: from now on, everything noted counts as seen by it. */
  beginScan(): number {
    this.marked = 0;
    return ++this.scan;
  }

  /** How many known files the current scan has not met (yet): notSeenIn is empty when 0. */
  get unmet(): number {
    return this.count - this.marked;
  }

  /**
   * Record a stat (null: the file is gone). Returns whether it differs from
   * what was seen before, so unchanged files cost their caller nothing more.
   */
  note(sessionFile: string, stat: FileStat | null): boolean {
    const [dir, name] = splitSessionKey(sessionFile);
    if (stat) return this.noteIn(this.dir(dir), name, stat) === CHANGED;
    // An emptied directory keeps its (empty) table: a rescan may hold it across a yield, and
    // entries it adds to a table no longer in the map would be lost.
    const table = this.byDir.get(dir);
    const prev = table?.get(name);
    if (!prev) return false;
    table!.delete(name);
    this.count--;
    if (prev.scan === this.scan) this.marked--;
    this.forgotten.add(sessionFile);
    return true;
  }

  /** The files found gone since the last call: a rescan keeps asking about those that may still have work. */
  takeForgotten(): Set<string> {
    const out = this.forgotten;
    this.forgotten = new Set();
    return out;
  }

  /** The table of one directory, created if new: look it up once per directory, then noteIn. */
  dir(dir: string): SeenDir {
    let table = this.byDir.get(dir);
    if (!table) this.byDir.set(dir, (table = new Map()));
    return table;
  }

  /** note() for a file of a directory table from dir(), telling also whether it had caught up. */
  noteIn(table: SeenDir, name: string, stat: FileStat): Note {
    const prev = table.get(name);
    if (prev) {
      if (prev.scan !== this.scan) {
        prev.scan = this.scan;
        this.marked++;
      }
      if (sameStat(prev, stat)) return prev.caughtUp ? SAME_CAUGHT_UP : SAME;
      prev.size = stat.size;
      prev.mtimeMs = stat.mtimeMs;
      prev.ctimeMs = stat.ctimeMs;
      prev.ino = stat.ino;
      prev.caughtUp = false;
      prev.since = monoNow();
      return CHANGED;
    }
    // Every field named, not spread from fileStatOf: an object built by spreading got a hidden
    // class of its own (9 shapes among 50 entries; a heap snapshot at 20k files held 20k of them,
    // ~300 bytes a file in maps and descriptor arrays), a literal gets the one shape all share.
    table.set(name, { size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, ino: stat.ino, scan: this.scan, caughtUp: false, since: monoNow() });
    this.count++;
    this.marked++;
    return CHANGED;
  }

  /** Every processor has caught up with the stat last noted (the caller asked the checkpoints). */
  caughtUpIn(table: SeenDir, name: string): void {
    const s = table.get(name);
    if (s) s.caughtUp = true;
  }

  /** A checkpoint of the file changed: its answer must be asked again. Returns whether the file is known. */
  invalidate(dir: string, name: string): boolean {
    const s = this.byDir.get(dir)?.get(name);
    if (!s) return false;
    s.caughtUp = false;
    return true;
  }

  /** Every checkpoint may have changed. */
  invalidateAll(): void {
    for (const table of this.byDir.values()) for (const s of table.values()) s.caughtUp = false;
  }

  get(sessionFile: string): FileStat | undefined {
    const [dir, name] = splitSessionKey(sessionFile);
    const s = this.byDir.get(dir)?.get(name);
    return s && fileStatOf(s);
  }

  /** How long the file has had its last seen stat, as this process saw it (0 if unknown). */
  seenForMs(sessionFile: string): number {
    const [dir, name] = splitSessionKey(sessionFile);
    const s = this.byDir.get(dir)?.get(name);
    return s ? monoNow() - s.since : 0;
  }

  has(sessionFile: string): boolean {
    const [dir, name] = splitSessionKey(sessionFile);
    return this.hasIn(dir, name);
  }

  hasIn(dir: string, name: string): boolean {
    return this.byDir.get(dir)?.has(name) ?? false;
  }

  get size(): number {
    return this.count;
  }

  /** Known files not seen since `scan` began. */
  *notSeenIn(scan: number): IterableIterator<string> {
    for (const [dir, table] of this.byDir) for (const [name, s] of table) if (s.scan < scan) yield `${dir}/${name}`;
  }

  *[Symbol.iterator](): IterableIterator<[string, FileStat]> {
    for (const [dir, table] of this.byDir) {
      for (const [name, s] of table) yield [`${dir}/${name}`, fileStatOf(s)];
    }
  }
}
