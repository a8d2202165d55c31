/**
 * File and directory names as session-key segments, and back. Node decodes names as
 * UTF-8, and a name that is not valid UTF-8 came back with U+FFFD in place of its bad
 * bytes: a path that does not exist, so such files were skipped without a word.
 *
 * A key segment is the name itself when the name is valid UTF-8 and holds no `%`.
 * Otherwise it is escaped: `%` as `%25` and, in a name that is not valid UTF-8, every
 * byte >= 0x80 as `%XX`. A segment with a `%` is always an escaped one, so the mapping
 * is one-to-one and a key always leads back to the exact bytes of its file. Pure.
 */
import { isUtf8 } from 'node:buffer';
import path from 'node:path';

/** A path for fs calls: a string, or the raw bytes of a path that is not valid UTF-8. */
export type FsPath = string | Buffer;

const PERCENT = 0x25;
const hex = (b: number) => '%' + b.toString(16).toUpperCase().padStart(2, '0');

/** The key segment of a raw name (from readdir with `encoding: 'buffer'`). */
export function segmentOfBytes(raw: Buffer): string {
  if (isUtf8(raw)) return segmentOfName(raw.toString('utf8'));
  let out = '';
  for (const b of raw) out += b >= 0x80 || b === PERCENT ? hex(b) : String.fromCharCode(b);
  return out;
}

/** The key segment of a name Node decoded exactly (valid UTF-8). */
export function segmentOfName(name: string): string {
  return name.includes('%') ? name.replaceAll('%', '%25') : name;
}

/**
 * Whether a decoded name may have lost bytes: Node puts U+FFFD for each invalid sequence.
 * (A name may also hold a real U+FFFD; its raw bytes tell, and are read only then.)
 */
export function mayBeLossy(name: string): boolean {
  return name.includes('\uFFFD');
}

/** Whether a key (or key segment) needs bytes, not a string, to reach its file. */
export function isEscaped(key: string): boolean {
  return key.includes('%');
}

/** The raw bytes of an escaped key or segment. */
export function bytesOfKey(key: string): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  while (i < key.length) {
    const j = key.indexOf('%', i);
    const end = j < 0 ? key.length : j;
    if (end > i) parts.push(Buffer.from(key.slice(i, end), 'utf8'));
    if (j < 0) break;
    const b = Number.parseInt(key.slice(j + 1, j + 3), 16);
    // Not one this module wrote: keep the `%` as it is rather than guess.
    if (Number.isNaN(b) || key.length < j + 3) {
      parts.push(Buffer.from('%'));
      i = j + 1;
    } else {
      parts.push(Buffer.of(b));
      i = j + 3;
    }
  }
  return Buffer.concat(parts);
}

/** The path of a relative key ('' is the root itself) under `root`: a string unless escaped. */
export function pathOfKey(root: string, key: string): FsPath {
  if (key === '') return root;
  if (!isEscaped(key)) return path.join(root, ...key.split('/'));
  return Buffer.concat([Buffer.from(root.endsWith(path.sep) ? root : root + path.sep), bytesOfKey(key.split('/').join(path.sep))]);
}

/** `parent` + separator + `name`, for a path that may be bytes. */
export function joinPath(parent: FsPath, name: string | Buffer): FsPath {
  if (typeof parent === 'string' && typeof name === 'string') return `${parent}${path.sep}${name}`;
  return Buffer.concat([Buffer.from(parent), Buffer.from(path.sep), Buffer.from(name)]);
}
