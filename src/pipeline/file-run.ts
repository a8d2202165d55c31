/**
 * One pass over one session file for a set of processors: plan each
 * processor's work from its checkpoint (run-plan.ts), read the file once from
 * the lowest offset any of them needs, fan each batch out to the processors,
 * and stage one unit of work per (processor, batch) with the checkpoint it
 * reaches; then wait for the commits and record failures.
 *
 * Reading is shared (each line is read and parsed once, whatever the number
 * of processors); progress is not (each processor has its own offset,
 * failures and retries).
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { storedRef, type SessionFileRef, type SessionKeys } from '../discover/session-path.js';
import type { FsPath } from '../discover/names.js';
import type { Processor, OutputTable } from './processor.js';
import { UnitOfWork } from './unit.js';
import { retractFile } from './registration.js';
import type { Committer } from './commit.js';
import { isStorageError } from '../state/errors.js';
import type { ChangeKind } from '../state/classify.js';
import type { FileStat } from '../discover/file-stat.js';
import type { Checkpoint } from '../state/checkpoint.js';
import { BAD_LINES_TABLE } from '../state/checkpoint.js';
import { probeFingerprintsSync, type Fingerprints } from '../read/fingerprint.js';
import { readBatches, type ReadBatch, type ReadOptions } from '../read/reader.js';
import { afterFailure, type RetryPolicy } from './backoff.js';
import type { CheckpointService } from '../state/checkpoints.js';
import type { BadLine } from '../read/parse.js';
import { TimeSlicer } from '../loop/yield.js';
import { classifyAll, planRun, type PlanStep, type RunPlan } from './run-plan.js';
import { applyBatch, type Applied } from './fan-out.js';
import type { WorkerPool } from './workers/pool.js';
import type { BatchMessage, UnitData } from './workers/protocol.js';
import { isLeaseLost } from './fence.js';
import type { EventPort, RunTrace } from './events.js';

export type { RunTrace } from './events.js';

/** Read batch size in a worker thread (see DEFAULT_READ for the main thread's). */
const WORKER_BATCH_BYTES = 1 << 20;

/** The event-loop turn budget is shared by all slicers; this one gates processor calls. */
const slicer = new TimeSlicer();

export interface FileTarget {
  ref: SessionFileRef;
  absPath: FsPath;
  /** The fencing token of the file's lease this run holds (a shared store); every unit carries it. */
  lease?: number | null;
}

export interface RunContext {
  committer: Committer;
  checkpoints: CheckpointService<UnitOfWork>;
  readOptions: ReadOptions;
  retry: RetryPolicy;
  log: Logger;
  now?: () => number;
  /** Called for every bad line once per pass (shared by processors), for logs and metrics. */
  onBadLine?: (file: string, bad: BadLine) => void;
  /** Where each run step is told (read, processed, committed, failed), with the run's trace. */
  events?: EventPort;
  /**
   * Worker threads that read, parse and process (a large `run --once`): the
   * units come back as data and are staged here in the same order.
   */
  pool?: WorkerPool | null;
  /**
   * Asked before each batch: a graceful stop ends a pass between batches (what is staged
   * commits, the rest is found again at the next start), not at the end of a 1 GB file.
   */
  stopping?: () => boolean;
  /**
   * How session keys are stored (a shared store qualifies them by the source). Keys in the
   * process, the checkpoint cache and stage events are relative; processors, units and rows
   * see the stored key.
   */
  keys?: SessionKeys;
}

/** The trace of a run that no hint started (run --once, a direct call): its steps are still told. */
function hintless(): RunTrace {
  return { traceId: 'no-hint', at: Date.now() };
}

export interface ProcessorOutcome {
  kind: ChangeKind | 'error';
  lines: number;
  bytesRead: number;
  items: number;
  badLines: number;
  error?: string;
  /** True when an I/O error made the file's state unknown this time (no state change). */
  ioError?: boolean;
  /** True when the database could not be written (disk full, read-only...): nothing recorded, retried later. */
  dbError?: boolean;
  /** True when the commit was fenced off (the file's lease was lost): nothing recorded, the holder has the file. */
  leaseLost?: boolean;
  /** The committed offset after this pass. */
  offset: number;
}

/** One processor's part of a run, as staged. */
interface Work {
  p: Processor;
  step: PlanStep['kind'];
  /** Where this processor's reading starts. */
  from: number;
  /** Last checkpoint known committed (or staged in order before the current unit). */
  base: Checkpoint | undefined;
  /** The checkpoint as of the latest staged unit. */
  current: Checkpoint;
  carry: unknown;
  outcome: ProcessorOutcome;
  pending: Promise<void>[];
  failed: Error | null;
  /** The failure was a commit that did not go through, not the processor throwing. */
  commitFailed?: boolean;
  retractPending: boolean;
  /** Bad lines counted in the file before the next batch (fan-out's Cursor.badLines). */
  badLines?: number;
}

/** A run once every batch is staged: each processor's work, waiting for its commits (finishRun). */
export interface StagedRun {
  readonly sessionFile: string;
  /** The key units and rows carry (qualified on a shared store). */
  readonly storedFile: string;
  readonly lease: number | null;
  /** One entry per processor of the run, in the order given. */
  readonly work: Work[];
  /** An I/O error cut the read short: what was staged stands, the rest waits for the next pass. */
  ioError: string | null;
}

/**
 * Keep a commit's follow-up for the finish phase. It is handled now as well: a commit can fail
 * (disk full) while the run is still reading, long before the finish awaits it, and an
 * unhandled rejection in that gap crashed the daemon before it could log and stop (seen under
 * load in bad-input's full-disk test).
 */
function track(w: Work, p: Promise<void>): void {
  p.catch(() => undefined);
  w.pending.push(p);
}

function newWork(p: Processor, step: PlanStep['kind'], cp: Checkpoint | undefined, outcome: ProcessorOutcome): Work {
  return {
    p,
    step,
    from: 0,
    base: cp,
    current: cp!,
    carry: undefined,
    outcome,
    pending: [],
    failed: null,
    retractPending: false,
  };
}

const emptyOutcome = (kind: ProcessorOutcome['kind'], offset: number): ProcessorOutcome => ({
  kind,
  lines: 0,
  bytesRead: 0,
  items: 0,
  badLines: 0,
  offset,
});

function isIoError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}

/**
 * One pass over a file, in three phases: plan (classify, and probe where the stat cannot tell),
 * read and fan out (stage units), finish (wait for the commits, record failures). Returns once
 * every batch is staged; `done` settles once they are committed. Callers that run many files keep
 * going and await `done` later, so many files share one transaction.
 */
export async function runFile(
  ctx: RunContext,
  target: FileTarget,
  processors: readonly Processor[],
  stat: FileStat | null,
  trace: RunTrace = hintless(),
): Promise<{ done: Promise<Map<string, ProcessorOutcome>> }> {
  // Many runs start in the same turn when a commit frees their queue slots; each would probe
  // and read its first chunk before any slicer looked at the clock.
  if (slicer.due()) await slicer.yield();
  const planned = planFile(ctx, target, processors, stat, trace);
  const staged = 'plan' in planned ? await stageRun(ctx, target, planned.plan, trace) : planned.failed;
  return { done: finishRun(ctx, staged) };
}

/** Phase 1: the run's plan, probing the fingerprints the stat alone cannot decide. */
export function planFile(
  ctx: RunContext,
  target: FileTarget,
  processors: readonly Processor[],
  stat: FileStat | null,
  trace: RunTrace,
): { plan: RunPlan } | { failed: StagedRun } {
  const file = target.ref.sessionFile;
  const { classified, probeOffsets } = classifyAll(processors, (p) => ctx.checkpoints.get(p.name, file), stat, (ctx.now ?? Date.now)());
  const probes = new Map<number, Fingerprints | null>();
  if (probeOffsets.length > 0) {
    try {
      const fd = fs.openSync(target.absPath, 'r');
      try {
        for (const off of probeOffsets) probes.set(off, probeFingerprintsSync(fd, off));
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      if (!isIoError(err)) throw err;
      ctx.events?.emit('failed', { sessionFile: file, trace, error: (err as Error).message });
      // The file's state is unknown this time: every processor reports the I/O error, nothing changes.
      const work = classified.map(({ p, cp }) => newWork(p, 'skip', cp, emptyOutcome('error', cp?.offset ?? 0)));
      for (const w of work) Object.assign(w.outcome, { ioError: true, error: (err as Error).message });
      const storedFile = ctx.keys ? ctx.keys.stored(file) : file;
      return { failed: { sessionFile: file, storedFile, lease: target.lease ?? null, work, ioError: null } };
    }
  }
  return { plan: planRun(target.ref, stat, classified, probes) };
}

/**
 * Phase 2: mark deleted files, then one read from the lowest offset any processor needs, each
 * batch fanned out to the processors it concerns. Each processor stages its own units with its
 * own checkpoint; one that throws stops alone.
 */
export async function stageRun(ctx: RunContext, target: FileTarget, plan: RunPlan, trace: RunTrace): Promise<StagedRun> {
  const now = ctx.now ?? Date.now;
  const file = target.ref.sessionFile;
  // What processors and units see: the key as stored (qualified by the source on a shared store).
  const ref = ctx.keys ? storedRef(target.ref, ctx.keys) : target.ref;
  const lease = target.lease ?? null;
  const newUnit = (p: Processor) => {
    const u = new UnitOfWork(p.name, ref.sessionFile, tablesOf(p));
    u.lease = lease;
    return u;
  };
  const events = ctx.events;
  const staged: StagedRun = { sessionFile: file, storedFile: ref.sessionFile, lease, work: [], ioError: null };
  const readers: Work[] = [];
  for (const s of plan.steps) {
    if (s.kind === 'skip') {
      staged.work.push(newWork(s.p, 'skip', s.cp, emptyOutcome(s.decision.kind, s.cp?.offset ?? 0)));
    } else if (s.kind === 'mark-deleted') {
      const w = newWork(s.p, 'mark-deleted', s.cp, emptyOutcome('deleted', s.cp.offset));
      const { committed } = await ctx.checkpoints.commit(s.next, lease);
      w.current = s.next;
      track(w, committed);
      staged.work.push(w);
    } else {
      const w = newWork(s.p, 'read', s.cp, emptyOutcome(s.decision.kind, s.decision.from));
      w.from = s.decision.from;
      w.current = s.start;
      w.carry = s.start.carry;
      w.retractPending = s.decision.retract;
      w.badLines = s.start.badLines;
      staged.work.push(w);
      readers.push(w);
    }
  }
  const stat = plan.stat;
  if (plan.readFrom === null || !stat) return staged;

  // Lines before the read's start, good and bad, as the checkpoint that starts there counted them.
  const low = readers.find((w) => w.from === plan.readFrom)?.current;
  const firstLine = (low ? low.linesProcessed + low.badLines : 0) + 1;
  try {
    const pool = ctx.pool;
    const batches: AsyncIterable<ReadBatch | BatchMessage> = pool
      ? pool.run({
          ref,
          absPath: target.absPath,
          from: plan.readFrom,
          until: stat.size,
          // Bigger batches in a worker: a batch is a message and a unit per processor, and its parsed
          // lines never leave the worker's young generation anyway.
          read: { ...ctx.readOptions, batchBytes: Math.max(ctx.readOptions.batchBytes, WORKER_BATCH_BYTES) },
          firstLine,
          cursors: readers.map((w) => ({ name: w.p.name, from: w.from, carry: w.carry, retract: w.retractPending, badLines: w.badLines })),
        })
      : readBatches(target.absPath, plan.readFrom, stat.size, ctx.readOptions, firstLine);
    for await (const batch of batches) {
      if (ctx.stopping?.()) break;
      const active = readers.filter((w) => !w.failed);
      if (active.length === 0) break;
      const remote = 'units' in batch ? batch : null;
      events?.emit('read', {
        sessionFile: file,
        trace,
        processors: active.map((w) => w.p.name),
        bytes: batch.bytesRead,
        lines: remote ? remote.lines : (batch as ReadBatch).lines.length,
      });
      if (ctx.onBadLine) for (const b of batch.bad) ctx.onBadLine(file, b);
      for (const w of active) {
        let unit: UnitOfWork;
        let applied: Applied | null;
        const t0 = performance.now();
        if (remote) {
          // Worked out in a worker thread (the same fan-out code): the units, as data.
          const d = remote.units.find((u) => u.name === w.p.name);
          if (!d || d.skipped) continue;
          if (d.error !== undefined) {
            w.failed = new Error(d.error);
            events?.emit('failed', { sessionFile: file, trace, processor: w.p.name, error: d.error });
            continue;
          }
          unit = unitFrom(d, w.p, ref.sessionFile);
          unit.lease = lease;
          if (unit.carrySet) w.carry = unit.carry;
          applied = d;
        } else {
          unit = newUnit(w.p);
          // Runs released together (a commit resolving everyone's backpressure wait) would each run a
          // process() call back to back in one loop turn: 100-200 ms stalls of the admin API.
          if (slicer.due()) await slicer.yield();
          try {
            applied = await applyBatch(w, batch as ReadBatch, ref, unit);
          } catch (err) {
            w.failed = err as Error;
            events?.emit('failed', { sessionFile: file, trace, processor: w.p.name, error: (err as Error).message });
            continue;
          }
          if (applied === null) continue;
        }
        const { offset, bytes, lines, bad } = applied;
        w.current = {
          ...w.current,
          offset,
          headHash: batch.fingerprints.headHash,
          tailHash: batch.fingerprints.tailHash,
          // An intermediate batch must not look "as seen": the rest of the file is still unread.
          size: batch.last ? stat.size : -1,
          mtimeMs: batch.last ? stat.mtimeMs : -1,
          ctimeMs: batch.last ? stat.ctimeMs : -1,
          inode: stat.ino,
          linesProcessed: w.current.linesProcessed + lines,
          itemsProcessed: w.current.itemsProcessed + unit.items,
          badLines: w.current.badLines + bad,
          processedAt: now(),
          status: 'ok',
          attempts: 0,
          carry: w.carry,
        };
        w.outcome.lines += lines;
        w.outcome.items += unit.items;
        w.outcome.badLines += bad;
        w.outcome.bytesRead += bytes;
        w.outcome.offset = offset;
        const ms = performance.now() - t0;
        events?.emit('processed', { sessionFile: file, trace, processor: w.p.name, items: unit.items, lines, bytes, ms });
        const cp = w.current;
        const { committed } = await ctx.checkpoints.commit(cp, lease, unit);
        track(
          w,
          committed.then(() => {
            w.base = cp;
            events?.emit('committed', { sessionFile: file, trace, processor: w.p.name, offset: cp.offset });
          }),
        );
      }
    }
  } catch (err) {
    if (!isIoError(err)) throw err;
    // The file vanished or became unreadable mid-read: what was staged stands; the rest waits for
    // the next pass. An I/O error never counts against the processor.
    events?.emit('failed', { sessionFile: file, trace, error: (err as Error).message });
    staged.ioError = (err as Error).message;
  }
  return staged;
}

/** Phase 3: wait for the commits; record failures with backoff. One outcome per processor. */
export async function finishRun(ctx: RunContext, staged: StagedRun): Promise<Map<string, ProcessorOutcome>> {
  const now = ctx.now ?? Date.now;
  const file = staged.sessionFile;
  const out = new Map<string, ProcessorOutcome>();
  await settle(staged.work);
  for (const w of staged.work) {
    if (w.step === 'skip') {
      out.set(w.p.name, w.outcome);
      continue;
    }
    if (staged.ioError !== null) {
      out.set(w.p.name, { ...w.outcome, kind: 'error', ioError: true, error: staged.ioError });
      continue;
    }
    if (!w.failed) {
      out.set(w.p.name, w.outcome);
      continue;
    }
    ctx.committer.clearPoison(`${w.p.name}\u0000${staged.storedFile}`);
    const prev = w.base;
    if (w.commitFailed && isLeaseLost(w.failed)) {
      // Fenced off: another node holds the file now (or our checkpoint was behind the store's).
      // Nothing is recorded: the holder's checkpoint stands, and no retry is scheduled here.
      out.set(w.p.name, { ...w.outcome, kind: 'error', leaseLost: true, error: w.failed.message, offset: prev?.offset ?? 0 });
      continue;
    }
    if (w.commitFailed && isStorageError(w.failed)) {
      // Nothing is recorded (it could not be): the checkpoint stays where it was and the file is retried.
      out.set(w.p.name, { ...w.outcome, kind: 'error', dbError: true, error: w.failed.message, offset: prev?.offset ?? 0 });
      continue;
    }
    const f = afterFailure(prev?.attempts ?? 0, ctx.retry, now());
    const failed: Checkpoint = {
      ...(prev ?? { ...w.current, offset: 0, headHash: '', tailHash: '', size: 0, mtimeMs: 0, ctimeMs: 0, inode: 0, linesProcessed: 0, itemsProcessed: 0, badLines: 0, carry: undefined }),
      processorVersion: prev?.processorVersion ?? w.p.version,
      status: f.status,
      attempts: f.attempts,
      lastError: w.failed.message.slice(0, 2000),
      nextAttemptAt: f.nextAttemptAt,
    };
    const { committed } = await ctx.checkpoints.commit(failed, staged.lease);
    await committed.catch((err) => {
      ctx.log.error({ err, sessionFile: file, processor: w.p.name }, 'could not record processor failure');
    });
    ctx.log.warn(
      { sessionFile: file, processor: w.p.name, attempts: f.attempts, status: f.status, err: w.failed.message },
      f.status === 'quarantined' ? 'processor failed; file quarantined' : 'processor failed; will retry',
    );
    out.set(w.p.name, { ...w.outcome, kind: 'error', error: w.failed.message, offset: prev?.offset ?? 0 });
  }
  return out;
}

async function settle(work: Work[]): Promise<void> {
  for (const w of work) {
    if (w.pending.length === 0) continue;
    const results = await Promise.allSettled(w.pending);
    w.pending = [];
    for (const r of results) {
      if (r.status === 'rejected' && !w.failed) {
        w.failed = r.reason as Error;
        w.commitFailed = true;
      }
    }
  }
}

const tableCache = new WeakMap<Processor, Map<string, OutputTable>>();
function unitFrom(d: UnitData, p: Processor, file: string): UnitOfWork {
  const unit = new UnitOfWork(p.name, file, tablesOf(p));
  unit.retracts = d.retracts;
  unit.statements.push(...d.statements);
  for (const [table, rows] of d.rows) unit.rows.set(table, rows);
  if (d.carrySet) unit.setCarry(d.carry);
  unit.items = d.items;
  return unit;
}

function tablesOf(p: Processor): Map<string, OutputTable> {
  let m = tableCache.get(p);
  if (!m) {
    m = new Map([...p.tables, BAD_LINES_TABLE].map((t) => [t.name, t]));
    tableCache.set(p, m);
  }
  return m;
}
