/**
 * The read loop: open a session file, read `[from, until)` in bounded chunks,
 * frame and parse lines, and hand out batches that each end on a line
 * boundary with the fingerprints of that boundary. The file descriptor lives
 * only as long as one pass over the file.
 */
import fs from 'node:fs';
import type { FsPath } from '../discover/names.js';
import { LineFramer, type Frame } from './framing.js';
import { parseFrame, type BadLine } from './parse.js';
import { probeFingerprintsSync, type Fingerprints } from './fingerprint.js';
import { TimeSlicer } from '../loop/yield.js';
import type { SessionLine } from './line.js';
import { compileLift, type LiftSpec } from './lift.js';

export interface ReadOptions {
  /** Bytes per read() call. */
  chunkBytes: number;
  /** Yield a batch once this many bytes of complete lines have accumulated. */
  batchBytes: number;
  maxLineBytes: number;
  /** What the processors read of string values (lift.ts); null or absent: parse lines whole. */
  lift?: LiftSpec | null;
}

export const DEFAULT_READ: ReadOptions = {
  chunkBytes: 1 << 20,
  // Parsed lines live until their batch is committed to a unit; small batches keep them out of
  // the old generation (measured: 4 MiB batches spent ~17% of a backfill in GC; 256 KiB less).
  batchBytes: 256 << 10,
  maxLineBytes: 32 << 20,
};

export interface ReadBatch {
  fromOffset: number;
  /** Just after the last complete line of this batch. */
  toOffset: number;
  lines: SessionLine[];
  bad: BadLine[];
  /** Bytes read from disk for this batch (may exceed toOffset - fromOffset by a pending partial line). */
  bytesRead: number;
  fingerprints: Fingerprints;
  /** True for the last batch of this pass. */
  last: boolean;
}

// One read buffer per thread, grown to the largest chunk asked for and shared by every read: each
// chunk is framed and parsed before the next await, and the framer copies what it keeps of a
// partial line. A buffer per run (200 a second under bench:live-cost, 4 KiB to 256 KiB each) was
// native memory freed only in bulk by the garbage collector, and fragmented glibc's heap.
let shared = Buffer.allocUnsafe(64 << 10);

function chunkBuffer(n: number): Buffer {
  if (shared.length < n) shared = Buffer.allocUnsafe(n);
  return shared.subarray(0, n);
}

/**
 * `firstLine`: the 1-based number of the line starting at `from` (the lines
 * before it, good and bad, plus one): every frame is one physical line, so
 * lines and bad lines are numbered as they are framed.
 */
export async function* readBatches(
  absPath: FsPath,
  from: number,
  until: number,
  opts: ReadOptions = DEFAULT_READ,
  firstLine = 1,
): AsyncGenerator<ReadBatch> {
  // Synchronous reads in bounded chunks, with the event loop given back between slices: far
  // cheaper than a threadpool round trip per read, and never blocking for long.
  const fd = fs.openSync(absPath, 'r');
  const slicer = new TimeSlicer();
  try {
    const framer = new LineFramer(from, opts.maxLineBytes);
    const frames: Frame[] = [];
    let lines: SessionLine[] = [];
    let bad: BadLine[] = [];
    let batchFrom = from;
    let batchBytes = 0;
    let bytesRead = 0;
    let pos = from;
    let lineNo = firstLine;
    const lift = opts.lift ? compileLift(opts.lift) : null;
    const buf = chunkBuffer(Math.max(4096, Math.min(opts.chunkBytes, until - from + 1)));
    let eof = false;
    while (!eof) {
      // Before every chunk, the first one included (many runs can start in one turn), and after the
      // consumer's work on a batch, which counts against this turn's budget too.
      if (slicer.due()) await slicer.yield();
      const want = Math.min(buf.length, until - pos);
      let n = 0;
      if (want > 0) n = fs.readSync(fd, buf, 0, want, pos);
      if (n === 0) eof = true;
      else {
        pos += n;
        bytesRead += n;
        frames.length = 0;
        framer.push(buf.subarray(0, n), frames);
        for (const f of frames) {
          const p = parseFrame(f, lineNo++, lift);
          if (p.ok) {
            lines.push(p.line);
            batchBytes += p.line.length;
          } else {
            bad.push(p.bad);
            batchBytes += p.bad.length;
          }
        }
        if (pos >= until) eof = true;
      }
      if (batchBytes >= opts.batchBytes || eof) {
        const toOffset = framer.committedOffset;
        const fingerprints = probeFingerprintsSync(fd, toOffset) ?? { headHash: '', tailHash: '' };
        yield { fromOffset: batchFrom, toOffset, lines, bad, bytesRead, fingerprints, last: eof };
        lines = [];
        bad = [];
        batchFrom = toOffset;
        batchBytes = 0;
        bytesRead = 0;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}
