/**
 * The state check: which processors have anything to do for a file, judged
 * from one stat against the committed checkpoints. Hints for files that are
 * exactly as committed are dropped here, without a read.
 */
import fs from 'node:fs';
import type { Processor } from '../pipeline/processor.js';
import type { CheckpointCache, Slots } from '../pipeline/checkpoint-cache.js';
import { classifyByStat, isUnchanged, type FileStat } from '../state/classify.js';

export type StatResult = { ok: true; stat: FileStat | null } | { ok: false; error: string };

/** lstat, not stat: a session file that is a symlink is never followed. */
export async function statSessionFile(absPath: string): Promise<StatResult> {
  try {
    const s = fs.lstatSync(absPath);
    if (!s.isFile()) return { ok: true, stat: null };
    return { ok: true, stat: { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino } };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: true, stat: null };
    return { ok: false, error: code ?? String(err) };
  }
}

const SKIP = new Set(['unchanged', 'deferred', 'quarantined']);

/** Each processor's slot in the cache, to look up once per rescan instead of once per file. */
export function slotsOf(cache: CheckpointCache, processors: readonly Processor[]): number[] {
  return processors.map((p) => cache.slot(p.name));
}

/**
 * Pure: whether any processor has work for a file, given its checkpoint slots (a rescan finds
 * them by directory and name) and each processor's slot index: the state check's question,
 * asked without allocating.
 */
export function hasPendingWork(
  slots: Readonly<Slots> | undefined,
  slotIndex: readonly number[],
  processors: readonly Processor[],
  stat: FileStat | null,
  now: number,
): boolean {
  for (let i = 0; i < processors.length; i++) {
    const p = processors[i];
    const cp = slots?.[slotIndex[i]];
    if (stat && isUnchanged(cp, p.version, stat)) continue; // a rescan's usual answer, without allocating
    if (!SKIP.has(classifyByStat(cp, p.version, stat, now).kind)) return true;
  }
  return false;
}

/**
 * Pure: whether every processor's checkpoint has caught up with this stat exactly (null: the
 * file is gone and every checkpoint says so). Then nothing but a change of the stat or of a
 * checkpoint can give the file work: unlike a file waiting for a retry, time alone cannot.
 */
export function isCaughtUp(
  slots: Readonly<Slots> | undefined,
  slotIndex: readonly number[],
  processors: readonly Processor[],
  stat: FileStat | null,
): boolean {
  for (let i = 0; i < processors.length; i++) {
    const cp = slots?.[slotIndex[i]];
    if (stat ? !isUnchanged(cp, processors[i].version, stat) : cp !== undefined && cp.status !== 'deleted') return false;
  }
  return true;
}

/** Pure: the processors whose checkpoint says there is work (a read, a retraction or a delete mark). */
export function pendingProcessors(
  cache: CheckpointCache,
  processors: readonly Processor[],
  sessionFile: string,
  stat: FileStat | null,
  now: number,
): { pending: Processor[]; skipped: Record<string, string> } {
  const pending: Processor[] = [];
  const skipped: Record<string, string> = {};
  for (const p of processors) {
    const d = classifyByStat(cache.get(p.name, sessionFile), p.version, stat, now);
    if (SKIP.has(d.kind)) skipped[p.name] = d.kind;
    else pending.push(p);
  }
  return { pending, skipped };
}
