/**
 * The last stat the daemon saw of each session file (rescans, state checks,
 * runs). Lag metrics and the admin API read it; the rescan uses its marks to
 * find known files a walk did not meet, without building a set of the files
 * it did meet.
 */
import type { FileStat } from '../state/classify.js';

interface Seen extends FileStat {
  /** The scan during which this file was last seen or changed. */
  scan: number;
}

export class SeenFiles implements Iterable<[string, FileStat]> {
  private readonly byFile = new Map<string, Seen>();
  private scan = 0;

  /** Start a scan: from now on, everything noted counts as seen by it. */
  beginScan(): number {
    return ++this.scan;
  }

  /**
   * Record a stat (null: the file is gone). Returns whether it differs from
   * what was seen before, so unchanged files cost their caller nothing more.
   */
  note(sessionFile: string, stat: FileStat | null): boolean {
    if (!stat) return this.byFile.delete(sessionFile);
    const prev = this.byFile.get(sessionFile);
    if (prev) {
      prev.scan = this.scan;
      if (prev.size === stat.size && prev.mtimeMs === stat.mtimeMs && prev.ino === stat.ino) return false;
      prev.size = stat.size;
      prev.mtimeMs = stat.mtimeMs;
      prev.ino = stat.ino;
      return true;
    }
    this.byFile.set(sessionFile, { size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, scan: this.scan });
    return true;
  }

  get(sessionFile: string): FileStat | undefined {
    const s = this.byFile.get(sessionFile);
    return s && { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino };
  }

  has(sessionFile: string): boolean {
    return this.byFile.has(sessionFile);
  }

  get size(): number {
    return this.byFile.size;
  }

  /** Known files not seen since `scan` began. */
  *notSeenIn(scan: number): IterableIterator<string> {
    for (const [file, s] of this.byFile) if (s.scan < scan) yield file;
  }

  *[Symbol.iterator](): IterableIterator<[string, FileStat]> {
    for (const [file, s] of this.byFile) yield [file, { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino }];
  }
}
