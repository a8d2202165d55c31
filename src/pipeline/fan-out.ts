/**
 * Fan-out: what one processor makes of one read batch of a file. The same
 * code runs on the main thread (file-run.ts) and in worker threads
 * (workers/worker.ts), so a file gives the same units either way.
 */
import type { Processor } from './processor.js';
import type { SessionFileRef } from '../discover/session-path.js';
import type { UnitOfWork } from './unit.js';
import type { ReadBatch } from '../read/reader.js';
import { BAD_LINES_KEPT_PER_FILE, BAD_LINES_TABLE } from '../state/checkpoint.js';
import { retractFile } from './registration.js';

/** One processor's position in a pass over a file. */
export interface Cursor {
  p: Processor;
  /** The offset this processor's pass starts at. */
  from: number;
  carry: unknown;
  /** The first unit retracts the file's earlier outputs (rewritten, truncated, version). */
  retractPending: boolean;
  /**
   * Bad lines this processor has counted in the file before this batch (its checkpoint's;
   * 0 after a retraction): only the first BAD_LINES_KEPT_PER_FILE get a journal row.
   */
  badLines?: number;
}

export interface Applied {
  lines: number;
  bad: number;
  /** Offset and bytes of this processor's share of the batch. */
  offset: number;
  bytes: number;
}

/**
 * Apply one batch to one processor, staging into `unit`: the retraction first
 * if pending, then the batch's lines from the processor's offset, then its bad
 * lines. Returns null when the batch is wholly before the processor's offset
 * and not the last (every pass ends with a checkpoint, so size and mtime are
 * recorded). Throws what the processor throws; the cursor is then unusable.
 */
export async function applyBatch(c: Cursor, batch: ReadBatch, ref: SessionFileRef, unit: UnitOfWork): Promise<Applied | null> {
  const start = c.from;
  if (batch.toOffset <= start && !batch.last) return null;
  const lines = start <= batch.fromOffset ? batch.lines : batch.lines.filter((l) => l.offset >= start);
  const bad = start <= batch.fromOffset ? batch.bad : batch.bad.filter((b) => b.offset >= start);
  if (c.retractPending) {
    unit.retracts = true;
    await retractFile(c.p, ref.sessionFile, unit);
    unit.run('DELETE FROM session_bad_lines WHERE processor_name = $1 AND session_file = $2', [c.p.name, ref.sessionFile]);
    c.retractPending = false;
  }
  if (lines.length > 0 || bad.length > 0) {
    await c.p.process(
      {
        file: ref,
        lines,
        bad,
        fromOffset: Math.max(start, batch.fromOffset),
        toOffset: Math.max(start, batch.toOffset),
        carry: c.carry as never,
      },
      unit,
    );
  }
  // The first BAD_LINES_KEPT_PER_FILE of the file get a row (with their offsets); the checkpoint counts them all.
  const counted = c.badLines ?? 0;
  const keep = Math.min(bad.length, Math.max(0, BAD_LINES_KEPT_PER_FILE - counted));
  for (let i = 0; i < keep; i++) {
    const b = bad[i];
    unit.insert(BAD_LINES_TABLE.name, [c.p.name, ref.sessionFile, b.offset, b.length, b.kind, b.detail]);
  }
  c.badLines = counted + bad.length;
  if (unit.carrySet) c.carry = unit.carry;
  return {
    lines: lines.length,
    bad: bad.length,
    offset: Math.max(start, batch.toOffset),
    bytes: Math.max(0, batch.toOffset - Math.max(start, batch.fromOffset)),
  };
}
