/**
 * The plan of one run over one session file: for each processor, what its
 * checkpoint says about the file's stat, and so whether it skips, only marks
 * the file deleted, or reads (from which offset, retracting first or not).
 *
 * Pure: the stat and the fingerprint probes are handed in. Planning is two
 * steps because only a file that moved needs its committed prefix probed,
 * and processors at the same offset share one probe.
 */
import type { Processor } from './processor.js';
import type { Checkpoint } from '../state/checkpoint.js';
import { classifyByProbe, classifyByStat, needsWork, type Decision, type StatDecision } from '../state/classify.js';
import type { FileStat } from '../discover/file-stat.js';
import type { Fingerprints } from '../read/fingerprint.js';
import type { SessionFileRef } from '../discover/session-path.js';

/** Step 1 for one processor: its checkpoint and what the stat alone says. */
export interface Classified {
  p: Processor;
  cp: Checkpoint | undefined;
  byStat: StatDecision;
}

export type PlanStep =
  /** Nothing to do (unchanged, deferred, quarantined, or nothing to read yet). */
  | { kind: 'skip'; p: Processor; decision: Decision; cp: Checkpoint | undefined }
  /** The file is gone: only the checkpoint is marked. */
  | { kind: 'mark-deleted'; p: Processor; decision: Decision; cp: Checkpoint; next: Checkpoint }
  /** Read from `decision.from`; `start` is the checkpoint the first batch builds on. */
  | { kind: 'read'; p: Processor; decision: Decision; cp: Checkpoint | undefined; start: Checkpoint };

export interface RunPlan {
  ref: SessionFileRef;
  stat: FileStat | null;
  steps: PlanStep[];
  /** The lowest offset any reading step needs (the one read starts there); null when none reads. */
  readFrom: number | null;
}

/** Step 1: classify every processor from the stat; the offsets whose fingerprints are needed. */
export function classifyAll(
  processors: readonly Processor[],
  checkpointOf: (p: Processor) => Checkpoint | undefined,
  stat: FileStat | null,
  now: number,
): { classified: Classified[]; probeOffsets: number[] } {
  const classified: Classified[] = [];
  const offsets = new Set<number>();
  for (const p of processors) {
    const cp = checkpointOf(p);
    const byStat = classifyByStat(cp, p.version, stat, now);
    if (byStat.kind === 'probe') offsets.add(cp!.offset);
    classified.push({ p, cp, byStat });
  }
  return { classified, probeOffsets: [...offsets] };
}

/** Step 2: the final decisions, given the probes of step 1 (null: the prefix is no longer there). */
export function planRun(
  ref: SessionFileRef,
  stat: FileStat | null,
  classified: readonly Classified[],
  probes: ReadonlyMap<number, Fingerprints | null>,
): RunPlan {
  const steps: PlanStep[] = [];
  let readFrom: number | null = null;
  for (const { p, cp, byStat } of classified) {
    const decision = byStat.kind === 'probe' ? classifyByProbe(cp!, stat!, probes.get(cp!.offset) ?? null) : byStat;
    if (!needsWork(decision, stat)) {
      steps.push({ kind: 'skip', p, decision, cp });
    } else if (decision.kind === 'deleted') {
      steps.push({ kind: 'mark-deleted', p, decision, cp: cp!, next: { ...cp!, status: 'deleted' } });
    } else {
      steps.push({ kind: 'read', p, decision, cp, start: startCheckpoint(p, ref, decision, cp) });
      readFrom = readFrom === null ? decision.from : Math.min(readFrom, decision.from);
    }
  }
  return { ref, stat, steps, readFrom };
}

/** The checkpoint a read builds on: the committed one, or a fresh one when the outputs are retracted. */
function startCheckpoint(p: Processor, ref: SessionFileRef, decision: Decision, cp: Checkpoint | undefined): Checkpoint {
  const base = decision.retract ? undefined : cp;
  return {
    processorName: p.name,
    sessionFile: ref.sessionFile,
    owner: ref.owner,
    offset: decision.from,
    headHash: base?.headHash ?? '',
    tailHash: base?.tailHash ?? '',
    size: base?.size ?? 0,
    mtimeMs: base?.mtimeMs ?? 0,
    ctimeMs: base?.ctimeMs ?? 0,
    inode: base?.inode ?? 0,
    linesProcessed: base?.linesProcessed ?? 0,
    itemsProcessed: base?.itemsProcessed ?? 0,
    badLines: base?.badLines ?? 0,
    processorVersion: p.version,
    processedAt: base?.processedAt ?? null,
    status: 'ok',
    attempts: cp?.attempts ?? 0,
    lastError: null,
    nextAttemptAt: null,
    carry: base?.carry,
  };
}
