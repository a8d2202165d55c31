/**
 * The committed checkpoints, in memory. This process is the database's only
 * writer, so after one load at start the cache is authoritative: it is
 * updated only when a commit succeeds, and every classification reads it
 * instead of querying DuckDB per file.
 *
 * Keyed by directory, then file name, with one slot per processor: a rescan
 * asks about every processor of a file at once, and finds the file by the
 * name readdir gave it in its directory's small table. One probe of a
 * 50k-entry table by a freshly built key cost more than the rest of the
 * decision.
 */
import type { Checkpoint } from '../state/checkpoint.js';
import { splitSessionKey } from '../discover/session-path.js';

/** Every processor's checkpoint of one file, indexed by CheckpointCache.slot(). */
export type Slots = (Checkpoint | undefined)[];

/** One directory's files, by name. */
export type CheckpointDir = ReadonlyMap<string, Slots>;

/** Told of each change: a file's (directory, name), or undefined when every checkpoint went. */
export type CheckpointListener = (dir?: string, name?: string) => void;

export class CheckpointCache {
  private readonly slotOf = new Map<string, number>();
  private readonly byDir = new Map<string, Map<string, Slots>>();
  private readonly listeners = new Set<CheckpointListener>();

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
    if (!slots) table.set(name, (slots = []));
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
