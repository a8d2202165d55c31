/**
 * Fingerprints prove that the committed prefix of a file is still the bytes
 * we processed, without rereading it: a hash of the head (first <= 4 KiB) and
 * a hash of the <= 4 KiB window that ends at the committed offset. An append
 * leaves both intact; a rewrite or a different file under the same name
 * almost always breaks one of them.
 */
import { hash } from 'node:crypto';
import { readSync } from 'node:fs';

export const FINGERPRINT_BYTES = 4096;

export interface Fingerprints {
  headHash: string;
  tailHash: string;
}

/**
 * One-shot: `crypto.hash` keeps no Hash object, each of which held an OpenSSL context in native
 * memory until a garbage collection freed it (two per live run, 400 a second under bench:live-cost).
 */
export function hashBytes(bytes: Uint8Array): string {
  return hash('sha1', bytes, 'hex');
}

/** Ranges to hash for a checkpoint at `offset`. Pure. */
export function fingerprintRanges(offset: number): { head: [number, number]; tail: [number, number] } {
  return {
    head: [0, Math.min(FINGERPRINT_BYTES, offset)],
    tail: [Math.max(0, offset - FINGERPRINT_BYTES), offset],
  };
}

// One per thread, reused: each range is hashed before the next is read into it. A buffer per read
// was two 4 KiB native allocations a live run, freed in bulk by the garbage collector.
const range = Buffer.allocUnsafe(FINGERPRINT_BYTES);

function readRangeSync(fd: number, start: number, end: number): Buffer {
  const buf = range.subarray(0, end - start);
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
  const headHash = hashBytes(head);
  if (r.tail[0] === r.head[0] && r.tail[1] === r.head[1]) return { headHash, tailHash: headHash };
  const tail = readRangeSync(fd, r.tail[0], r.tail[1]);
  if (tail.length < r.tail[1] - r.tail[0]) return null;
  return { headHash, tailHash: hashBytes(tail) };
}
