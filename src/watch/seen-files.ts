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
 */
import type { FileStat } from '../state/classify.js';
import { splitSessionKey } from '../discover/session-path.js';

interface Seen extends FileStat {
  /** The scan during which this file was last seen or changed. */
  scan: number;
}

/** One directory's files, by name. */
export type SeenDir = Map<string, Seen>;

export class SeenFiles implements Iterable<[string, FileStat]> {
  private readonly byDir = new Map<string, SeenDir>();
  private scan = 0;
  private count = 0;

  /** Start a scan: from now on, everything noted counts as seen by it. */
  beginScan(): number {
    return ++this.scan;
  }

  /**
   * Record a stat (null: the file is gone). Returns whether it differs from
   * what was seen before, so unchanged files cost their caller nothing more.
   */
  note(sessionFile: string, stat: FileStat | null): boolean {
    const [dir, name] = splitSessionKey(sessionFile);
    if (stat) return this.noteIn(this.dir(dir), name, stat);
    // An emptied directory keeps its (empty) table: a rescan may hold it across a yield, and
    // entries it adds to a table no longer in the map would be lost.
    if (!this.byDir.get(dir)?.delete(name)) return false;
    this.count--;
    return true;
  }

  /** The table of one directory, created if new: look it up once per directory, then noteIn. */
  dir(dir: string): SeenDir {
    let table = this.byDir.get(dir);
    if (!table) this.byDir.set(dir, (table = new Map()));
    return table;
  }

  /** note() for a file of a directory table from dir(). */
  noteIn(table: SeenDir, name: string, stat: FileStat): boolean {
    const prev = table.get(name);
    if (prev) {
      prev.scan = this.scan;
      if (prev.size === stat.size && prev.mtimeMs === stat.mtimeMs && prev.ino === stat.ino) return false;
      prev.size = stat.size;
      prev.mtimeMs = stat.mtimeMs;
      prev.ino = stat.ino;
      return true;
    }
    table.set(name, { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, scan: this.scan });
    this.count++;
    return true;
  }

  get(sessionFile: string): FileStat | undefined {
    const [dir, name] = splitSessionKey(sessionFile);
    const s = this.byDir.get(dir)?.get(name);
    return s && { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino };
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
      for (const [name, s] of table) yield [`${dir}/${name}`, { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino }];
    }
  }
}
