/**
 * The checkpoint service: the committed checkpoints in memory, and the one way a
 * checkpoint-only change is committed (`commit`: a processor failure, a deleted file,
 * an operator's requeue). This process is the database's only writer, so after one
 * load at start the cache is authoritative: it is updated only when a commit succeeds,
 * and every classification reads it instead of querying the store per file.
 *
 * The commit itself is injected (`CommitCheckpoint`): it goes through the pipeline's
 * committer (src/pipeline/commit.ts), a layer above this one, so src/pipeline wires it
 * at open (pipeline.ts) and this module imports nothing from there. Before, "commit a
 * checkpoint-only unit, then update the cache" was written four times (three in
 * file-run.ts, one in ops/admin.ts).
 *
 * Keyed by directory, then file name, with one slot per processor: a rescan
 * asks about every processor of a file at once, and finds the file by the
 * name readdir gave it in its directory's small table. One probe of a
 * 50k-entry table by a freshly built key cost more than the rest of the
 * decision.
 *
 * The checkpoints themselves are rows (checkpoint-rows.ts), not the objects committed:
 * each read gives a fresh Checkpoint, so a caller may keep or change what it got without
 * touching the cache. 60,600 checkpoints as objects were ~25 MB of live heap.
 */
import type { Checkpoint } from './checkpoint.js';
import { splitSessionKey } from '../discover/session-path.js';
import { CheckpointRows } from './checkpoint-rows.js';

/** Every processor's checkpoint of one file, indexed by CheckpointService.slot(). */
export type Slots = (Checkpoint | undefined)[];

/** One directory's files, by name (their checkpoints read afresh at each `get`). */
export interface CheckpointDir {
  get(name: string): Readonly<Slots> | undefined;
}

/** Told of each change: a file's (directory, name), or undefined when every checkpoint went. */
export type CheckpointListener = (dir?: string, name?: string) => void;

/** Told of each commit: the checkpoint now cached, and the one it replaced (undefined: the first). */
export type CommittedListener = (cp: Checkpoint, previous: Checkpoint | undefined) => void;

/**
 * Stage a unit that ends at this checkpoint, under the file's lease token when the store
 * has leases: the unit given (a batch's rows), or one that carries only the checkpoint.
 * Resolves once the unit is queued (backpressure); `committed` settles with its
 * transaction. The pipeline gives the committer's (pipeline.ts); `U` is its unit of work.
 */
export interface CheckpointCommitter<U> {
  commit(cp: Checkpoint, lease: number | null, unit?: U): Promise<{ committed: Promise<void> }>;
  /**
   * Commit what is queued now, without waiting out a group interval: an operator's requeue
   * waits for its commits (under live load the interval is ~650 ms, commit-interval.ts).
   */
  flush?(): Promise<void>;
}

/** Which checkpoints an operator's requeue concerns: a processor's, a file's, or both (neither: all). */
export interface RequeueFilter {
  processor?: string;
  sessionFile?: string;
  /** Only these processors' checkpoints (the registered ones: a store can hold an old processor's). */
  among?: readonly string[];
}

export interface RequeueResult {
  /** The checkpoints as they were before the requeue. */
  requeued: Checkpoint[];
  failed: { checkpoint: Checkpoint; error: string }[];
}

/** How far ahead a retry must be for a requeue to take it: one already due may be running now. */
const DUE_SOON_MS = 50;

export class CheckpointService<U = unknown> {
  private readonly slotOf = new Map<string, number>();
  private readonly slotNames: string[] = [];
  /** Each directory's files, by name, as an index into `fileKey` and `fileRows`. */
  private readonly byDir = new Map<string, Map<string, number>>();
  /** Each file's session key (the string its first checkpoint came with). */
  private fileKey: string[] = [];
  /** Each file's row per slot, `stride` slots a file; -1: no checkpoint. */
  private fileRows = new Int32Array(0);
  private stride = 1;
  private readonly rows = new CheckpointRows();
  private readonly listeners = new Set<CheckpointListener>();
  private readonly committedListeners = new Set<CommittedListener>();

  constructor(
    initial: Map<string, Map<string, Checkpoint>> = new Map(),
    private readonly committer: CheckpointCommitter<U> | null = null,
    /** Processors whose slots come first (the pipeline's): each file's slots are sized for all of them at once. */
    processors: readonly string[] = [],
  ) {
    for (const p of processors) this.slot(p);
    for (const p of initial.keys()) this.slot(p);
    this.stride = Math.max(1, this.slotOf.size);
    for (const m of initial.values()) for (const cp of m.values()) this.set(cp);
  }

  /**
   * The one way a checkpoint moves: commit it (alone, or ending a unit of rows), then, once
   * committed, cache it. Resolves once queued; `committed` settles with the transaction, the
   * cache already updated.
   */
  async commit(cp: Checkpoint, lease: number | null = null, unit?: U): Promise<{ committed: Promise<void> }> {
    if (!this.committer) throw new Error('this checkpoint service has no committer');
    const { committed } = await this.committer.commit(cp, lease, unit);
    return {
      committed: committed.then(() => {
        const previous = this.committedListeners.size > 0 ? this.get(cp.processorName, cp.sessionFile) : undefined;
        this.set(cp);
        for (const l of this.committedListeners) l(cp, previous);
      }),
    };
  }

  /**
   * An operator's requeue: every quarantined checkpoint the filter names, and every one
   * retrying later than DUE_SOON_MS from now, is committed as 'retrying', attempts 0, due
   * now, so the classification processes the file again (status 'ok' would look
   * "unchanged"). The caller hints the requeued files.
   */
  async requeue(filter: RequeueFilter, now = Date.now()): Promise<RequeueResult> {
    const targets: Checkpoint[] = [];
    const consider = (cp: Checkpoint | undefined) => {
      if (!cp || (filter.processor !== undefined && cp.processorName !== filter.processor)) return;
      if (filter.among && !filter.among.includes(cp.processorName)) return;
      if (cp.status === 'quarantined' || (cp.status === 'retrying' && (cp.nextAttemptAt ?? 0) > now + DUE_SOON_MS)) targets.push(cp);
    };
    if (filter.sessionFile !== undefined) for (const cp of this.ofFile(filter.sessionFile) ?? []) consider(cp);
    else for (let f = 0; f < this.fileKey.length; f++) for (const cp of this.slotsOf(f)) consider(cp);
    const pending: Promise<void>[] = [];
    for (const cp of targets) {
      const { committed } = await this.commit({ ...cp, status: 'retrying', attempts: 0, nextAttemptAt: now });
      pending.push(committed);
    }
    // The units' failures reach `pending`; the flush itself has nothing to report.
    if (targets.length > 0) void this.committer?.flush?.()?.catch(() => undefined);
    const out: RequeueResult = { requeued: [], failed: [] };
    (await Promise.allSettled(pending)).forEach((r, i) => {
      if (r.status === 'fulfilled') out.requeued.push(targets[i]);
      else out.failed.push({ checkpoint: targets[i], error: (r.reason as Error).message });
    });
    return out;
  }

  /** The slot index of a processor: stable for the life of the cache. */
  slot(processor: string): number {
    let i = this.slotOf.get(processor);
    if (i === undefined) {
      this.slotOf.set(processor, (i = this.slotOf.size));
      this.slotNames.push(processor);
      // A processor met after the files were laid out (a store holding an old processor's rows).
      if (i >= this.stride && this.fileKey.length > 0) this.restride(i + 1);
    }
    return i;
  }

  get(processor: string, sessionFile: string): Checkpoint | undefined {
    const i = this.slotOf.get(processor);
    if (i === undefined) return undefined;
    const [dir, name] = splitSessionKey(sessionFile);
    const f = this.byDir.get(dir)?.get(name);
    return f === undefined ? undefined : this.read(f, i);
  }

  /** Every processor's checkpoint of one file, indexed by slot(); undefined if none has one. */
  ofFile(sessionFile: string): Readonly<Slots> | undefined {
    const [dir, name] = splitSessionKey(sessionFile);
    const f = this.byDir.get(dir)?.get(name);
    return f === undefined ? undefined : this.slotsOf(f);
  }

  /** One directory's files (look it up once per directory, then by name). */
  dir(dir: string): CheckpointDir | undefined {
    const table = this.byDir.get(dir);
    if (!table) return undefined;
    return { get: (name) => {
      const f = table.get(name);
      return f === undefined ? undefined : this.slotsOf(f);
    } };
  }

  set(cp: Checkpoint): void {
    const [dir, name] = splitSessionKey(cp.sessionFile);
    const slot = this.slot(cp.processorName);
    let table = this.byDir.get(dir);
    if (!table) this.byDir.set(dir, (table = new Map()));
    let f = table.get(name);
    if (f === undefined) table.set(name, (f = this.addFile(cp.sessionFile)));
    const at = f * this.stride + slot;
    let row = this.fileRows[at];
    if (row < 0) this.fileRows[at] = row = this.rows.add();
    this.rows.write(row, cp);
    for (const l of this.listeners) l(dir, name);
  }

  /** Forget every checkpoint: the state table was emptied under this cache (tests reset a database). */
  clear(): void {
    this.byDir.clear();
    this.fileKey = [];
    this.fileRows = new Int32Array(0);
    this.rows.clear();
    for (const l of this.listeners) l();
  }

  /** Be told of every change (the rescan keeps answers that hold until a checkpoint changes). Returns an unsubscribe. */
  onChange(listener: CheckpointListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Be told of each checkpoint committed through `commit`, with the one it replaced, once the
   * cache holds it (the lag tracker counts bytes and statuses by the difference). Returns an unsubscribe.
   */
  onCommitted(listener: CommittedListener): () => void {
    this.committedListeners.add(listener);
    return () => this.committedListeners.delete(listener);
  }

  /** Every session file any processor has a checkpoint for. */
  sessionFiles(): Set<string> {
    return new Set(this.fileKey);
  }

  /** Each file with a checkpoint, once, as (directory, name): no key built. */
  forEachFile(fn: (dir: string, name: string) => void): void {
    for (const [dir, table] of this.byDir) for (const name of table.keys()) fn(dir, name);
  }

  *forProcessor(processor: string): IterableIterator<Checkpoint> {
    const i = this.slotOf.get(processor);
    if (i === undefined) return;
    for (let f = 0; f < this.fileKey.length; f++) {
      const cp = this.read(f, i);
      if (cp) yield cp;
    }
  }

  private read(file: number, slot: number): Checkpoint | undefined {
    if (slot >= this.stride) return undefined;
    const row = this.fileRows[file * this.stride + slot];
    return row < 0 ? undefined : this.rows.read(row, this.slotNames[slot], this.fileKey[file]);
  }

  /** A file's checkpoints as slots, sized for every slot known (the caller indexes by slot()). */
  private slotsOf(file: number): Slots {
    const out = new Array<Checkpoint | undefined>(this.slotOf.size).fill(undefined);
    for (let i = 0; i < out.length; i++) out[i] = this.read(file, i);
    return out;
  }

  private addFile(sessionFile: string): number {
    const f = this.fileKey.length;
    this.fileKey.push(sessionFile);
    if ((f + 1) * this.stride > this.fileRows.length) {
      const rows = new Int32Array(Math.max(1024, f * 2) * this.stride).fill(-1);
      rows.set(this.fileRows);
      this.fileRows = rows;
    }
    return f;
  }

  /** Lay every file's rows out again with room for `stride` slots. */
  private restride(stride: number): void {
    const files = this.fileKey.length;
    const rows = new Int32Array(Math.max(1024, files * 2) * stride).fill(-1);
    for (let f = 0; f < files; f++) for (let i = 0; i < this.stride; i++) rows[f * stride + i] = this.fileRows[f * this.stride + i];
    this.fileRows = rows;
    this.stride = stride;
  }
}
