/**
 * The committed checkpoints, in memory. This process is the database's only
 * writer, so after one load at start the cache is authoritative: it is
 * updated only when a commit succeeds, and every classification reads it
 * instead of querying DuckDB per file.
 */
import type { Checkpoint } from '../state/checkpoint.js';

export class CheckpointCache {
  constructor(private readonly byProcessor: Map<string, Map<string, Checkpoint>> = new Map()) {}

  get(processor: string, sessionFile: string): Checkpoint | undefined {
    return this.byProcessor.get(processor)?.get(sessionFile);
  }

  set(cp: Checkpoint): void {
    let m = this.byProcessor.get(cp.processorName);
    if (!m) this.byProcessor.set(cp.processorName, (m = new Map()));
    m.set(cp.sessionFile, cp);
  }

  /** Every session file any processor has a checkpoint for. */
  sessionFiles(): Set<string> {
    const out = new Set<string>();
    for (const m of this.byProcessor.values()) for (const f of m.keys()) out.add(f);
    return out;
  }

  forProcessor(processor: string): IterableIterator<Checkpoint> {
    return (this.byProcessor.get(processor) ?? new Map<string, Checkpoint>()).values();
  }
}
