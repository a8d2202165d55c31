/**
 * What the session root is on disk. A root that is missing or is a regular file walks as
 * "0 session files", which `run --once` used to report as success and `watch` (on a file)
 * as running forever: both are configuration mistakes, named here in one line.
 */
import fs from 'node:fs';

export type RootState = 'dir' | 'missing' | 'not-dir' | 'unreadable';

/** stat, not lstat: the root itself may be a symlink to a directory (the walk follows it too). */
export function checkRoot(root: string): RootState {
  try {
    return fs.statSync(root).isDirectory() ? 'dir' : 'not-dir';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'missing' : code === 'ENOTDIR' ? 'not-dir' : 'unreadable';
  }
}

/** The one line for a root that cannot be walked. */
export function rootProblem(root: string, state: Exclude<RootState, 'dir'>): string {
  const setting = '(--root / SESSION_ROOT)';
  switch (state) {
    case 'missing':
      return `session root ${root} does not exist ${setting}`;
    case 'not-dir':
      return `session root ${root} is not a directory ${setting}: it must be the directory holding <owner>/<session>.jsonl`;
    case 'unreadable':
      return `session root ${root} cannot be read ${setting}`;
  }
}
