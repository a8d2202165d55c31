/**
 * Change classification: what happened to a session file since a processor's
 * checkpoint, and therefore what to read. Pure; the caller does the stat and,
 * when asked, the fingerprint probe.
 *
 * The cheap path decides from stat alone (size, mtime, ctime, inode). Only when the
 * file moved does it need the fingerprints of the committed prefix, which
 * separate an append (prefix intact) from a rewrite (prefix changed).
 */
import type { Checkpoint } from './checkpoint.js';
import type { Fingerprints } from '../read/fingerprint.js';
import { statIs, type FileStat } from '../discover/file-stat.js';

/** discover/file-stat sameStat against the stat a checkpoint recorded: the state check's "unchanged". */
export function statMatches(cp: Pick<Checkpoint, 'size' | 'mtimeMs' | 'ctimeMs' | 'inode'>, stat: FileStat): boolean {
  return statIs(stat, cp.size, cp.mtimeMs, cp.ctimeMs, cp.inode);
}


export type ChangeKind =
  | 'new'
  | 'unchanged'
  | 'appended'
  | 'resumed' // came back after a delete with its prefix intact
  | 'replaced' // new inode, same prefix (temp + rename re-upload): read the tail only
  | 'truncated'
  | 'rewritten'
  | 'version' // processor version bumped
  | 'deleted'
  | 'deferred' // backing off after a failure
  | 'quarantined';

export interface Decision {
  kind: ChangeKind;
  /** Offset to read from. */
  from: number;
  /** Whether the processor's outputs for this file must be retracted first. */
  retract: boolean;
}

export type StatDecision = Decision | { kind: 'probe' };

const skip = (kind: ChangeKind, cp?: Checkpoint): Decision => ({ kind, from: cp?.offset ?? 0, retract: false });
const fromZero = (kind: ChangeKind): Decision => ({ kind, from: 0, retract: true });

/** The common case, decided without allocating: the file is exactly as this processor committed it. */
export function isUnchanged(cp: Checkpoint | undefined, processorVersion: number, stat: FileStat): boolean {
  return (
    cp !== undefined &&
    cp.status === 'ok' &&
    cp.processorVersion === processorVersion &&
    statMatches(cp, stat)
  );
}

export function classifyByStat(
  cp: Checkpoint | undefined,
  processorVersion: number,
  stat: FileStat | null,
  now: number,
): StatDecision {
  if (!stat) return cp && cp.status !== 'deleted' ? skip('deleted', cp) : skip('unchanged', cp);
  if (!cp) return { kind: 'new', from: 0, retract: false };
  if (cp.processorVersion !== processorVersion) return fromZero('version');
  if (cp.status === 'quarantined') return skip('quarantined', cp);
  if (cp.status === 'retrying' && cp.nextAttemptAt !== null && cp.nextAttemptAt > now) return skip('deferred', cp);
  if (isUnchanged(cp, processorVersion, stat)) return skip('unchanged', cp);
  if (stat.size < cp.offset) return fromZero('truncated');
  return { kind: 'probe' };
}

/** Second step, given the fingerprints of the file's bytes at the checkpoint offset. */
export function classifyByProbe(cp: Checkpoint, stat: FileStat, probe: Fingerprints | null): Decision {
  if (!probe) return fromZero('truncated');
  const intact = probe.headHash === cp.headHash && probe.tailHash === cp.tailHash;
  if (!intact) return fromZero('rewritten');
  if (stat.ino !== cp.inode && cp.inode !== 0) return { kind: 'replaced', from: cp.offset, retract: false };
  if (cp.status === 'deleted') return { kind: 'resumed', from: cp.offset, retract: false };
  return { kind: 'appended', from: cp.offset, retract: false };
}

/** Whether a decision means there is work (a read or a retraction) to do. */
export function needsWork(d: Decision, stat: FileStat | null): boolean {
  switch (d.kind) {
    case 'unchanged':
    case 'deferred':
    case 'quarantined':
      return false;
    case 'deleted':
      return true; // the checkpoint is marked deleted
    default:
      return d.retract || (stat !== null && stat.size >= d.from);
  }
}
