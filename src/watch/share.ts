/**
 * Which processors of a run share one read of the file. A shared read goes at
 * the pace of its slowest processor: with a processor 10x slower than the
 * writer in the same read as `lines`, `lines` lagged as far behind as the slow
 * one (test/reliability/faults.test.ts). So processors share a read when they
 * start at the same offset and none would wait long for the others: the
 * slowest one's expected time for the bytes to read is within SHARE_WAIT_MS of
 * the fastest one's. A live append (a few KB) is shared by every processor; a
 * long backlog is read by a slow processor alone.
 */
import type { Processor } from '../pipeline/processor.js';
import type { Checkpoint } from '../state/checkpoint.js';
import type { FileStat } from '../discover/file-stat.js';

/** How long a processor may wait, per run, for a slower one sharing its read. */
export const SHARE_WAIT_MS = 50;

/** Each processor's recent processing time per byte (moving average), from its process() calls. */
export class ProcessorPace {
  private readonly msPerByte = new Map<string, number>();

  note(processor: string, bytes: number, ms: number): void {
    if (bytes <= 0) return;
    const x = ms / bytes;
    const prev = this.msPerByte.get(processor);
    this.msPerByte.set(processor, prev === undefined ? x : prev * 0.8 + x * 0.2);
  }

  /** Expected ms for `bytes`; 0 before the processor was seen. */
  estimate(processor: string, bytes: number): number {
    return (this.msPerByte.get(processor) ?? 0) * bytes;
  }
}

/** Where a processor's read starts: its committed offset, or 0 after a version bump or a shrink. */
function startOf(p: Processor, cp: Checkpoint | undefined, stat: FileStat): number {
  return cp && cp.processorVersion === p.version && cp.offset <= stat.size ? cp.offset : 0;
}

/** Pure but for the pace: the groups of processors that read together, in pipeline order within a group. */
export function shareGroups(
  processors: readonly Processor[],
  checkpointOf: (p: Processor) => Checkpoint | undefined,
  stat: FileStat | null,
  pace: ProcessorPace,
): Processor[][] {
  if (!stat) return [[...processors]]; // gone: nothing to read, only checkpoints to mark
  const byStart = new Map<number, Processor[]>();
  for (const p of processors) {
    const start = startOf(p, checkpointOf(p), stat);
    let g = byStart.get(start);
    if (!g) byStart.set(start, (g = []));
    g.push(p);
  }
  const groups: Processor[][] = [];
  for (const [start, ps] of byStart) {
    const bytes = stat.size - start;
    const cost = (p: Processor) => pace.estimate(p.name, bytes);
    // Fastest first; each joins the group of the fastest unless it would keep it waiting.
    const sorted = [...ps].sort((a, b) => cost(a) - cost(b));
    let group: Processor[] = [];
    let floor = 0;
    for (const p of sorted) {
      if (group.length > 0 && cost(p) - floor > SHARE_WAIT_MS) {
        groups.push(group);
        group = [];
      }
      if (group.length === 0) floor = cost(p);
      group.push(p);
    }
    if (group.length > 0) groups.push(group);
  }
  const order = new Map(processors.map((p, i) => [p, i]));
  for (const g of groups) g.sort((a, b) => order.get(a)! - order.get(b)!);
  return groups;
}
