/**
 * Whether the database file is still the one the daemon opened. DuckDB keeps writing to
 * its open file descriptor after the file is deleted (or replaced by a restore), so every
 * later commit went to an unlinked inode and was lost at exit, while /health said ok.
 * One lstat of the path every few seconds notices it; the daemon then reports it and
 * stops, so a supervisor restarts it onto a fresh file that it rebuilds from the transcripts.
 */
import fs from 'node:fs';

export interface FileIdentity {
  dev: number;
  ino: number;
}

/** How often the daemon looks at its database path: one lstat, ~10 us. */
export const DB_FILE_CHECK_MS = 2000;

export function fileIdentity(p: string): FileIdentity | null {
  try {
    const s = fs.lstatSync(p);
    return { dev: s.dev, ino: s.ino };
  } catch {
    return null;
  }
}

/** Pure: what happened to the file opened as `opened`, given what the path is now (null: nothing there). */
export function dbFileProblem(dbPath: string, opened: FileIdentity, now: FileIdentity | null): string | null {
  if (now === null) return `the database file ${dbPath} was deleted while open; nothing committed from now on would be kept`;
  if (now.dev !== opened.dev || now.ino !== opened.ino) {
    return `the database file ${dbPath} was replaced by another file while open; commits go to the old one`;
  }
  return null;
}
