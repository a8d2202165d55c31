/**
 * The daemon's event port: one typed event per domain event, each with its own payload,
 * in the spirit of Vector's internal events (one struct per event, emitted where it
 * happens, turned into logs, traces and metrics by whoever listens). Runs emit their
 * steps (file-run.ts), the daemon the rest (src/watch/daemon.ts); the trace ring
 * (src/watch/trace.ts), the metrics (src/ops/metrics.ts) and the monitor
 * (src/ops/monitor.ts) implement `DaemonEvents`, each the events it cares about.
 *
 * It lives in the pipeline layer, below both: runs emit here, and nothing that listens
 * imports up a layer. It replaces EventEmitter strings ('run', 'committed', 'stat', ...)
 * and the metrics' parsing of trace records (`r.stage === 'debounced' && r.mergedInto`).
 *
 * Every event about a file carries the trace of the hint that started its journey: the
 * run is handed it (`runFile(…, { traceId, at })`), so no step is attributed by a lookup,
 * and none is dropped for want of one (an I/O error before the read used to be).
 */
import type { FileStat } from '../discover/file-stat.js';
import type { ProcessorOutcome } from './file-run.js';

/** The trace a run belongs to (the hint that started it). */
export interface RunTrace {
  traceId: string;
  /** Epoch ms when the hint was raised. */
  at: number;
}

interface OfFile {
  sessionFile: string;
  trace: RunTrace;
}

/** Why the state check let a hint through, dropped it, or held a processor back. */
export type StateCheckCause =
  | 'changed' // some processor has work: go
  | 'unchanged' // the file is exactly as committed: dropped without a read
  | 'stat-failed' // the stat itself failed (EACCES, ELOOP, ...): unknown this time
  | 'leased' // a shared store: another node holds the file
  | 'settle'; // a settle processor waits for the file to be quiet

/** A processor's run on a file, with its outcome (null: it did not run, e.g. stopping). */
export interface ProcessorRun {
  processor: string;
  sessionFile: string;
  traceId: string;
  outcome: ProcessorOutcome | null;
}

/** What a rescan found (src/watch/rescan.ts). */
export interface RescanResult {
  files: number;
  hinted: number;
  durationMs: number;
  /** What it cost, in ms of CPU (watch/backstop.ts rescanCostMs): the backstop's period grows with it. */
  cpuMs?: number;
  /** What the walk found at the root: `watch` waits for a missing root, and /health says so. */
  root?: 'dir' | 'missing' | 'not-dir';
}

/** Each domain event's payload, by name. */
export interface DaemonEventMap {
  /** A hint entered the debounce. */
  hint: OfFile & { reason: string; processor?: string };
  /** A hint was merged into a pending one for the same file (its trace continues as `into`). */
  coalesced: OfFile & { into: string };
  /** A hint left the debounce for the state check. */
  debounced: OfFile;
  /** The state check's decision (per file, or per processor for `settle`). */
  stateChecked: OfFile & {
    decision: 'go' | 'skip' | 'wait';
    cause: StateCheckCause;
    why: string;
    processor?: string;
    skipped?: Record<string, string>;
    size?: number | null;
  };
  /** A run of these processors on the file started. */
  dispatched: OfFile & { processors: string[]; size: number | null };
  /** Run step: a batch was read for these processors. */
  read: OfFile & { processors: string[]; bytes: number; lines: number };
  /** Run step: a processor staged a batch. */
  processed: OfFile & { processor: string; items: number; lines: number; bytes: number; ms: number };
  /** Run step: a processor's batch committed; its checkpoint is at `offset`. */
  committed: OfFile & { processor: string; offset: number };
  /** Run step, or a whole run, failed: a processor's error, or (no processor) an I/O error or a failed run. */
  failed: OfFile & { processor?: string; error: string };
  /** The file moved during its run: hinted again. */
  requeued: OfFile & { processors: string[]; size: number };
  /** A processor's run finished, with its outcome. */
  ran: ProcessorRun;
  /** The daemon saw a new stat of a file (null: gone). */
  fileStat: { sessionFile: string; stat: FileStat | null };
  /** Work arrived (a hint, a rescan): the monitor samples event-loop delay while there is work. */
  busy: { why: 'hint' | 'rescan' };
  /** A rescan finished. */
  rescanned: RescanResult;
  /** The database file was deleted or replaced under the daemon (it stops). */
  databaseLost: { problem: string };
}

/** What a listener implements: any of the events, one method each. */
export type DaemonEvents = { [K in keyof DaemonEventMap]?: (e: DaemonEventMap[K]) => void };

/** The run steps (what file-run.ts emits). */
export type RunStep = 'read' | 'processed' | 'committed' | 'failed';

/** Fans each event out to the listeners, in the order they listened. */
export class EventPort {
  private listeners: DaemonEvents[] = [];

  /** Returns the unsubscribe. */
  listen(listener: DaemonEvents): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  emit<K extends keyof DaemonEventMap>(name: K, e: DaemonEventMap[K]): void {
    for (const l of this.listeners) l[name]?.(e);
  }
}
