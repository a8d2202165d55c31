/**
 * The committer: applies units of work in grouped transactions.
 *
 * One transaction carries many files' outputs and checkpoints, because DuckDB
 * pays per statement and per transaction (single-row upserts run at a few
 * hundred rows/s). Rows are bulk-loaded by the store (`Db.loadStaged`: DuckDB's
 * appender, PostgreSQL's COPY) into temporary staging tables, then moved
 * set-wise with one statement per table. A processor's outputs and its
 * checkpoint are therefore always in the same transaction: a crash loses or
 * keeps both.
 *
 * If a grouped transaction fails, its units are retried one per transaction,
 * so one bad unit fails alone. A failed unit poisons later units of the same
 * (processor, file) until the runner acknowledges it, so no batch commits on
 * top of a missing one. A lost connection to the store (PostgreSQL restarted,
 * the network dropped) says nothing about the units: the same group is retried
 * with backoff until the store answers again.
 */
import type { Db } from '../state/db.js';
import { isConnectionError, isStorageError } from '../state/errors.js';
import type { CellValue, OutputTable } from '../state/table.js';
import type { UnitOfWork } from './unit.js';
import { BAD_LINES_TABLE, CHECKPOINT_TABLE, checkpointRow } from '../state/checkpoint.js';
import { GroupInterval } from './commit-interval.js';
import type { CommitFence } from './fence.js';
import { sessionKeys, type SessionKeys } from '../discover/session-path.js';

export interface CommitterOptions {
  /** Flush once this many rows are staged. */
  maxRows: number;
  /** Flush once this many units are staged. */
  maxUnits: number;
  /** Flush a non-empty group after this long (when changes come seldom). */
  maxDelayMs: number;
  /**
   * Under sustained load the group interval grows up to this, less the slowest recent commit
   * (commit-interval.ts): the latency budget of a staged unit. Equal to maxDelayMs, the
   * interval is fixed.
   */
  loadedDelayMs?: number;
  /**
   * A shared store: checked inside each transaction before anything is written; a unit it
   * refuses (lease lost, checkpoint behind the committed one) fails alone, writing nothing.
   */
  fence?: CommitFence | null;
  /** How checkpoints' session keys are stored (qualified by the source on a shared store). */
  keys?: SessionKeys;
  /** Told of each connection loss while a group is retried (the pipeline logs the first of an outage). */
  onConnectionLost?: (err: Error, attempt: number, retryInMs: number) => void;
  /** Told when a group commits again after a connection loss. */
  onReconnected?: (attempts: number) => void;
}

/** Retry delays after a lost connection: 100 ms doubling to 5 s, so a 5 s restart costs at most ~5 s more. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
}

export const DEFAULT_COMMITTER: CommitterOptions = { maxRows: 100_000, maxUnits: 5_000, maxDelayMs: 50 };

interface Pending {
  unit: UnitOfWork;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface CommitStats {
  transactions: number;
  units: number;
  rows: number;
  lastCommitAt: number | null;
  lastDurationMs: number;
}

export type CommitListener = (units: readonly UnitOfWork[], durationMs: number) => void;

/** Pure: the rows a group of units writes, by table, each unit's checkpoint as a row of the checkpoint table. */
export function rowsByTable(units: readonly UnitOfWork[], keys: SessionKeys): Map<string, CellValue[][]> {
  const byTable = new Map<string, CellValue[][]>();
  const push = (table: string, rows: readonly CellValue[][]) => {
    let list = byTable.get(table);
    if (!list) byTable.set(table, (list = []));
    for (const r of rows) list.push(r);
  };
  for (const u of units) {
    for (const [table, rows] of u.rows) push(table, rows);
    if (u.checkpoint) push(CHECKPOINT_TABLE.name, [checkpointRow(u.checkpoint, keys)]);
  }
  return byTable;
}

/** Every table a committer loads: the checkpoints, the bad lines, and the processors' own. */
export const committedTables = (tables: readonly OutputTable[]): OutputTable[] => [CHECKPOINT_TABLE, BAD_LINES_TABLE, ...tables];

export class Committer {
  private group: Pending[] = [];
  private groupRows = 0;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private readonly tables = new Map<string, OutputTable>();
  /** Set by `stop()`: a group waiting for the store to come back gives up instead. */
  private stopped = false;
  private readonly poisoned = new Set<string>();
  private readonly listeners: CommitListener[] = [];
  private readonly brokenListeners: ((err: Error) => void)[] = [];
  private brokenBy: Error | null = null;
  private readonly interval: GroupInterval;
  private readonly keys: SessionKeys;
  readonly stats: CommitStats = { transactions: 0, units: 0, rows: 0, lastCommitAt: null, lastDurationMs: 0 };

  constructor(
    private readonly db: Db,
    tables: readonly OutputTable[],
    private readonly opts: CommitterOptions = DEFAULT_COMMITTER,
  ) {
    for (const t of committedTables(tables)) this.tables.set(t.name, t);
    this.keys = opts.keys ?? sessionKeys(null);
    this.interval = new GroupInterval({ minMs: opts.maxDelayMs, maxMs: Math.max(opts.maxDelayMs, opts.loadedDelayMs ?? opts.maxDelayMs) });
  }

  /** The current group interval (ms). */
  get intervalMs(): number {
    return this.interval.ms;
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /** The storage error that stopped this committer, if any: nothing is written after it. */
  get failure(): Error | null {
    return this.brokenBy;
  }

  /** Called once, when a storage error stops the committer (the process should exit and be restarted). */
  onBroken(listener: (err: Error) => void): void {
    this.brokenListeners.push(listener);
  }

  /** The runner has recorded the failure; later units of this (processor, file) may commit again. */
  clearPoison(unitKey: string): void {
    this.poisoned.delete(unitKey);
  }

  /**
   * Stage a unit. Resolves once the unit is accepted into a group (which may
   * wait for an in-flight flush: backpressure); the returned `committed`
   * promise settles when its transaction does.
   * Someone who waits for a unit (an admin call's audit row, an operator's requeue) calls
   * `flush()` after it, so its group does not stay open for the interval.
   */
  async enqueue(unit: UnitOfWork): Promise<{ committed: Promise<void> }> {
    // A retraction must not share a transaction with rows of the same file staged before it.
    if (unit.retracts && this.group.some((p) => p.unit.key === unit.key)) await this.flush();
    while (this.isFull() && this.inFlight) await this.inFlight;
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const committed = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    committed.catch(() => undefined); // callers that care attach their own handler
    this.group.push({ unit, resolve, reject });
    this.groupRows += unit.rowCount + 1;
    if (this.isFull()) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), this.interval.open(performance.now()));
    return { committed };
  }

  private isFull(): boolean {
    return this.group.length >= this.opts.maxUnits || this.groupRows >= this.opts.maxRows;
  }

  /**
   * Commit everything staged so far, and wait for it. Under load the group interval is most of
   * the latency budget (~650 ms): back-to-back `POST /sql` calls each waited that long for their
   * audit rows until the audit log flushed after each.
   */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.inFlight) await this.inFlight;
    if (this.group.length === 0) return;
    const group = this.group;
    this.group = [];
    this.groupRows = 0;
    this.interval.flushed(performance.now());
    const run = this.commitGroup(group).finally(() => {
      this.inFlight = null;
    });
    this.inFlight = run;
    await run;
  }

  /**
   * Stop retrying groups across a lost connection (shutdown): the group waiting fails with the
   * connection error, its files keep their committed checkpoints and are read again next start.
   */
  stop(): void {
    this.stopped = true;
    this.wakeRetry?.();
  }

  private wakeRetry: (() => void) | null = null;
  private lostSince: { at: number; error: string } | null = null;

  /** While a group waits for a lost store connection: since when, and the error (for /health). */
  get connectionLost(): { at: number; error: string } | null {
    return this.lostSince;
  }

  /**
   * One transaction over `units`, retried on a lost connection. Nothing of a failed attempt is
   * kept (the store rolls back, or checked that the commit did not happen), so a retry applies
   * the units exactly once.
   */
  private async transact(ps: readonly Pending[]): Promise<Map<number, Error>> {
    for (let attempt = 0; ; attempt++) {
      try {
        const refused = await this.db.transaction(() => this.applyFenced(ps));
        if (attempt > 0) {
          this.lostSince = null;
          this.opts.onReconnected?.(attempt);
        }
        return refused;
      } catch (err) {
        if (!isConnectionError(err) || this.stopped) {
          this.lostSince = null;
          throw err;
        }
        this.lostSince ??= { at: Date.now(), error: String((err as Error).message ?? err).split('\n')[0] };
        const wait = reconnectDelayMs(attempt);
        this.opts.onConnectionLost?.(err as Error, attempt, wait);
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, wait);
          function done() {
            clearTimeout(t);
            resolve();
          }
          this.wakeRetry = done;
        });
        this.wakeRetry = null;
        if (this.stopped) throw err;
      }
    }
  }

  get pendingUnits(): number {
    return this.group.length;
  }

  private async commitGroup(group: Pending[]): Promise<void> {
    if (this.brokenBy) {
      for (const p of group) p.reject(this.brokenBy);
      return;
    }
    const live = group.filter((p) => {
      if (!this.poisoned.has(p.unit.key)) return true;
      p.reject(new Error('an earlier batch of this file failed to commit'));
      return false;
    });
    if (live.length === 0) return;
    const started = Date.now();
    try {
      const refused = await this.transact(live);
      this.settleFenced(live, refused, started);
    } catch (err) {
      if (isStorageError(err)) {
        this.broke(err as Error, live);
        return;
      }
      if (live.length === 1) {
        this.fail(live[0], err as Error);
        return;
      }
      // Isolate the bad unit: one transaction per unit, in order.
      for (const p of live) {
        if (this.brokenBy) {
          p.reject(this.brokenBy);
          continue;
        }
        if (this.poisoned.has(p.unit.key)) {
          p.reject(new Error('an earlier batch of this file failed to commit'));
          continue;
        }
        const t0 = Date.now();
        try {
          const refused = await this.transact([p]);
          this.settleFenced([p], refused, t0);
        } catch (e) {
          if (isStorageError(e)) this.broke(e as Error, [p]);
          else this.fail(p, e as Error);
        }
      }
    }
  }

  private broke(err: Error, ps: Pending[]): void {
    const first = !this.brokenBy;
    this.brokenBy ??= err;
    for (const p of ps) p.reject(err);
    if (first) for (const l of this.brokenListeners) l(err);
  }

  private committed(ps: Pending[], started: number): void {
    const ms = Date.now() - started;
    this.stats.transactions++;
    this.stats.units += ps.length;
    this.stats.lastCommitAt = Date.now();
    this.stats.lastDurationMs = ms;
    this.interval.committed(ms);
    const units = ps.map((p) => p.unit);
    for (const u of units) this.stats.rows += u.rowCount;
    for (const u of units) u.committed();
    for (const l of this.listeners) l(units, ms);
    for (const p of ps) p.resolve();
  }

  /** Inside the transaction: ask the fence, then apply what it lets through. Returns the refusals by index. */
  private async applyFenced(ps: readonly Pending[]): Promise<Map<number, Error>> {
    const units = ps.map((p) => p.unit);
    const refused: Map<number, Error> = this.opts.fence ? await this.opts.fence.refuse(units) : new Map();
    await this.apply(refused.size === 0 ? units : units.filter((_, i) => !refused.has(i)));
    return refused;
  }

  /** After the transaction: the refused units fail (nothing of them was written), the rest committed. */
  private settleFenced(ps: readonly Pending[], refused: ReadonlyMap<number, Error>, started: number): void {
    const ok = refused.size === 0 ? [...ps] : ps.filter((_, i) => !refused.has(i));
    if (ok.length > 0) this.committed(ok, started);
    for (const [i, err] of refused) this.fail(ps[i], err);
  }

  private fail(p: Pending, err: Error): void {
    this.poisoned.add(p.unit.key);
    p.reject(err);
  }

  private async apply(units: readonly UnitOfWork[]): Promise<void> {
    for (const u of units) {
      for (const s of u.statements) await this.db.run(s.sql, s.params);
    }
    const byTable = rowsByTable(units, this.keys);
    // Outputs before checkpoints: order does not matter for atomicity, but keeps failures attributable.
    for (const [table, rows] of byTable) {
      if (table === CHECKPOINT_TABLE.name) continue;
      await this.load(this.tables.get(table)!, rows);
    }
    const cps = byTable.get(CHECKPOINT_TABLE.name);
    if (cps) await this.load(CHECKPOINT_TABLE, cps);
  }

  private load(spec: OutputTable, rows: CellValue[][]): Promise<void> {
    return this.db.loadStaged(spec, rows);
  }
}
