/**
 * A hint says "this session file may have changed". Hints are cheap and
 * lossy by design: the state check decides whether anything is to be done,
 * so duplicates cost a stat and a missed hint is covered by the requeue
 * after each run and by the periodic rescan.
 */
export type HintReason =
  | 'add'
  | 'change'
  | 'unlink'
  | 'dir-event' // a raw directory event naming the file (covers unwatched cold files)
  | 'initial-scan'
  | 'rescan'
  | 'requeue' // the file moved while it was being processed
  | 'retry' // a failed file's backoff expired
  | 'settle' // a settle-policy processor's quiet period ended
  | 'lease' // a shared store: another node's lease on the file lapsed (taken over)
  | 'manual';

export interface FileHint {
  sessionFile: string;
  reason: HintReason;
  traceId: string;
  /** Epoch ms when the hint was raised. */
  at: number;
  /** Restrict to one processor (settle, retry and manual hints). */
  processor?: string;
}

let seq = 0;
const boot = Date.now().toString(36);

export function newTraceId(): string {
  seq = (seq + 1) % 0x7fffffff;
  return `${boot}-${seq.toString(36)}`;
}

export function hint(sessionFile: string, reason: HintReason, processor?: string): FileHint {
  return { sessionFile, reason, traceId: newTraceId(), at: Date.now(), processor };
}
