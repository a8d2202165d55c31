/**
 * Line framing over a byte stream. Pure: chunks in, frames out.
 *
 * A frame is a complete line (ending at a `\n` byte). Bytes after the last
 * `\n` stay pending and are never emitted, so an offset derived from frames
 * always ends just after a newline. A line longer than `maxLineBytes` is not
 * buffered: the framer switches to skipping until its `\n` and then emits an
 * `oversize` frame with the line's offset and length, which keeps memory
 * bounded by `maxLineBytes` whatever the file.
 */

export type Frame =
  | { kind: 'line'; offset: number; bytes: Buffer }
  | { kind: 'oversize'; offset: number; length: number };

const NL = 0x0a;

export class LineFramer {
  /** Offset of the first byte not yet emitted as part of a frame. */
  private lineStart: number;
  /** Partial line bytes (only while not skipping). */
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private skipping = false;

  constructor(
    startOffset: number,
    private readonly maxLineBytes: number,
  ) {
    this.lineStart = startOffset;
  }

  /** Offset just after the last complete line: the only safe place to checkpoint. */
  get committedOffset(): number {
    return this.lineStart;
  }

  /** Bytes buffered or skipped past `committedOffset`, waiting for a `\n`. */
  get pendingBytes(): number {
    return this.pendingLen;
  }

  push(chunk: Buffer, out: Frame[]): void {
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NL, pos);
      if (nl === -1) {
        this.hold(chunk, pos, chunk.length);
        return;
      }
      const end = nl + 1;
      if (this.skipping) {
        const length = this.pendingLen + (end - pos);
        out.push({ kind: 'oversize', offset: this.lineStart, length });
        this.resetPending(length);
      } else if (this.pendingLen > 0) {
        const length = this.pendingLen + (end - pos);
        if (length > this.maxLineBytes) {
          out.push({ kind: 'oversize', offset: this.lineStart, length });
        } else {
          this.pending.push(chunk.subarray(pos, end));
          out.push({ kind: 'line', offset: this.lineStart, bytes: Buffer.concat(this.pending, length) });
        }
        this.resetPending(length);
      } else {
        const length = end - pos;
        if (length > this.maxLineBytes) out.push({ kind: 'oversize', offset: this.lineStart, length });
        else out.push({ kind: 'line', offset: this.lineStart, bytes: chunk.subarray(pos, end) });
        this.lineStart += length;
      }
      pos = end;
    }
  }

  private hold(chunk: Buffer, from: number, to: number): void {
    const n = to - from;
    this.pendingLen += n;
    if (this.skipping) return;
    if (this.pendingLen > this.maxLineBytes) {
      // Too long to ever be processed: stop buffering, just count until its newline.
      this.skipping = true;
      this.pending = [];
      return;
    }
    // Copy: the caller may reuse its read buffer for the next chunk.
    this.pending.push(Buffer.from(chunk.subarray(from, to)));
  }

  private resetPending(consumed: number): void {
    this.lineStart += consumed;
    this.pending = [];
    this.pendingLen = 0;
    this.skipping = false;
  }
}
