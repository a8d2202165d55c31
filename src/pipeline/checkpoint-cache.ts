/**
 * The committed checkpoints, in memory. This process is the database's only
 * writer, so after one load at start the cache is authoritative: it is
 * updated only when a commit succeeds, and every classification reads it
 * instead of querying DuckDB per file.
 *
 * Keyed by session file first, with one slot per processor: a rescan asks
 * about every processor of a file at once, and one hash lookup per file
 * (not one per processor) is most of what an idle rescan costs beyond its
 * lstat calls.
 */
import type { Checkpoint } from '../state/checkpoint.js';

type Slots = (Checkpoint | undefined)[];

export class CheckpointCache {
  private readonly slotOf = new Map<string, number>();
  private readonly byFile = new Map<string, Slots>();

  constructor(initial: Map<string, Map<string, Checkpoint>> = new Map()) {
    for (const m of initial.values()) for (const cp of m.values()) this.set(cp);
  }

  /** The slot index of a processor: stable for the life of the cache. */
  slot(processor: string): number {
    let i = this.slotOf.get(processor);
    if (i === undefined) this.slotOf.set(processor, (i = this.slotOf.size));
    return i;
  }

  get(processor: string, sessionFile: string): Checkpoint | undefined {
    const i = this.slotOf.get(processor);
    return i === undefined ? undefined : this.byFile.get(sessionFile)?.[i];
  }

  /** Every processor's checkpoint of one file, indexed by slot(); undefined if none has one. */
  ofFile(sessionFile: string): readonly (Checkpoint | undefined)[] | undefined {
    return this.byFile.get(sessionFile);
  }

  set(cp: Checkpoint): void {
    const i = this.slot(cp.processorName);
    let slots = this.byFile.get(cp.sessionFile);
    if (!slots) this.byFile.set(cp.sessionFile, (slots = []));
    slots[i] = cp;
  }

  /** Forget every checkpoint: the state table was emptied under this cache (tests reset a database). */
  clear(): void {
    this.byFile.clear();
  }

  /** Every session file any processor has a checkpoint for. */
  sessionFiles(): Set<string> {
    return new Set(this.byFile.keys());
  }

  /** Each session file with a checkpoint, once (no set built). */
  forEachSessionFile(fn: (sessionFile: string) => void): void {
    for (const f of this.byFile.keys()) fn(f);
  }

  *forProcessor(processor: string): IterableIterator<Checkpoint> {
    const i = this.slotOf.get(processor);
    if (i === undefined) return;
    for (const slots of this.byFile.values()) {
      const cp = slots[i];
      if (cp) yield cp;
    }
  }
}
