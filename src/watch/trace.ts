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

/** A record's details: an event's payload without its file and trace. */
function detailOf<E extends { sessionFile: string; trace: RunTrace }>(e: E): Omit<E, 'sessionFile' | 'trace'> {
  const { sessionFile: _f, trace: _t, ...detail } = e;
  return detail;
}

export class TraceLog implements DaemonEvents {
  private readonly rings = new Map<string, TraceRecord[]>();
  private readonly followers = new Set<(r: TraceRecord) => void>();

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
    const { cause: _c, ...detail } = detailOf(e);
    this.record('state-check', e, detail);
  }
  dispatched(e: DaemonEventMap['dispatched']): void {
    this.record('dispatched', e, detailOf(e));
  }
  read(e: DaemonEventMap['read']): void {
    this.record('read', e, detailOf(e));
  }
  processed(e: DaemonEventMap['processed']): void {
    this.record('processed', e, detailOf(e));
  }
  committed(e: DaemonEventMap['committed']): void {
    this.record('committed', e, detailOf(e));
  }
  failed(e: DaemonEventMap['failed']): void {
    this.record('error', e, detailOf(e));
  }
  requeued(e: DaemonEventMap['requeued']): void {
    this.record('requeued', e, detailOf(e));
  }

  /** Be given every record from now on (`trace --follow`). Returns the unsubscribe. */
  follow(fn: (r: TraceRecord) => void): () => void {
    this.followers.add(fn);
    return () => this.followers.delete(fn);
  }

  private record(stage: TraceStage, { sessionFile, trace }: { sessionFile: string; trace: RunTrace }, detail: Record<string, unknown> = {}): void {
    const { traceId, at: startedAt } = trace;
    const rec: TraceRecord = {
      at: new Date().toISOString(),
      traceId,
      sessionFile,
      stage,
      elapsedMs: Date.now() - startedAt,
      ...detail,
    };
    if (this.log.isLevelEnabled('debug')) this.log.debug(rec, `trace ${stage}`);
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
    for (const f of this.followers) f(rec);
  }

  recent(sessionFile: string): TraceRecord[] {
    return [...(this.rings.get(sessionFile) ?? [])];
  }
}
