/**
 * The state check: which processors have anything to do for a file, judged
 * from one stat against the committed checkpoints. Hints for files that are
 * exactly as committed are dropped here, without a read.
 */
import fs from 'node:fs';
import type { FsPath } from '../discover/names.js';
import type { Processor } from '../pipeline/processor.js';
import type { CheckpointService, Slots } from '../state/checkpoints.js';
import { classifyByStat, isUnchanged } from '../state/classify.js';
import { fileStatOf, type FileStat } from '../discover/file-stat.js';

export type StatResult = { ok: true; stat: FileStat | null } | { ok: false; error: string };

/** lstat, not stat: a session file that is a symlink is never followed. */
export async function statSessionFile(absPath: FsPath): Promise<StatResult> {
  try {
    const s = fs.lstatSync(absPath);
    if (!s.isFile()) return { ok: true, stat: null };
    return { ok: true, stat: fileStatOf(s) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: true, stat: null };
    return { ok: false, error: code ?? String(err) };
  }
}

const SKIP = new Set(['unchanged', 'deferred', 'quarantined']);

/** Each processor's slot in the cache, to look up once per rescan instead of once per file. */
export function slotsOf(cache: CheckpointService, processors: readonly Processor[]): number[] {
  return processors.map((p) => cache.slot(p.name));
}

/**
 * What a file's checkpoints say given its stat: `pending`, some processor has work now;
 * `caught-up`, every checkpoint matches this stat exactly (null: the file is gone and every
 * checkpoint says so), so only a change of the stat or of a checkpoint can give it work;
 * `waiting`, no work now, but time alone may bring some (a retry's backoff).
 */
export type FileJudgement = 'pending' | 'caught-up' | 'waiting';

/**
 * Pure: the state check's question for every processor of a file at once, given its checkpoint
 * slots (a rescan finds them by directory and name) and each processor's slot index; a file that
 * caught up is judged without allocating.
 */
export function judgeFile(
  slots: Readonly<Slots> | undefined,
  slotIndex: readonly number[],
  processors: readonly Processor[],
  stat: FileStat | null,
  now: number,
): FileJudgement {
  let caughtUp = true;
  for (let i = 0; i < processors.length; i++) {
    const p = processors[i];
    const cp = slots?.[slotIndex[i]];
    if (stat ? isUnchanged(cp, p.version, stat) : cp === undefined || cp.status === 'deleted') continue;
    caughtUp = false;
    if (!SKIP.has(classifyByStat(cp, p.version, stat, now).kind)) return 'pending';
  }
  return caughtUp ? 'caught-up' : 'waiting';
}

/** Pure: the processors whose checkpoint says there is work (a read, a retraction or a delete mark). */
export function pendingProcessors(
  cache: CheckpointService,
  processors: readonly Processor[],
  sessionFile: string,
  stat: FileStat | null,
  now: number,
): { pending: Processor[]; skipped: Record<string, string> } {
  const pending: Processor[] = [];
  const skipped: Record<string, string> = {};
  const slots = cache.ofFile(sessionFile); // one lookup for every processor
  for (const p of processors) {
    const d = classifyByStat(slots?.[cache.slot(p.name)], p.version, stat, now);
    if (SKIP.has(d.kind)) skipped[p.name] = d.kind;
    else pending.push(p);
  }
  return { pending, skipped };
}
