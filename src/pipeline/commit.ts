/**
 * The committer: applies units of work in grouped DuckDB transactions.
 *
 * One transaction carries many files' outputs and checkpoints, because DuckDB
 * pays per statement and per transaction (single-row upserts run at a few
 * hundred rows/s). Rows are bulk-loaded through the appender into temporary
 * staging tables, then moved set-wise with one INSERT ... ON CONFLICT per
 * table. A processor's outputs and its checkpoint are therefore always in the
 * same transaction: a crash loses or keeps both.
 *
 * If a grouped transaction fails, its units are retried one per transaction,
 * so one bad unit fails alone. A failed unit poisons later units of the same
 * (processor, file) until the runner acknowledges it, so no batch commits on
 * top of a missing one.
 */
import { DuckDBTimestampValue, type DuckDBAppender } from '@duckdb/node-api';
import type { Db } from '../state/db.js';
import { quoteIdent as quote, stagedColumns, type CellValue, type OutputTable } from '../state/table.js';
import type { UnitOfWork } from './unit.js';
import { BAD_LINES_TABLE, CHECKPOINT_TABLE, checkpointRow } from '../state/checkpoint.js';
import { TimeSlicer } from '../loop/yield.js';
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
   * Under sustained load the group interval grows up to this (commit-interval.ts); equal to
   * maxDelayMs, the interval is fixed.
   */
  loadedDelayMs?: number;
  /**
   * A shared store: checked inside each transaction before anything is written; a unit it
   * refuses (lease lost, checkpoint behind the committed one) fails alone, writing nothing.
   */
  fence?: CommitFence | null;
  /** How checkpoints' session keys are stored (qualified by the source on a shared store). */
  keys?: SessionKeys;
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

/**
 * A commit that failed because the database could not be written (disk full,
 * read-only file, I/O error). It says nothing about the processor, and after
 * one DuckDB may fail fatally on a later transaction (an index left out of
 * step by the failed commit), so the committer stops writing at the first.
 */
export function isStorageError(err: unknown): boolean {
  const msg = String((err as Error)?.message ?? err);
  return /IO Error|No space left on device|Could not write file|Disk quota exceeded|read-only|Input\/output error/i.test(msg);
}

export class Committer {
  private group: Pending[] = [];
  private groupRows = 0;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private readonly tables = new Map<string, OutputTable>();
  private readonly staged = new Set<string>();
  private readonly poisoned = new Set<string>();
  private readonly listeners: CommitListener[] = [];
  private readonly brokenListeners: ((err: Error) => void)[] = [];
  private brokenBy: Error | null = null;
  private readonly slicer = new TimeSlicer();
  private readonly interval: GroupInterval;
  private readonly keys: SessionKeys;
  readonly stats: CommitStats = { transactions: 0, units: 0, rows: 0, lastCommitAt: null, lastDurationMs: 0 };

  constructor(
    private readonly db: Db,
    tables: readonly OutputTable[],
    private readonly opts: CommitterOptions = DEFAULT_COMMITTER,
  ) {
    for (const t of [CHECKPOINT_TABLE, BAD_LINES_TABLE, ...tables]) this.tables.set(t.name, t);
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

  /** Commit everything staged so far, and wait for it. */
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
      const refused = await this.db.transaction(() => this.applyFenced(live));
      this.settleFenced(live, refused, started);
    } catch (err) {
      this.rolledBack();
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
          const refused = await this.db.transaction(() => this.applyFenced([p]));
          this.settleFenced([p], refused, t0);
        } catch (e) {
          this.rolledBack();
          if (isStorageError(e)) this.broke(e as Error, [p]);
          else this.fail(p, e as Error);
        }
      }
    }
  }

  /**
   * A rolled-back transaction takes the staging tables it created with it: forget them all, so the
   * next load creates them again (CREATE OR REPLACE), instead of every later commit failing.
   */
  private rolledBack(): void {
    this.staged.clear();
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
    const units = ps.map((p) => p.unit);
    for (const u of units) this.stats.rows += u.rowCount;
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
      for (const s of u.statements) await this.db.conn.run(s.sql, s.params as CellValue[]);
    }
    const byTable = new Map<string, CellValue[][]>();
    const push = (table: string, rows: CellValue[][]) => {
      let list = byTable.get(table);
      if (!list) byTable.set(table, (list = []));
      for (const r of rows) list.push(r);
    };
    for (const u of units) {
      for (const [table, rows] of u.rows) push(table, rows);
      if (u.checkpoint) push(CHECKPOINT_TABLE.name, [checkpointRow(u.checkpoint, this.keys)]);
    }
    // Outputs before checkpoints: order does not matter for atomicity, but keeps failures attributable.
    for (const [table, rows] of byTable) {
      if (table === CHECKPOINT_TABLE.name) continue;
      await this.load(this.tables.get(table)!, rows);
    }
    const cps = byTable.get(CHECKPOINT_TABLE.name);
    if (cps) await this.load(CHECKPOINT_TABLE, cps);
  }

  private async load(spec: OutputTable, rows: CellValue[][]): Promise<void> {
    if (rows.length === 0) return;
    const stage = `_stage_${spec.name}`;
    const columns = stagedColumns(spec);
    if (!this.staged.has(spec.name)) {
      const cols = columns.map((c) => `${quote(c.name)} ${c.type}`).join(', ');
      await this.db.conn.run(`CREATE OR REPLACE TEMP TABLE ${quote(stage)} (_seq BIGINT, ${cols})`);
      this.staged.add(spec.name);
    }
    const appender = await this.db.conn.createAppender(stage, null, 'temp');
    try {
      // The appender is synchronous: a 20k-row group held the event loop (and the admin API) for
      // 100+ ms. Append and flush in chunks, and give the loop back between them when due.
      for (let from = 0; from < rows.length; from += APPEND_CHUNK_ROWS) {
        appendRows(appender, columns, rows, from, Math.min(rows.length, from + APPEND_CHUNK_ROWS));
        appender.flushSync();
        if (this.slicer.due()) await this.slicer.yield();
      }
    } finally {
      appender.closeSync();
    }
    const cols = columns.map((c) => quote(c.name)).join(', ');
    const key = spec.key.map(quote).join(', ');
    const qualify = `QUALIFY row_number() OVER (PARTITION BY ${key} ORDER BY ${spec.prefer ?? '_seq DESC'}) = 1`;
    const target = quote(spec.name);
    if (spec.replace) {
      const hashCol = spec.replace.hashColumn;
      const byHash = hashCol ? `${quote(hashCol)} IN (SELECT hash(${key}) FROM ${quote(stage)}) AND ` : '';
      await this.db.conn.run(`DELETE FROM ${target} WHERE ${byHash}(${key}) IN (SELECT ${key} FROM ${quote(stage)})`);
      await this.db.conn.run(
        `INSERT INTO ${target} (${cols}${hashCol ? `, ${quote(hashCol)}` : ''})
         SELECT ${cols}${hashCol ? `, hash(${key})` : ''} FROM ${quote(stage)} ${qualify}`,
      );
    } else {
      await this.db.conn.run(
        `INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${quote(stage)} ${qualify}
         ON CONFLICT (${key}) ${spec.onConflict ?? 'DO NOTHING'}`,
      );
    }
    await this.db.conn.run(`DELETE FROM ${quote(stage)}`);
  }
}

/** Rows per appender flush: about 5 ms of appending here. */
const APPEND_CHUNK_ROWS = 2_000;

function appendRows(appender: DuckDBAppender, columns: OutputTable['columns'], rows: CellValue[][], from: number, to: number): void {
  const types = columns.map((c) => c.type);
  for (let i = from; i < to; i++) {
    const row = rows[i];
    appender.appendBigInt(BigInt(i));
    for (let c = 0; c < types.length; c++) {
      const v = row[c];
      if (v === null || v === undefined) {
        appender.appendNull();
        continue;
      }
      switch (types[c]) {
        case 'VARCHAR':
          appender.appendVarchar(typeof v === 'string' ? v : String(v));
          break;
        case 'BIGINT':
          appender.appendBigInt(BigInt(Math.trunc(Number(v))));
          break;
        case 'INTEGER':
          appender.appendInteger(Math.trunc(Number(v)));
          break;
        case 'DOUBLE':
          appender.appendDouble(Number(v));
          break;
        case 'BOOLEAN':
          appender.appendBoolean(Boolean(v));
          break;
        case 'TIMESTAMP':
          appender.appendTimestamp(new DuckDBTimestampValue(BigInt(Math.round(Number(v) * 1000))));
          break;
      }
    }
    appender.endRow();
  }
}
