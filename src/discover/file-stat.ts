/** What one `lstat` says about a session file: the evidence the "unchanged" test compares with a checkpoint. */
export interface FileStat {
  size: number;
  mtimeMs: number;
  /**
   * The inode change time: set by the kernel on every write or metadata change, and not
   * settable by `touch`/utimes. A rewrite in place that restores the mtime (`touch -r`,
   * restores, rsync --inplace) keeps size, mtime and inode, and is caught by this alone.
   */
  ctimeMs: number;
  ino: number;
}

/**
 * The one "unchanged" test on two stats of a file: every check that a file is as last
 * seen (the rescan's seen files, lag, the requeue after a run) asks this, and the state
 * check asks it of a checkpoint's recorded stat (state/classify statMatches, through
 * statIs so that it allocates no FileStat per check).
 */
export function sameStat(a: FileStat, b: FileStat): boolean {
  return statIs(b, a.size, a.mtimeMs, a.ctimeMs, a.ino);
}

/** Whether `stat` is exactly the stat given by its fields (sameStat without an object). */
export function statIs(stat: FileStat, size: number, mtimeMs: number, ctimeMs: number, ino: number): boolean {
  return stat.size === size && stat.mtimeMs === mtimeMs && stat.ctimeMs === ctimeMs && stat.ino === ino;
}

/** The fields of a stat this code keeps (a Stats object carries thirty more). */
export function fileStatOf(s: FileStat): FileStat {
  return { size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino };
}
