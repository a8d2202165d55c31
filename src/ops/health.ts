/**
 * Health: one pure function from what the daemon knows (lag per processor,
 * watcher, rescans, commits) and the thresholds to `ok` / `warning` /
 * `error`, with the reasons. No I/O and no clock of its own, so every rule is
 * unit-tested on plain objects.
 *
 *   error    the daemon is stopping; or runs keep failing with nothing
 *            committed since (the database is not taking commits); or the
 *            store's connection has been lost for over 30 s (a warning before)
 *   warning  a change pending longer than `stuckMs` (with a FIFO note when
 *            newer changes went through meanwhile); quarantined files; lag
 *            above the byte / file thresholds; the watcher degraded to
 *            rescan-only; rescans overdue
 *   ok       otherwise, including a cold start with no files
 */
import type { ProcessorLag } from './lag.js';
import type { WatcherStatus } from '../watch/sources.js';
import type { LeaseStats } from '../pipeline/lease-keeper.js';
import type { StoreHealth } from '../state/db.js';

export type HealthLevel = 'ok' | 'warning' | 'error';

export interface HealthThresholds {
  /** A change pending longer than this is stuck. */
  stuckMs: number;
  /** Lag above this many bytes per processor (0 = off). */
  lagBytes: number;
  /** Lag above this many files per processor (0 = off). */
  lagFiles: number;
  /** Consecutive failed runs with no commit since, for `error`. */
  failuresForError: number;
}

export interface HealthInput {
  now: number;
  startedAt: number;
  stopping: boolean;
  /** The database file was deleted or replaced under the daemon (see state/db-file). */
  databaseLost?: string | null;
  processors: { name: string; version: number; settleMs: number; lag: ProcessorLag }[];
  watcher: WatcherStatus;
  lastRescan: { at: number; durationMs: number; files: number; hinted: number; root?: 'dir' | 'missing' | 'not-dir' } | null;
  /** The session root (its state is the last rescan's). */
  root?: string;
  /** The configured period (`--rescan-interval-ms`): the backstop's floor. */
  rescanIntervalMs: number;
  /** The backstop's current period (watch/backstop.ts), at least the configured one; it is what "overdue" judges. */
  rescanPeriodMs?: number;
  rescanRunning: boolean;
  lastCommitAt: number | null;
  consecutiveFailures: number;
  thresholds: HealthThresholds;
  /** A shared store: this node's leases (null on an embedded store). */
  leases?: LeaseStats | null;
  /** The store: kind, location (no password), PostgreSQL's pool and last connection error. */
  store?: StoreHealth;
  /** The committer is waiting for a lost store connection: since when (epoch ms), and why. */
  connectionLost?: { at: number; error: string } | null;
}

export interface LeaseHealth {
  node: string;
  ttlMs: number;
  /** Files this node holds now. */
  holding: number;
  /** From the store at the last heartbeat: valid leases of this node, of all nodes, lapsed ones, rows, nodes. */
  held: number | null;
  active: number | null;
  expired: number | null;
  total: number | null;
  nodes: number | null;
  countedAt: string | null;
  lastHeartbeatAt: string | null;
  heartbeatErrors: number;
  takenOver: number;
  lost: number;
  fenced: number;
}

export interface ProcessorHealth {
  status: HealthLevel;
  version: number;
  lagBytes: number;
  lagFiles: number;
  oldestPending: { sessionFile: string; ageMs: number; since: string; newerCommitted: boolean } | null;
  fifo: 'ok' | 'skipped';
  retrying: number;
  quarantined: number;
  lastCommitAt: string | null;
}

export interface Health {
  status: HealthLevel;
  reasons: string[];
  at: string;
  uptimeMs: number;
  initialScan: 'running' | 'done';
  processors: Record<string, ProcessorHealth>;
  watcher: { status: 'ok' | 'degraded' | 'off' | 'starting'; reason?: string; events: number; errors: number; watchedDirs: number };
  rescan: {
    lastAt: string | null;
    durationMs: number | null;
    files: number | null;
    hinted: number | null;
    intervalMs: number;
    /** The current period: intervalMs, or longer when a rescan costs more than 0.25 % of a core at it (watch/backstop.ts). */
    periodMs: number;
    running: boolean;
    /** The session root as the last rescan found it. */
    root: 'dir' | 'missing' | 'not-dir' | null;
  };
  commits: { lastAt: string | null; consecutiveFailures: number };
  store?: StoreHealth & { connectionLostSince: string | null };
  thresholds: HealthThresholds;
  /** Present on a shared store. */
  leases?: LeaseHealth;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 2 * 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export function computeHealth(input: HealthInput): Health {
  const { now, thresholds: t } = input;
  const reasons: string[] = [];
  let level: HealthLevel = 'ok';
  const raise = (to: HealthLevel, why: string) => {
    reasons.push(why);
    if (to === 'error' || (to === 'warning' && level === 'ok')) level = to;
  };

  if (input.databaseLost) raise('error', input.databaseLost);
  if (input.stopping) raise('error', 'daemon is stopping');
  if (input.connectionLost) {
    // A restart or failover takes seconds: a warning; a store away for longer stops the pipeline.
    const age = now - input.connectionLost.at;
    raise(age > 30_000 ? 'error' : 'warning', `lost the database connection ${formatMs(age)} ago; commits wait for it (${input.connectionLost.error})`);
  }
  if (input.consecutiveFailures >= t.failuresForError) {
    raise('error', `${input.consecutiveFailures} runs failed in a row with no commit since`);
  }

  const processors: Record<string, ProcessorHealth> = {};
  for (const p of input.processors) {
    const lag = p.lag;
    let pl: HealthLevel = 'ok';
    const warn = (why: string) => {
      pl = 'warning';
      raise('warning', `${p.name}: ${why}`);
    };
    const oldest = lag.oldestPending;
    const stuck = oldest !== null && oldest.ageMs > t.stuckMs;
    if (stuck) {
      warn(
        `${oldest.sessionFile} pending for ${formatMs(oldest.ageMs)}` +
          (oldest.newerCommitted ? ' while newer changes were committed (skipped)' : ' (nothing newer committed either)'),
      );
    }
    if (lag.quarantined > 0) warn(`${lag.quarantined} quarantined file${lag.quarantined === 1 ? '' : 's'}`);
    if (t.lagBytes > 0 && lag.lagBytes > t.lagBytes) warn(`lag ${lag.lagBytes} bytes > ${t.lagBytes}`);
    if (t.lagFiles > 0 && lag.lagFiles > t.lagFiles) warn(`lag ${lag.lagFiles} files > ${t.lagFiles}`);
    processors[p.name] = {
      status: pl,
      version: p.version,
      lagBytes: lag.lagBytes,
      lagFiles: lag.lagFiles,
      oldestPending: oldest
        ? { sessionFile: oldest.sessionFile, ageMs: oldest.ageMs, since: iso(oldest.since)!, newerCommitted: oldest.newerCommitted }
        : null,
      fifo: stuck && oldest.newerCommitted ? 'skipped' : 'ok',
      retrying: lag.retrying,
      quarantined: lag.quarantined,
      lastCommitAt: iso(lag.lastCommitAt),
    };
  }

  const w = input.watcher;
  if (w.state === 'degraded') raise('warning', `watcher degraded to rescan-only: ${w.reason ?? 'unknown reason'}`);

  const last = input.lastRescan;
  const where = input.root ?? 'the session root';
  if (last?.root === 'missing') raise('warning', `session root ${where} does not exist (yet): waiting for it to be created`);
  if (last?.root === 'not-dir') raise('error', `session root ${where} is not a directory: nothing can be processed`);
  const periodMs = Math.max(input.rescanIntervalMs, input.rescanPeriodMs ?? 0);
  const overdueAfter = 3 * periodMs + 10_000;
  if (last && !input.rescanRunning && now - last.at > overdueAfter) {
    raise('warning', `last rescan was ${formatMs(now - last.at)} ago (period ${formatMs(periodMs)})`);
  }

  const l = input.leases;
  if (l) {
    // Not renewed for a TTL: the other nodes may be taking this node's files (its commits are then fenced off).
    const since = l.lastHeartbeatAt ?? input.startedAt;
    if (now - since > l.ttlMs) raise('warning', `leases not renewed for ${formatMs(now - since)} (ttl ${formatMs(l.ttlMs)}): the store is not answering`);
  }

  return {
    status: level,
    reasons,
    at: iso(now)!,
    uptimeMs: now - input.startedAt,
    initialScan: last ? 'done' : 'running',
    processors,
    watcher: { status: w.state, ...(w.reason ? { reason: w.reason } : {}), events: w.events, errors: w.errors, watchedDirs: w.watchedDirs },
    rescan: {
      lastAt: iso(last?.at ?? null),
      durationMs: last?.durationMs ?? null,
      files: last?.files ?? null,
      hinted: last?.hinted ?? null,
      intervalMs: input.rescanIntervalMs,
      periodMs,
      running: input.rescanRunning,
      root: last?.root ?? null,
    },
    commits: { lastAt: iso(input.lastCommitAt), consecutiveFailures: input.consecutiveFailures },
    ...(input.store ? { store: { ...input.store, connectionLostSince: iso(input.connectionLost?.at ?? null) } } : {}),
    thresholds: t,
    ...(l
      ? {
          leases: {
            node: l.node,
            ttlMs: l.ttlMs,
            holding: l.holding,
            held: l.store?.held ?? null,
            active: l.store?.active ?? null,
            expired: l.store?.expired ?? null,
            total: l.store?.total ?? null,
            nodes: l.store?.nodes ?? null,
            countedAt: iso(l.store?.at ?? null),
            lastHeartbeatAt: iso(l.lastHeartbeatAt),
            heartbeatErrors: l.heartbeatErrors,
            takenOver: l.takenOver,
            lost: l.lost,
            fenced: l.fenced,
          },
        }
      : {}),
  };
}
