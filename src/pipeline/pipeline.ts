/**
 * The pipeline engine shared by `run --once` and `watch`: the database, the
 * committer, the checkpoint cache and the processors, wired once. Modes
 * differ only in how they decide which file to run next.
 */
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Db } from '../state/db.js';
import { openStore } from '../state/open.js';
import { migrate, unkeyReplaceTables } from '../state/migrations.js';
import { CORE_COMPONENT, CORE_MIGRATIONS } from '../state/schema.js';
import { CHECKPOINT_TABLE, loadCheckpoints, loadFileCheckpoints } from '../state/checkpoint.js';
import { storeKindOf } from '../state/dialect.js';
import { sessionKeys, type SessionKeys } from '../discover/session-path.js';
import { LeaseKeeper, type LeaseSettings } from './lease-keeper.js';
import { leaseFence } from './fence.js';
import { leaseConnection } from '../state/leases.js';
import { Committer, DEFAULT_COMMITTER, committedTables, type CommitterOptions } from './commit.js';
import { CheckpointService } from '../state/checkpoints.js';
import { UnitOfWork } from './unit.js';
import type { Processor } from './processor.js';
import { migrationsOf, validateProcessors } from './registration.js';
import { runFile, type FileTarget, type ProcessorOutcome, type RunContext } from './file-run.js';
import { EventPort, type RunTrace } from './events.js';
import { DEFAULT_READ, type ReadOptions } from '../read/reader.js';
import { unionLift } from '../read/lift.js';
import type { RetryPolicy } from './backoff.js';
import { walkRoot, visitRoot, isConfirmedMissing, type FileVisitor, type WalkResult, type WalkSummary } from '../discover/walk.js';
import { parseSessionPath } from '../discover/session-path.js';
import type { FileStat } from '../discover/file-stat.js';
import { pathOfKey } from '../discover/names.js';
import { steadyNow } from '../loop/clock.js';
import { OnceLogger } from '../log.js';
import type { BadLine } from '../read/parse.js';

export interface PipelineOptions {
  root: string;
  /** `--db`: a DuckDB file, or a `postgres://` URL. */
  dbPath: string;
  /** PostgreSQL: the readers' pool size (`--pg-pool-max`). */
  pgPoolMax?: number;
  /** DuckDB: the instance's threads (unset: one per core). */
  dbThreads?: number;
  processors: Processor[];
  log: Logger;
  retry: RetryPolicy;
  maxLineBytes: number;
  committer?: Partial<CommitterOptions>;
  read?: Partial<ReadOptions>;
  /**
   * A shared (PostgreSQL) store: whose transcripts these are (`--source-name`, default the
   * hostname); session keys are stored qualified by it. Ignored by an embedded store.
   */
  source?: string;
  /** A shared store: this node's leases (`--node-name`, `--lease-ttl-ms`). Ignored by an embedded store. */
  lease?: LeaseSettings;
  /**
   * DuckDB: journal the committer's loads and merge them many commits at once (watch mode: its
   * commits are small and frequent; src/state/journal.ts). Ignored by PostgreSQL.
   */
  deferMerges?: boolean;
}

/** How long closing waits for a lost store connection to come back: within pm2's 5 s kill_timeout with the drain. */
export const CLOSE_RETRY_MS = 2_000;

/** Bad lines logged per file per log window; the rest are counted and journaled, not logged. */
export const BAD_LINES_LOGGED_PER_FILE = 5;

interface UpkeepDue {
  readonly p: Processor;
  readonly u: NonNullable<Processor['upkeep']>;
  /** The first commit after the last run (0: none). */
  since: number;
  /** The newest commit. */
  last: number;
}

export class Pipeline {
  readonly ctx: RunContext;
  /** Where runs tell their steps (and the daemon the rest of a file's journey): see events.ts. */
  readonly events = new EventPort();
  private readonly badLog = new OnceLogger();
  private readonly ioLog = new OnceLogger();
  /** Bad lines logged per file in the current window (see BAD_LINES_LOGGED_PER_FILE). */
  private badLogged = new Map<string, number>();
  private badLoggedSince = Date.now();
  readonly counters = { badLines: 0, ioErrors: 0, dbErrors: 0, symlinksSkipped: 0, nonUtf8Names: 0 };
  private readonly upkeepTimers: NodeJS.Timeout[] = [];
  private upkeepRunning: Promise<void> | null = null;
  /** Each processor with an upkeep, and the commits since its last run (startUpkeep). */
  private readonly upkeepDue: UpkeepDue[];

  private constructor(
    readonly opts: PipelineOptions,
    readonly db: Db,
    readonly committer: Committer,
    readonly checkpoints: CheckpointService<UnitOfWork>,
    /** How session keys are stored: as they are (embedded), or `<source>:<key>` (shared store). */
    readonly keys: SessionKeys,
    /** This node's leases on a shared store; null on an embedded one (one process, no leases). */
    readonly leases: LeaseKeeper | null,
  ) {
    this.upkeepDue = opts.processors.filter((p) => p.upkeep).map((p) => ({ p, u: p.upkeep!, since: 0, last: 0 }));
    this.ctx = {
      committer,
      checkpoints,
      // One reading for every file: the union of what the processors read (a subset's is a part of it).
      readOptions: { ...DEFAULT_READ, lift: unionLift(opts.processors.map((p) => p.reads)), ...opts.read, maxLineBytes: opts.maxLineBytes },
      retry: opts.retry,
      log: opts.log,
      // Backoffs are stamped and judged on a clock that a system clock step does not move.
      now: steadyNow,
      events: this.events,
      onBadLine: (file, bad) => this.badLine(file, bad),
      keys,
    };
  }

  static async open(opts: PipelineOptions): Promise<Pipeline> {
    validateProcessors(opts.processors);
    // No external access: a live `sql` query runs on this instance (see src/state/sql.ts).
    const db = await openStore(opts.dbPath, { externalAccess: false, pgPoolMax: opts.pgPoolMax, threads: opts.dbThreads });
    try {
      await migrate(db, CORE_COMPONENT, CORE_MIGRATIONS);
      for (const p of opts.processors) await migrate(db, p.name, migrationsOf(p));
      const unkeyed = await unkeyReplaceTables(db, [CHECKPOINT_TABLE, ...opts.processors.flatMap((p) => p.tables)]);
      if (unkeyed.length > 0) opts.log.info({ tables: unkeyed }, 'rebuilt replace tables without their primary key (state/table.ts keyedIn)');
      for (const p of opts.processors) await p.init?.({ db, root: opts.root });
      const shared = storeKindOf(opts.dbPath) === 'postgres';
      const keys = sessionKeys(shared ? (opts.source ?? os.hostname()) : null);
      const leases = shared && opts.lease ? new LeaseKeeper(leaseConnection(opts.dbPath, opts.lease.node), keys, opts.lease, opts.log) : null;
      // Best effort: without it a dead predecessor's files wait out its TTL.
      await leases?.reapDeadLocal().catch((err: Error) => opts.log.warn({ err: err.message }, 'could not look for leases of dead processes on this host'));
      // Before the checkpoints are read: a killed daemon's journaled commits are merged first.
      await db.useJournal?.(committedTables(opts.processors.flatMap((p) => p.tables)), { defer: opts.deferMerges ?? false });
      const committer = new Committer(
        db,
        opts.processors.flatMap((p) => p.tables),
        {
          ...DEFAULT_COMMITTER,
          // Once per outage: the first failed attempt, and the commit that ends it.
          onConnectionLost: (err, attempt, retryInMs) => {
            if (attempt === 0) opts.log.warn({ db: db.location, err: err.message.split('\n')[0], retryInMs }, 'lost the database connection; retrying the commit until it answers');
          },
          onReconnected: (attempts) => opts.log.info({ db: db.location, attempts }, 'database connection back; commits resumed'),
          ...opts.committer,
          keys,
          fence: leases ? leaseFence(db, leases.settings.node) : null,
        },
      );
      // Every checkpoint reaches the store through the committer, alone or ending a unit of rows.
      const checkpoints = new CheckpointService<UnitOfWork>(new Map(), {
        commit: (cp, lease, unit) => {
          const u = unit ?? new UnitOfWork(cp.processorName, keys.stored(cp.sessionFile), new Map());
          u.checkpoint = cp;
          u.lease = lease;
          return committer.enqueue(u);
        },
        flush: () => committer.flush(),
      }, opts.processors.map((p) => p.name));
      // Streamed into the cache's rows: 60,600 checkpoints built as a map first were ~25 MB of heap at start.
      await loadCheckpoints(db, keys, (cp) => checkpoints.set(cp));
      return new Pipeline(opts, db, committer, checkpoints, keys, leases);
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  get root(): string {
    return this.opts.root;
  }

  get processors(): readonly Processor[] {
    return this.opts.processors;
  }

  target(sessionFile: string): FileTarget | null {
    const ref = parseSessionPath(sessionFile);
    if (!ref) return null;
    return { ref, absPath: pathOfKey(this.opts.root, sessionFile) };
  }

  /** Every session file under the root, sorted (run --once). */
  scan(onProgress?: (n: number) => void): Promise<WalkResult> {
    return walkRoot(this.opts.root, { onProgress }).then((w) => this.walked(w));
  }

  /** Each session file under the root handed to `visit` as it is found (rescans: nothing kept per file). */
  visit(visitor: FileVisitor): Promise<WalkSummary> {
    return visitRoot(this.opts.root, visitor).then((w) => this.walked(w));
  }

  private walked<W extends WalkSummary>(w: W): W {
    this.counters.symlinksSkipped = w.symlinksSkipped.length;
    if (w.nonUtf8Names > 0 && this.ioLog.shouldLog(`non-utf8:${w.nonUtf8Names}`)) {
      this.opts.log.warn(
        { root: this.opts.root, names: w.nonUtf8Names },
        'names that are not valid UTF-8: processed under escaped keys (%XX for their bytes)',
      );
    }
    this.counters.nonUtf8Names = w.nonUtf8Names;
    if (w.rootMissing && this.ioLog.shouldLog('root-missing')) {
      this.opts.log.warn({ root: this.opts.root }, 'session root does not exist (yet); nothing to process until it is created');
    }
    for (const [dir, code] of w.failedDirs) {
      if (this.ioLog.shouldLog(`dir:${dir}:${code}`)) {
        this.opts.log.warn({ dir, code }, 'cannot list directory; its files are treated as unknown, not deleted');
      }
    }
    for (const s of w.symlinksSkipped) {
      if (this.ioLog.shouldLog(`symlink:${s}`)) this.opts.log.warn({ path: s }, 'symlink not followed');
    }
    return w;
  }

  /** Session files with checkpoints that a scan confirms are gone. */
  missingFiles(walk: WalkResult): string[] {
    const found = new Set(walk.files.map((f) => f.ref.sessionFile));
    return [...this.checkpoints.sessionFiles()].filter((f) => !found.has(f) && isConfirmedMissing(f, walk));
  }

  /**
   * Before a run on a shared store: take the file's lease. Null while another node holds it
   * (the run is that node's). When the file comes from another node, its checkpoints are read
   * again first (`reloaded`): this cache is stale by whatever that node committed. Without
   * leases (an embedded store) every file is this process's: `{ lease: null }`.
   *
   * The run must then judge the file on a stat taken after this: a stat from before is older
   * than the checkpoints just read, and a file that another node read further than that stat
   * looked truncated (retracted and read again from 0: a checkpoint moving backwards, seen in
   * test/nodes.test.ts in about one run of five before the daemon took the stat after the lease).
   */
  async takeFile(sessionFile: string): Promise<{ lease: number | null; reloaded: boolean } | null> {
    if (!this.leases) return { lease: null, reloaded: false };
    const taken = await this.leases.take(sessionFile);
    if (!taken) return null;
    if (taken.fresh) {
      try {
        for (const cp of await loadFileCheckpoints(this.db, sessionFile, this.keys)) this.checkpoints.set(cp);
      } catch (err) {
        await this.leases.release(sessionFile);
        throw err;
      }
    }
    return { lease: taken.token, reloaded: taken.fresh };
  }

  /** After a run: hand the file's lease back (see LeaseKeeper.release). */
  releaseFile(sessionFile: string): Promise<void> {
    return this.leases ? this.leases.release(sessionFile) : Promise.resolve();
  }

  /** Stage a pass over one file; `done` settles when it is committed (see file-run). */
  async runFile(
    target: FileTarget,
    stat: FileStat | null,
    processors: readonly Processor[] = this.opts.processors,
    trace?: RunTrace,
  ): Promise<{ done: Promise<Map<string, ProcessorOutcome>> }> {
    const { done } = await runFile(this.ctx, target, processors, stat, trace);
    const file = target.ref.sessionFile;
    return {
      done: done.then((out) => {
        for (const o of out.values()) {
          if (!o.ioError) continue;
          this.counters.ioErrors++;
          if (this.ioLog.shouldLog(`io:${file}:${o.error}`)) {
            this.opts.log.warn({ sessionFile: file, offset: o.offset, err: o.error }, 'cannot read file; will retry');
          }
          break;
        }
        for (const o of out.values()) {
          if (!o.dbError) continue;
          this.counters.dbErrors++;
          if (this.ioLog.shouldLog(`db:${o.error}`)) {
            this.opts.log.error(
              { sessionFile: file, offset: o.offset, db: this.db.location, err: o.error },
              'cannot write to the database; nothing recorded for this file, will retry',
            );
          }
          break;
        }
        // A partial last line already longer than the limit will be skipped once it ends: say so now,
        // since until then the offset cannot move and the file is reread from it on every change.
        const max = this.opts.maxLineBytes;
        for (const o of out.values()) {
          if (o.ioError || !stat || stat.size - o.offset <= max) continue;
          if (o.kind === 'error' || o.kind === 'deferred' || o.kind === 'quarantined' || o.kind === 'deleted') continue;
          if (this.badLog.shouldLog(`pending:${file}:${o.offset}`)) {
            this.opts.log.warn(
              { sessionFile: file, offset: o.offset, pendingBytes: stat.size - o.offset, maxLineBytes: max },
              'incomplete line longer than max-line-bytes; it will be skipped once it ends',
            );
          }
          break;
        }
        return out;
      }),
    };
  }

  private badLine(file: string, bad: BadLine): void {
    this.counters.badLines++;
    if (!this.badLog.shouldLog(`${file}:${bad.offset}`)) return;
    // Per file too: a binary or corrupt file must not log one line per "line".
    const now = Date.now();
    if (now - this.badLoggedSince > 10 * 60_000 || this.badLogged.size > 10_000) {
      this.badLogged = new Map();
      this.badLoggedSince = now;
    }
    const n = (this.badLogged.get(file) ?? 0) + 1;
    this.badLogged.set(file, n);
    if (n <= BAD_LINES_LOGGED_PER_FILE) {
      this.opts.log.warn(
        { sessionFile: file, offset: bad.offset, length: bad.length, kind: bad.kind, detail: bad.detail },
        'bad line skipped',
      );
    } else if (n === BAD_LINES_LOGGED_PER_FILE + 1) {
      this.opts.log.warn(
        { sessionFile: file, offset: bad.offset },
        'more bad lines in this file; not logged (counted, and recorded in session_bad_lines)',
      );
    }
  }

  /** Run each processor's `upkeep` once, now (the end of `run --once`: the database at rest is folded). */
  async upkeep(): Promise<void> {
    for (const p of this.opts.processors) await p.upkeep?.run(this.db);
  }

  /**
   * Watch mode: run each processor's `upkeep` once commits have paused for its `idleMs`, or
   * after its `maxWaitMs` of commits without a pause; never while nothing committed since the
   * last run. One at a time, on the writer (its transaction queues with the commits'). A run
   * holds the writer: a 1 s run every 30 s set bench:live-reads' append -> commit p99 (200 lines
   * a second wait behind it, more than 1 % of a phase's lines), hence the idle moments.
   */
  startUpkeep(tickMs = 250): void {
    if (this.upkeepDue.length === 0) return;
    this.committer.onCommit(() => {
      const now = Date.now();
      for (const d of this.upkeepDue) {
        if (d.since === 0) d.since = now;
        d.last = now;
      }
    });
    const t = setInterval(() => {
      if (this.upkeepRunning) return;
      const now = Date.now();
      const d = this.upkeepDue.find((x) => x.since !== 0 && (now - x.last >= x.u.idleMs || now - x.since >= x.u.maxWaitMs));
      if (d) void this.runUpkeep([d]);
    }, tickMs);
    t.unref();
    this.upkeepTimers.push(t);
  }

  /**
   * Watch mode: every processor's `upkeep` now, after the one running (the end of a first
   * catch-up: the backlog folded while nothing live waits, before its CHECKPOINT).
   */
  async upkeepNow(): Promise<void> {
    while (this.upkeepRunning) await this.upkeepRunning;
    await this.runUpkeep(this.upkeepDue);
  }

  private runUpkeep(due: UpkeepDue[]): Promise<void> {
    const run = async (): Promise<void> => {
      for (const d of due) {
        const since = d.since;
        d.since = 0;
        const started = Date.now();
        try {
          await d.u.run(this.db);
          this.opts.log.debug({ processor: d.p.name, ms: Date.now() - started }, 'upkeep');
        } catch (e) {
          const err = e as Error;
          // Tried again at the next due moment.
          d.since = since || d.since || Date.now();
          if (this.ioLog.shouldLog(`upkeep:${d.p.name}:${err.message}`)) this.opts.log.warn({ processor: d.p.name, err: err.message }, 'upkeep failed; tried again later');
        }
      }
    };
    // Callers start one only when none runs (the timer's check, upkeepNow's wait).
    this.upkeepRunning = run().finally(() => {
      this.upkeepRunning = null;
    });
    return this.upkeepRunning;
  }

  async close(): Promise<void> {
    for (const t of this.upkeepTimers) clearInterval(t);
    await this.upkeepRunning;
    // A store that went away must not hold the exit: after CLOSE_RETRY_MS the waiting group gives up
    // (its files keep their committed checkpoints and are read again at the next start).
    const giveUp = setTimeout(() => this.committer.stop(), CLOSE_RETRY_MS);
    try {
      await this.committer.flush();
    } finally {
      clearTimeout(giveUp);
    }
    await this.leases?.stop();
    await this.db.close();
  }
}
