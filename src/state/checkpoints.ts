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
 */
import type { Checkpoint } from './checkpoint.js';
import { splitSessionKey } from '../discover/session-path.js';

/** Every processor's checkpoint of one file, indexed by CheckpointService.slot(). */
export type Slots = (Checkpoint | undefined)[];

/** One directory's files, by name. */
export type CheckpointDir = ReadonlyMap<string, Slots>;

/** Told of each change: a file's (directory, name), or undefined when every checkpoint went. */
export type CheckpointListener = (dir?: string, name?: string) => void;

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
  private readonly byDir = new Map<string, Map<string, Slots>>();
  private readonly listeners = new Set<CheckpointListener>();

  constructor(
    initial: Map<string, Map<string, Checkpoint>> = new Map(),
    private readonly committer: CheckpointCommitter<U> | null = null,
    /** Processors whose slots come first (the pipeline's): each file's slots are sized for all of them at once. */
    processors: readonly string[] = [],
  ) {
    for (const p of processors) this.slot(p);
    for (const p of initial.keys()) this.slot(p);
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
    return { committed: committed.then(() => this.set(cp)) };
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
    else for (const table of this.byDir.values()) for (const slots of table.values()) for (const cp of slots) consider(cp);
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
    if (i === undefined) this.slotOf.set(processor, (i = this.slotOf.size));
    return i;
  }

  get(processor: string, sessionFile: string): Checkpoint | undefined {
    const i = this.slotOf.get(processor);
    return i === undefined ? undefined : this.ofFile(sessionFile)?.[i];
  }

  /** Every processor's checkpoint of one file, indexed by slot(); undefined if none has one. */
  ofFile(sessionFile: string): Readonly<Slots> | undefined {
    const [dir, name] = splitSessionKey(sessionFile);
    return this.byDir.get(dir)?.get(name);
  }

  /** One directory's table (look it up once per directory, then by name). */
  dir(dir: string): CheckpointDir | undefined {
    return this.byDir.get(dir);
  }

  set(cp: Checkpoint): void {
    const [dir, name] = splitSessionKey(cp.sessionFile);
    let table = this.byDir.get(dir);
    if (!table) this.byDir.set(dir, (table = new Map()));
    let slots = table.get(name);
    // Sized for every slot known: `[]` grown by one assignment holds 17 elements (~150 bytes a
    // file, for the 3 a file uses with three processors).
    if (!slots) table.set(name, (slots = new Array<Checkpoint | undefined>(this.slotOf.size).fill(undefined)));
    slots[this.slot(cp.processorName)] = cp;
    for (const l of this.listeners) l(dir, name);
  }

  /** Forget every checkpoint: the state table was emptied under this cache (tests reset a database). */
  clear(): void {
    this.byDir.clear();
    for (const l of this.listeners) l();
  }

  /** Be told of every change (the rescan keeps answers that hold until a checkpoint changes). Returns an unsubscribe. */
  onChange(listener: CheckpointListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every session file any processor has a checkpoint for. */
  sessionFiles(): Set<string> {
    const out = new Set<string>();
    this.forEachFile((dir, name) => out.add(`${dir}/${name}`));
    return out;
  }

  /** Each file with a checkpoint, once, as (directory, name): no key built. */
  forEachFile(fn: (dir: string, name: string) => void): void {
    for (const [dir, table] of this.byDir) for (const name of table.keys()) fn(dir, name);
  }

  *forProcessor(processor: string): IterableIterator<Checkpoint> {
    const i = this.slotOf.get(processor);
    if (i === undefined) return;
    for (const table of this.byDir.values()) {
      for (const slots of table.values()) {
        const cp = slots[i];
        if (cp) yield cp;
      }
    }
  }
}
