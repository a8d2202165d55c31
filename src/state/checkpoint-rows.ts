/**
 * The checkpoint cache's storage: every cached checkpoint as one row of a few
 * typed columns, read back as a fresh Checkpoint object when asked for.
 *
 * Why not keep the objects: a daemon holds a checkpoint per (processor, file)
 * for its whole life, and nearly all of them are of idle files. As objects,
 * 60,600 of them (20,200 files x 3 processors) were ~25 MB of live heap: 184
 * bytes an object plus ~7.7 boxed doubles (mtime, ctime, inode, processed_at
 * do not fit a small integer), 466,000 heap numbers in a heap snapshot. As
 * rows they are 10 doubles, 2 int32, 1 byte and 5 references: 129 bytes.
 *
 * Pure: no I/O. A row is written whole (`write`) and read whole (`read`); the
 * caller (checkpoints.ts) decides which row is whose.
 */
import type { Checkpoint, CheckpointStatus } from './checkpoint.js';

const STATUSES: readonly CheckpointStatus[] = ['ok', 'retrying', 'quarantined', 'deleted'];
const STATUS_CODE = new Map(STATUSES.map((s, i) => [s, i]));

/** Doubles per row: offset, size, mtime, ctime, inode, lines, items, bad lines, processed at, next attempt at. */
const NUMS = 10;
/** Int32 per row: processor version, attempts. */
const INTS = 2;
/** References per row: owner, head hash, tail hash, last error, carry. */
const REFS = 5;

/** A nullable epoch ms: NaN stands for null (no timestamp is NaN). */
const toCell = (v: number | null): number => (v === null ? NaN : v);
const fromCell = (v: number): number | null => (Number.isNaN(v) ? null : v);

export class CheckpointRows {
  private nums = new Float64Array(0);
  private ints = new Int32Array(0);
  private status = new Uint8Array(0);
  /** Packed, grown by push: a holey or preallocated array of references costs the same per slot, but push keeps it packed. */
  private refs: unknown[] = [];
  private rows = 0;

  get size(): number {
    return this.rows;
  }

  /** A new row, to `write` before it is read. */
  add(): number {
    if (this.rows === this.status.length) this.grow(Math.max(1024, this.rows * 2));
    for (let i = 0; i < REFS; i++) this.refs.push(undefined);
    return this.rows++;
  }

  write(row: number, cp: Checkpoint): void {
    const code = STATUS_CODE.get(cp.status);
    if (code === undefined) throw new Error(`checkpoint of ${cp.sessionFile} has an unknown status ${String(cp.status)}`);
    const n = row * NUMS;
    const { nums, ints, refs } = this;
    nums[n] = cp.offset;
    nums[n + 1] = cp.size;
    nums[n + 2] = cp.mtimeMs;
    nums[n + 3] = cp.ctimeMs;
    nums[n + 4] = cp.inode;
    nums[n + 5] = cp.linesProcessed;
    nums[n + 6] = cp.itemsProcessed;
    nums[n + 7] = cp.badLines;
    nums[n + 8] = toCell(cp.processedAt);
    nums[n + 9] = toCell(cp.nextAttemptAt);
    ints[row * INTS] = cp.processorVersion;
    ints[row * INTS + 1] = cp.attempts;
    this.status[row] = code;
    const r = row * REFS;
    refs[r] = cp.owner;
    refs[r + 1] = cp.headHash;
    refs[r + 2] = cp.tailHash;
    refs[r + 3] = cp.lastError;
    refs[r + 4] = cp.carry;
  }

  /** The row as a Checkpoint of its own: changing it changes nothing here (commit it to move it). */
  read(row: number, processorName: string, sessionFile: string): Checkpoint {
    const n = row * NUMS;
    const r = row * REFS;
    const { nums, ints, refs } = this;
    return {
      processorName,
      sessionFile,
      owner: refs[r] as string,
      offset: nums[n],
      headHash: refs[r + 1] as string,
      tailHash: refs[r + 2] as string,
      size: nums[n + 1],
      mtimeMs: nums[n + 2],
      ctimeMs: nums[n + 3],
      inode: nums[n + 4],
      linesProcessed: nums[n + 5],
      itemsProcessed: nums[n + 6],
      badLines: nums[n + 7],
      processorVersion: ints[row * INTS],
      processedAt: fromCell(nums[n + 8]),
      status: STATUSES[this.status[row]],
      attempts: ints[row * INTS + 1],
      lastError: refs[r + 3] as string | null,
      nextAttemptAt: fromCell(nums[n + 9]),
      carry: refs[r + 4],
    };
  }

  clear(): void {
    this.nums = new Float64Array(0);
    this.ints = new Int32Array(0);
    this.status = new Uint8Array(0);
    this.refs = [];
    this.rows = 0;
  }

  private grow(capacity: number): void {
    const nums = new Float64Array(capacity * NUMS);
    nums.set(this.nums);
    this.nums = nums;
    const ints = new Int32Array(capacity * INTS);
    ints.set(this.ints);
    this.ints = ints;
    const status = new Uint8Array(capacity);
    status.set(this.status);
    this.status = status;
  }
}
