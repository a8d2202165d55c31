/**
 * This node's side of the leases (state/leases.ts): the files it holds and
 * their tokens, a heartbeat that renews them, and the lapsed leases of other
 * nodes that it should take over.
 *
 * A file is taken for a run and handed back when the run is done (the daemon
 * releases it once its stat shows nothing pending), so the nodes of one root
 * divide the work file by file instead of the first to start keeping
 * everything. Runs of one file overlap (processors that do not share a read),
 * so holding is counted per file.
 *
 * Tokens only grow, and stay the same while no other node held the file: a
 * take that returns a token other than the last one this node had means
 * another node may have committed since, and the caller must reload the
 * file's checkpoints before planning (`fresh`).
 */
import type { Logger } from 'pino';
import type { SessionKeys } from '../discover/session-path.js';
import os from 'node:os';
import {
  lapseDeadLocalNodes,
  pidAlive,
  lapsedLeases,
  leaseCounts,
  releaseLease,
  renewLeases,
  takeLease,
  type LeaseCounts,
  type SqlRunner,
} from '../state/leases.js';

export interface LeaseSettings {
  /** Who holds a lease (`--node-name`, default `<hostname>:<pid>`): unique per running process. */
  node: string;
  /** A lease not renewed for this long lapses and another node may take the file (`--lease-ttl-ms`). */
  ttlMs: number;
}

export interface Taken {
  token: number;
  /** Another node may have committed since this node last held the file: reload its checkpoints. */
  fresh: boolean;
}

export interface LeaseStats {
  node: string;
  ttlMs: number;
  /** Files this node holds now (in memory: taken, not released). */
  holding: number;
  taken: number;
  /** Takes that found the file held by another node. */
  busy: number;
  /** Files taken over from another node whose lease lapsed unreleased (it died or stalled). */
  takenOver: number;
  /** Leases found lost at a heartbeat (another node took the file after a stall). */
  lost: number;
  released: number;
  /** Runs whose commit was fenced off (lease lost, or checkpoint behind the store's): nothing written. */
  fenced: number;
  lastHeartbeatAt: number | null;
  heartbeatErrors: number;
  /** The store's counts as of the last heartbeat (all nodes). */
  store: (LeaseCounts & { at: number }) | null;
}

export class LeaseKeeper {
  /** Stored key -> token and how many runs hold it. */
  private readonly held = new Map<string, { token: number; refs: number }>();
  /** The last token this node had per file (held or not). */
  private readonly last = new Map<string, number>();
  /** Files whose cached checkpoints are known stale (a commit was fenced off): reload at the next take. */
  private readonly stale = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;
  readonly stats: LeaseStats;

  constructor(
    /** Lease statements (their own connection: state/leases.ts leaseConnection). */
    private readonly db: SqlRunner & { close?: () => Promise<void> },
    private readonly keys: SessionKeys,
    readonly settings: LeaseSettings,
    private readonly log: Logger,
  ) {
    this.stats = {
      node: settings.node,
      ttlMs: settings.ttlMs,
      holding: 0,
      taken: 0,
      busy: 0,
      takenOver: 0,
      lost: 0,
      released: 0,
      fenced: 0,
      lastHeartbeatAt: null,
      heartbeatErrors: 0,
      store: null,
    };
  }

  /** Take (or keep) the lease of a file (relative key); null while another node holds it. */
  async take(sessionFile: string): Promise<Taken | null> {
    const stored = this.keys.stored(sessionFile);
    const mine = this.held.get(stored);
    if (mine) {
      mine.refs++;
      return { token: mine.token, fresh: this.stale.delete(stored) };
    }
    const taken = await takeLease(this.db, stored, this.settings.node, this.settings.ttlMs);
    if (taken === null) {
      this.stats.busy++;
      return null;
    }
    // Another run of the file may have taken it while this one waited for the store.
    const raced = this.held.get(stored);
    if (raced) {
      raced.refs++;
      return { token: raced.token, fresh: this.stale.delete(stored) };
    }
    const { token } = taken;
    this.held.set(stored, { token, refs: 1 });
    this.stats.holding = this.held.size;
    this.stats.taken++;
    const fromOther = taken.from !== null && taken.from !== this.settings.node;
    // A dead (or stalled) node's file: its lease lapsed without a release.
    if (fromOther && taken.lapsed) this.stats.takenOver++;
    // No row yet: no node ever held the file, so nobody committed it since this node loaded its
    // checkpoints at start (no reload: a backfill would pay a query per file for nothing).
    const fresh = this.stale.delete(stored) || fromOther || (taken.from !== null && this.last.get(stored) !== token);
    this.last.set(stored, token);
    return { token, fresh };
  }

  /**
   * A run of the file is done; the last one hands the lease back. Always: a lease kept for a
   * run that may never come (the state check finds nothing to do) would be renewed forever.
   * Taking it again costs one statement, and keeps the token if no other node took it between.
   */
  async release(sessionFile: string): Promise<void> {
    const stored = this.keys.stored(sessionFile);
    const mine = this.held.get(stored);
    if (!mine) return;
    if (--mine.refs > 0) return;
    this.held.delete(stored);
    this.stats.holding = this.held.size;
    try {
      if (await releaseLease(this.db, stored, this.settings.node, mine.token)) this.stats.released++;
    } catch (err) {
      // Not released: it lapses after the TTL, and this node keeps its token if nobody took it.
      this.log.warn({ sessionFile, err: (err as Error).message }, 'could not release a lease');
    }
  }

  /**
   * A commit of the file was fenced off: what this node cached of it may be behind the store
   * (another node committed, or took the lease between), so the next take reads it again.
   */
  markStale(sessionFile: string): void {
    this.stats.fenced++;
    this.stale.add(this.keys.stored(sessionFile));
  }

  /** Whether this node holds the file now (as far as it knows). */
  holds(sessionFile: string): boolean {
    return this.held.has(this.keys.stored(sessionFile));
  }

  /**
   * Renew every held lease every ttl/3 and look for lapsed ones: `onLapsed` gets each lapsed
   * file of this source (relative key), for the caller to hint it (the dead node's files are
   * taken over within a TTL and a beat, even if nothing changes in them again).
   */
  start(onLapsed: (sessionFile: string) => void): void {
    if (this.timer) return;
    const every = Math.max(50, Math.floor(this.settings.ttlMs / 3));
    this.timer = setInterval(() => {
      if (this.beating) return;
      this.beating = this.beat(onLapsed).finally(() => {
        this.beating = null;
      });
    }, every);
    this.timer.unref?.();
  }

  private async beat(onLapsed: (sessionFile: string) => void): Promise<void> {
    try {
      const tokens = new Map([...this.held].map(([f, h]) => [f, h.token]));
      const still = await renewLeases(this.db, this.settings.node, tokens, this.settings.ttlMs);
      for (const f of tokens.keys()) {
        if (still.has(f) || this.held.get(f)?.token !== tokens.get(f)) continue;
        // Taken by another node after this one stalled past the TTL: its commits are fenced off anyway.
        this.held.delete(f);
        this.stats.lost++;
        this.log.warn({ sessionFile: f, node: this.settings.node }, 'lease lost: another node took the file');
      }
      this.stats.holding = this.held.size;
      for (const l of await lapsedLeases(this.db, 1000, this.keys.stored(''))) {
        if (l.node === this.settings.node) continue;
        const local = this.keys.local(l.sessionFile);
        if (local !== null) onLapsed(local);
      }
      this.stats.lastHeartbeatAt = Date.now();
      this.stats.store = { ...(await this.counts()), at: Date.now() };
    } catch (err) {
      this.stats.heartbeatErrors++;
      this.log.warn({ err: (err as Error).message }, 'lease heartbeat failed');
    }
  }

  /**
   * At start: lapse the leases of this host's dead earlier processes (state/leases.ts
   * lapseDeadLocalNodes), so a restart after a crash takes their files at once, not a TTL later.
   */
  async reapDeadLocal(host = os.hostname()): Promise<void> {
    const dead = await lapseDeadLocalNodes(this.db, host, (pid) => pid !== process.pid && pidAlive(pid));
    if (dead.length > 0) this.log.info({ nodes: dead }, 'leases of dead processes on this host lapsed (taken over at once)');
  }

  counts(): Promise<LeaseCounts> {
    return leaseCounts(this.db, this.settings.node);
  }

  /** Stop the heartbeat and hand back every lease (a graceful stop: the other nodes take over at once). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
    const files = [...this.held];
    this.held.clear();
    this.stats.holding = 0;
    for (const [f, h] of files) {
      try {
        await releaseLease(this.db, f, this.settings.node, h.token);
      } catch {
        // The store is gone: the leases lapse after the TTL.
      }
    }
    await this.db.close?.().catch(() => undefined);
  }
}
