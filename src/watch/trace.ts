/**
 * Event tracing: every hint carries a trace id, and every stage a file goes
 * through is recorded with it: as a pino `debug` record and in a small ring
 * buffer per file, so `session-pipeline trace <file>` can show a file's
 * recent journey from a running daemon. Records carry names, offsets and
 * counts only, never transcript content.
 *
 * One step name per moment: `coalesced` is a hint merged into a pending one for
 * the same file (`mergedInto` names the trace it joined), `debounced` the hint
 * that leaves the debounce for the state check. Both were `debounced` before.
 */
import type { Logger } from 'pino';
import type { DaemonEventMap, DaemonEvents, RunTrace } from '../pipeline/events.js';

export type TraceStage =
  | 'source'
  | 'coalesced'
  | 'debounced'
  | 'state-check'
  | 'dispatched'
  | 'read'
  | 'processed'
  | 'committed'
  | 'requeued'
  | 'error';

export interface TraceRecord {
  at: string;
  traceId: string;
  sessionFile: string;
  processor?: string;
  stage: TraceStage;
  /** Milliseconds since the hint that started this trace was raised. */
  elapsedMs: number;
  [detail: string]: unknown;
}

/** A record as the ring keeps it: `at` in epoch ms, made an ISO string only when read. */
type Stored = Omit<TraceRecord, 'at'> & { at: number };

/**
 * The event's payload copied onto the record, without its file and trace (the record has
 * them) and a state check's `cause` (its `why` says it in words); no object in between.
 */
function withDetail(rec: Record<string, unknown>, e: object): void {
  for (const [k, v] of Object.entries(e)) if (k !== 'sessionFile' && k !== 'trace' && k !== 'cause') rec[k] = v;
}

function published(r: Stored): TraceRecord {
  return { ...r, at: new Date(r.at).toISOString() } as TraceRecord;
}

export class TraceLog implements DaemonEvents {
  private readonly rings = new Map<string, Stored[]>();
  /** Followers by file: a record reaches only those of its file (bench:live-cost follows 20). */
  private readonly followers = new Map<string, Set<(r: TraceRecord) => void>>();

  constructor(
    private readonly log: Logger,
    private readonly perFile = 64,
    private readonly maxFiles = 5000,
  ) {}

  hint(e: DaemonEventMap['hint']): void {
    this.record('source', e, { reason: e.reason, processor: e.processor });
  }
  coalesced(e: DaemonEventMap['coalesced']): void {
    this.record('coalesced', e, { mergedInto: e.into });
  }
  debounced(e: DaemonEventMap['debounced']): void {
    this.record('debounced', e);
  }
  stateChecked(e: DaemonEventMap['stateChecked']): void {
    this.record('state-check', e, e);
  }
  dispatched(e: DaemonEventMap['dispatched']): void {
    this.record('dispatched', e, e);
  }
  read(e: DaemonEventMap['read']): void {
    this.record('read', e, e);
  }
  processed(e: DaemonEventMap['processed']): void {
    this.record('processed', e, e);
  }
  committed(e: DaemonEventMap['committed']): void {
    this.record('committed', e, e);
  }
  failed(e: DaemonEventMap['failed']): void {
    this.record('error', e, e);
  }
  requeued(e: DaemonEventMap['requeued']): void {
    this.record('requeued', e, e);
  }

  /** Be given every record of `sessionFile` from now on (`trace --follow`). Returns the unsubscribe. */
  follow(sessionFile: string, fn: (r: TraceRecord) => void): () => void {
    let set = this.followers.get(sessionFile);
    if (!set) this.followers.set(sessionFile, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.followers.get(sessionFile) === set) this.followers.delete(sessionFile);
    };
  }

  /**
   * `detail`: the record's own fields, or the event itself (its fields but the file, the trace
   * and a state check's `cause` are copied).
   */
  private record(stage: TraceStage, { sessionFile, trace }: { sessionFile: string; trace: RunTrace }, detail?: object): void {
    const now = Date.now();
    const rec: Stored = { at: now, traceId: trace.traceId, sessionFile, stage, elapsedMs: now - trace.at };
    if (detail) withDetail(rec as Record<string, unknown>, detail);
    if (this.log.isLevelEnabled('debug')) this.log.debug(published(rec), `trace ${stage}`);
    let ring = this.rings.get(sessionFile);
    if (ring) {
      // Re-insert to keep the map in least-recently-used order.
      this.rings.delete(sessionFile);
    } else {
      ring = [];
      if (this.rings.size >= this.maxFiles) {
        const oldest = this.rings.keys().next().value;
        if (oldest !== undefined) this.rings.delete(oldest);
      }
    }
    ring.push(rec);
    if (ring.length > this.perFile) ring.splice(0, ring.length - this.perFile);
    this.rings.set(sessionFile, ring);
    const fs = this.followers.get(sessionFile);
    if (fs) {
      const out = published(rec);
      for (const f of fs) f(out);
    }
  }

  recent(sessionFile: string): TraceRecord[] {
    return (this.rings.get(sessionFile) ?? []).map(published);
  }
}
