/**
 * Finding session files: a stat-only walk of the root. Symlinks are never
 * followed (a link could lead out of the root or into a loop), and only
 * directories that can hold sessions are entered.
 *
 * A directory or file that cannot be read is reported as *unknown*, never as
 * missing, so an EACCES or EMFILE during a scan can not make a file look
 * deleted.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { TimeSlicer } from '../loop/yield.js';
import path from 'node:path';
import { isSessionFileIn, mayContainSessions, parseSessionPath, type SessionFileRef } from './session-path.js';
import { fileStatOf, type FileStat } from './file-stat.js';
import { isEscaped, joinPath, mayBeLossy, pathOfKey, segmentOfBytes, segmentOfName, type FsPath } from './names.js';

export interface FoundFile {
  ref: SessionFileRef;
  absPath: FsPath;
  stat: FileStat;
}

/** What a walk learnt besides the files themselves: what it could not see. */
export interface WalkSummary {
  /** Session files found (and lstat'ed). */
  fileCount: number;
  /** Relative directories that could not be listed ('' is the root). */
  failedDirs: Map<string, string>;
  /** Session files that were listed but could not be stat'ed. */
  unknownFiles: Map<string, string>;
  symlinksSkipped: string[];
  rootMissing: boolean;
  /** The root is there but is not a directory (a regular file): nothing under it can be known. */
  rootNotDir: boolean;
  /** Names that are not valid UTF-8, walked under an escaped key (discover/names.ts). */
  nonUtf8Names: number;
  durationMs: number;
  /** Wall time the walk held the event loop (its slices, without the yields between them). */
  busyMs: number;
}

export interface WalkResult extends WalkSummary {
  /** Sorted by session key. */
  files: FoundFile[];
}

export interface WalkOptions {
  /** Longest stretch, in ms, the walk holds the event loop. */
  sliceMs?: number;
  /** Called after each directory so long scans can yield or report progress. */
  onProgress?: (filesSoFar: number) => void;
}

/**
 * Told each session file: its directory (relative to the root, the same string instance for
 * every file of that directory), its name, and its lstat. The key is `${dir}/${name}`, left to
 * the visitor to build: a rescan of unchanged files never needs it.
 */
export type FileVisitor = (dir: string, name: string, absPath: FsPath, stat: FileStat) => void;

/**
 * Walk the root and hand each session file's lstat to `visit` as it is
 * found. Nothing is accumulated per file, so a rescan of 50k files makes
 * only short-lived garbage.
 */
export async function visitRoot(root: string, visit: FileVisitor, opts: WalkOptions = {}): Promise<WalkSummary> {
  const started = Date.now();
  const result: WalkSummary = {
    fileCount: 0,
    failedDirs: new Map(),
    unknownFiles: new Map(),
    symlinksSkipped: [],
    rootMissing: false,
    rootNotDir: false,
    nonUtf8Names: 0,
    durationMs: 0,
    busyMs: 0,
  };
  const stack: string[] = [''];
  // Synchronous calls, sliced: a threadpool round trip per lstat costs far more than the
  // lstat itself, and 50k of them must neither take long nor hold the event loop.
  const slicer = new TimeSlicer(opts.sliceMs ?? 8);
  let sliceStart = performance.now();
  const pause = async (): Promise<void> => {
    result.busyMs += performance.now() - sliceStart;
    await slicer.yield();
    sliceStart = performance.now();
  };
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const abs = pathOfKey(root, rel);
    let entries: fs.Dirent[];
    try {
      if (slicer.due()) await pause();
      entries = fs.readdirSync(abs, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (rel === '' && code === 'ENOENT') result.rootMissing = true;
      else if (rel === '' && code === 'ENOTDIR') result.rootNotDir = true;
      else if (code !== 'ENOENT' && code !== 'ENOTDIR') result.failedDirs.set(rel, code ?? String(err));
      // ENOENT below the root: the directory went away between listing and reading.
      continue;
    }
    const dirParts = rel === '' ? [] : rel.split('/');
    /** One entry, by its key segment and its path (bytes when the name is not valid UTF-8). */
    const take = (e: fs.Dirent<string | Buffer>, seg: string, childAbs: FsPath): void => {
      if (e.isSymbolicLink()) {
        result.symlinksSkipped.push(rel === '' ? seg : `${rel}/${seg}`);
        return;
      }
      if (e.isDirectory()) {
        const childRel = rel === '' ? seg : `${rel}/${seg}`;
        if (mayContainSessions(childRel)) stack.push(childRel);
        return;
      }
      if (!e.isFile() || !isSessionFileIn(dirParts, seg)) return;
      try {
        // lstat: a file swapped for a symlink after listing is still not followed.
        const s = fs.lstatSync(childAbs);
        if (s.isFile()) {
          result.fileCount++;
          // The Stats object itself: a visitor that keeps a stat copies the fields it needs.
          visit(rel, seg, childAbs, s);
        } else if (s.isSymbolicLink()) result.symlinksSkipped.push(`${rel}/${seg}`);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') result.unknownFiles.set(`${rel}/${seg}`, code ?? String(err));
      }
    };
    let lossy = false;
    for (const e of entries) {
      const name = e.name;
      if (mayBeLossy(name)) {
        lossy = true; // its bytes are read below
        continue;
      }
      if (slicer.due()) await pause();
      // A name with `%` is escaped in its key (names.ts); its path is the name as it is.
      take(e, segmentOfName(name), joinPath(abs, name));
    }
    if (lossy) {
      // Rare: list again as bytes, and take each name that did not decode (it may be several
      // names that all decoded the same way).
      let raw: fs.Dirent<Buffer>[] = [];
      try {
        raw = fs.readdirSync(abs, { withFileTypes: true, encoding: 'buffer' });
      } catch {
        // Gone since the first listing: the next walk sees what is there.
      }
      for (const e of raw) {
        if (!mayBeLossy(e.name.toString('utf8'))) continue;
        const seg = segmentOfBytes(e.name);
        if (isEscaped(seg)) result.nonUtf8Names++;
        take(e, seg, joinPath(abs, e.name));
      }
    }
    opts.onProgress?.(result.fileCount);
  }
  result.busyMs += performance.now() - sliceStart;
  result.durationMs = Date.now() - started;
  return result;
}

/** Every session file under the root with its lstat, sorted by session key. */
export async function walkRoot(root: string, opts: WalkOptions = {}): Promise<WalkResult> {
  const files: FoundFile[] = [];
  const summary = await visitRoot(
    root,
    (dir, name, absPath, stat) => {
      const ref = parseSessionPath(`${dir}/${name}`);
      if (ref) files.push({ ref, absPath, stat: fileStatOf(stat) });
    },
    opts,
  );
  files.sort((a, b) => (a.ref.sessionFile < b.ref.sessionFile ? -1 : 1));
  return { ...summary, files };
}

/**
 * Whether a checkpointed file that the walk did not find is really gone, as
 * opposed to hidden behind a directory that could not be read.
 */
export function isConfirmedMissing(sessionFile: string, walk: WalkSummary): boolean {
  if (walk.rootMissing || walk.rootNotDir || walk.failedDirs.has('')) return false;
  if (walk.unknownFiles.has(sessionFile)) return false;
  const parts = sessionFile.split('/');
  for (let i = parts.length - 1; i >= 1; i--) {
    if (walk.failedDirs.has(parts.slice(0, i).join('/'))) return false;
  }
  return true;
}
