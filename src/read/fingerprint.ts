/**
 * Fingerprints prove that the committed prefix of a file is still the bytes
 * we processed, without rereading it: a hash of the head (first <= 4 KiB) and
 * a hash of the <= 4 KiB window that ends at the committed offset. An append
 * leaves both intact; a rewrite or a different file under the same name
 * almost always breaks one of them.
 */
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';

export const FINGERPRINT_BYTES = 4096;

export interface Fingerprints {
  headHash: string;
  tailHash: string;
}

export function hashBytes(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex');
}

/** Ranges to hash for a checkpoint at `offset`. Pure. */
export function fingerprintRanges(offset: number): { head: [number, number]; tail: [number, number] } {
  return {
    head: [0, Math.min(FINGERPRINT_BYTES, offset)],
    tail: [Math.max(0, offset - FINGERPRINT_BYTES), offset],
  };
}

function readRangeSync(fd: number, start: number, end: number): Buffer {
  const buf = Buffer.alloc(end - start);
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, start + got);
    if (n === 0) break;
    got += n;
  }
  return got === buf.length ? buf : buf.subarray(0, got);
}

/**
 * Read and hash the fingerprint ranges for `offset` from an open descriptor (two
 * page-sized reads); null if the file is shorter.
 */
export function probeFingerprintsSync(fd: number, offset: number): Fingerprints | null {
  if (offset === 0) return { headHash: '', tailHash: '' };
  const r = fingerprintRanges(offset);
  const head = readRangeSync(fd, r.head[0], r.head[1]);
  if (head.length < r.head[1] - r.head[0]) return null;
  const tail = r.tail[0] === r.head[0] && r.tail[1] === r.head[1] ? head : readRangeSync(fd, r.tail[0], r.tail[1]);
  if (tail.length < r.tail[1] - r.tail[0]) return null;
  return { headHash: hashBytes(head), tailHash: hashBytes(tail) };
}
