/**
 * Event tracing: every hint carries a trace id, and every stage a file goes
 * through is recorded with it: as a pino `debug` record and in a small ring
 * buffer per file, so `session-pipeline trace <file>` can show a file's
 * recent journey from a running daemon. Records carry names, offsets and
 * counts only, never transcript content.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

export type TraceStage =
  | 'source'
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

export class TraceLog extends EventEmitter {
  private readonly rings = new Map<string, TraceRecord[]>();

  constructor(
    private readonly log: Logger,
    private readonly perFile = 64,
    private readonly maxFiles = 5000,
  ) {
    super();
  }

  record(
    stage: TraceStage,
    sessionFile: string,
    traceId: string,
    startedAt: number,
    detail: Record<string, unknown> = {},
  ): void {
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
    this.emit('record', rec);
  }

  recent(sessionFile: string): TraceRecord[] {
    return [...(this.rings.get(sessionFile) ?? [])];
  }
}
