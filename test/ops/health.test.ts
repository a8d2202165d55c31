/**
 * Lag tracking and health rules on plain objects: no daemon, no clock.
 */
import { describe, expect, it } from 'vitest';
import { LagTracker } from '../../src/ops/lag.js';
import { computeHealth, type HealthInput } from '../../src/ops/health.js';
import type { LeaseStats } from '../../src/pipeline/lease-keeper.js';
import type { Checkpoint } from '../../src/state/checkpoint.js';
import { CheckpointService } from '../../src/state/checkpoints.js';
import type { FileStat } from '../../src/discover/file-stat.js';

const P = { name: 'lines', version: 1 };

const st = (size: number, mtimeMs = size, ino = 1): FileStat => ({ size, mtimeMs, ctimeMs: mtimeMs, ino });

function cp(file: string, s: FileStat | null, extra: Partial<Checkpoint> = {}): Checkpoint {
  return {
    processorName: 'lines',
    sessionFile: file,
    owner: file.split('/')[0],
    offset: s?.size ?? 0,
    headHash: '',
    tailHash: '',
    size: s?.size ?? 0,
    mtimeMs: s?.mtimeMs ?? 0,
    ctimeMs: s?.ctimeMs ?? 0,
    inode: s?.ino ?? 0,
    linesProcessed: 0,
    itemsProcessed: 0,
    badLines: 0,
    processorVersion: 1,
    processedAt: 0,
    status: 'ok',
    attempts: 0,
    lastError: null,
    nextAttemptAt: null,
    carry: undefined,
    ...extra,
  };
}

/**
 * A tracker over a real checkpoint cache, as the monitor wires them: the tracker reads committed
 * checkpoints from the cache, and is told of each commit with the checkpoint it replaced.
 */
function tracked(processors: { name: string; version: number; settleMs?: number }[], initial: Checkpoint[] = []) {
  const cache = new CheckpointService();
  for (const c of initial) cache.set(c);
  const t = new LagTracker(processors, (p, f) => cache.get(p, f), (p) => cache.forProcessor(p));
  const commit = (c: Checkpoint, at: number) => {
    const previous = cache.get(c.processorName, c.sessionFile);
    cache.set(c);
    t.commit(c, previous, at);
  };
  return Object.assign(t, { commitAt: commit });
}

describe('LagTracker', () => {
  it('cold start with no files: no lag', () => {
    const t = tracked([P]);
    expect(t.lag('lines', 1000)).toEqual({ lagBytes: 0, lagFiles: 0, retrying: 0, quarantined: 0, lastCommitAt: null, oldestPending: null });
  });

  it('a new file is pending from when it was first seen until its checkpoint matches', () => {
    const t = tracked([P]);
    t.observe('o/a.jsonl', st(100), 1000);
    expect(t.lag('lines', 1500)).toMatchObject({ lagBytes: 100, lagFiles: 1, oldestPending: { sessionFile: 'o/a.jsonl', since: 1000, ageMs: 500 } });
    t.commitAt(cp('o/a.jsonl', st(100)), 1600);
    expect(t.lag('lines', 1700)).toMatchObject({ lagBytes: 0, lagFiles: 0, oldestPending: null, lastCommitAt: 1600 });
    expect(t.bytesCommitted('lines')).toBe(100);
  });

  it('checkpoints loaded at start count as caught up once the file is seen as committed', () => {
    const t = tracked([P], [cp('o/a.jsonl', st(100))]);
    t.observe('o/a.jsonl', st(100), 1000);
    expect(t.lag('lines', 2000)).toMatchObject({ lagBytes: 0, lagFiles: 0 });
    t.observe('o/a.jsonl', st(150), 3000);
    expect(t.lag('lines', 3500)).toMatchObject({ lagBytes: 50, lagFiles: 1, oldestPending: { since: 3000 } });
  });

  it('a live file that is kept up with never looks stuck: a commit of an older stat moves "since" on', () => {
    const t = tracked([P]);
    t.observe('o/a.jsonl', st(100), 1000);
    t.observe('o/a.jsonl', st(200), 2000); // grew again before the first run committed
    t.commitAt(cp('o/a.jsonl', st(100)), 2100); // the run that read up to 100
    expect(t.lag('lines', 2200)).toMatchObject({ lagBytes: 100, lagFiles: 1, oldestPending: { since: 2000 } });
    t.commitAt(cp('o/a.jsonl', st(200)), 2300);
    expect(t.lag('lines', 2400).oldestPending).toBeNull();
  });

  it('an intermediate batch checkpoint keeps the file pending with its original since', () => {
    const t = tracked([P]);
    t.observe('o/big.jsonl', st(1000), 1000);
    t.commitAt(cp('o/big.jsonl', null, { offset: 400, size: -1, mtimeMs: -1, inode: 1 }), 1200);
    expect(t.lag('lines', 1300)).toMatchObject({ lagBytes: 600, lagFiles: 1, oldestPending: { since: 1000 } });
    expect(t.bytesCommitted('lines')).toBe(400);
  });

  it('quarantined files are counted apart, not as pending; a requeue makes them pending again', () => {
    const t = tracked([P]);
    t.observe('o/bad.jsonl', st(100), 1000);
    t.commitAt(cp('o/bad.jsonl', null, { status: 'retrying', attempts: 1, nextAttemptAt: 5000, lastError: 'boom' }), 1100);
    expect(t.lag('lines', 1200)).toMatchObject({ retrying: 1, quarantined: 0, lagFiles: 1, oldestPending: { since: 1000 } });
    t.commitAt(cp('o/bad.jsonl', null, { status: 'quarantined', attempts: 2, lastError: 'boom' }), 5100);
    expect(t.lag('lines', 5200)).toMatchObject({ retrying: 0, quarantined: 1, lagFiles: 0, lagBytes: 100, oldestPending: null });
    expect(t.troubledCheckpoints('lines').map((c) => c.status)).toEqual(['quarantined']);
    t.commitAt(cp('o/bad.jsonl', null, { status: 'retrying', attempts: 0, nextAttemptAt: 6000 }), 6000);
    expect(t.lag('lines', 6100)).toMatchObject({ retrying: 1, quarantined: 0, lagFiles: 1 });
    t.commitAt(cp('o/bad.jsonl', st(100)), 6200);
    expect(t.lag('lines', 6300)).toMatchObject({ retrying: 0, quarantined: 0, lagFiles: 0, lagBytes: 0 });
    expect(t.troubledCheckpoints('lines')).toEqual([]);
  });

  it('a deleted file stops lagging', () => {
    const t = tracked([P]);
    t.observe('o/a.jsonl', st(100), 1000);
    t.observe('o/a.jsonl', null, 1100);
    expect(t.lag('lines', 1200)).toMatchObject({ lagBytes: 0, lagFiles: 0, oldestPending: null });
    expect(t.filesSeen).toBe(0);
  });

  it('a processor version bump lags by the whole file', () => {
    const t = tracked([{ name: 'lines', version: 2 }], [cp('o/a.jsonl', st(100))]);
    t.observe('o/a.jsonl', st(100), 1000);
    expect(t.lag('lines', 1100)).toMatchObject({ lagBytes: 100, lagFiles: 1 });
  });

  it('FIFO: a file passed by newer committed changes is flagged', () => {
    const t = tracked([P]);
    t.observe('o/old.jsonl', st(10), 1000);
    t.observe('o/new.jsonl', st(10), 2000);
    expect(t.lag('lines', 2100).oldestPending).toMatchObject({ sessionFile: 'o/old.jsonl', newerCommitted: false });
    t.commitAt(cp('o/new.jsonl', st(10)), 2200);
    expect(t.lag('lines', 2300).oldestPending).toMatchObject({ sessionFile: 'o/old.jsonl', ageMs: 1300, newerCommitted: true });
  });

  it('settle-policy processors count a file as pending only once it has been quiet long enough', () => {
    const t = tracked([{ name: 'lines', version: 1, settleMs: 30_000 }]);
    t.observe('o/live.jsonl', st(10, 1000), 1000);
    expect(t.lag('lines', 20_000)).toMatchObject({ lagFiles: 1, lagBytes: 10, oldestPending: null });
    expect(t.lag('lines', 41_000).oldestPending).toMatchObject({ since: 31_000, ageMs: 10_000 });
  });

  it('a retraction counts the bytes it commits again', () => {
    const t = tracked([P]);
    t.observe('o/a.jsonl', st(100), 1000);
    t.commitAt(cp('o/a.jsonl', st(100)), 1100);
    t.observe('o/a.jsonl', st(80, 2000, 2), 2000);
    t.commitAt(cp('o/a.jsonl', st(80, 2000, 2)), 2100);
    expect(t.bytesCommitted('lines')).toBe(180);
  });
});

function input(extra: Partial<HealthInput> = {}): HealthInput {
  return {
    now: 100_000,
    startedAt: 0,
    stopping: false,
    processors: [{ name: 'lines', version: 1, settleMs: 0, lag: new LagTracker([P]).lag('lines') }],
    watcher: { state: 'ok', events: 0, errors: 0, watchedDirs: 0 },
    lastRescan: { at: 90_000, durationMs: 5, files: 0, hinted: 0 },
    rescanIntervalMs: 60_000,
    rescanRunning: false,
    lastCommitAt: null,
    consecutiveFailures: 0,
    thresholds: { stuckMs: 5_000, lagBytes: 1000, lagFiles: 10, failuresForError: 3 },
    ...extra,
  };
}

const lag = (over: Partial<ReturnType<LagTracker['lag']>>) => ({
  lagBytes: 0,
  lagFiles: 0,
  retrying: 0,
  quarantined: 0,
  lastCommitAt: null,
  oldestPending: null,
  ...over,
});

describe('computeHealth', () => {
  it('a cold start with no files is ok', () => {
    const h = computeHealth(input({ lastRescan: null }));
    expect(h.status).toBe('ok');
    expect(h.initialScan).toBe('running');
    expect(h.processors.lines).toMatchObject({ status: 'ok', lagBytes: 0, lagFiles: 0, oldestPending: null, fifo: 'ok' });
  });

  it('a change pending longer than the threshold is a warning, with the FIFO verdict', () => {
    const oldest = { sessionFile: 'o/stuck.jsonl', since: 90_000, ageMs: 10_000, newerCommitted: true };
    const h = computeHealth(input({ processors: [{ name: 'lines', version: 1, settleMs: 0, lag: lag({ lagFiles: 1, oldestPending: oldest }) }] }));
    expect(h.status).toBe('warning');
    expect(h.processors.lines).toMatchObject({ status: 'warning', fifo: 'skipped', oldestPending: { sessionFile: 'o/stuck.jsonl', ageMs: 10_000 } });
    expect(h.reasons.join('\n')).toMatch(/o\/stuck\.jsonl pending for 10\.0 s while newer changes were committed/);

    const young = { ...oldest, ageMs: 4_000 };
    expect(computeHealth(input({ processors: [{ name: 'lines', version: 1, settleMs: 0, lag: lag({ oldestPending: young }) }] })).status).toBe('ok');
  });

  it('quarantined files, lag over thresholds and a degraded watcher are warnings', () => {
    const q = computeHealth(input({ processors: [{ name: 'lines', version: 1, settleMs: 0, lag: lag({ quarantined: 2 }) }] }));
    expect(q.status).toBe('warning');
    expect(q.reasons).toEqual(['lines: 2 quarantined files']);
    expect(computeHealth(input({ processors: [{ name: 'lines', version: 1, settleMs: 0, lag: lag({ lagBytes: 1001 }) }] })).status).toBe('warning');
    expect(computeHealth(input({ processors: [{ name: 'lines', version: 1, settleMs: 0, lag: lag({ lagFiles: 11 }) }] })).status).toBe('warning');
    const off = { ...input().thresholds, lagBytes: 0, lagFiles: 0 };
    expect(computeHealth(input({ thresholds: off, processors: [{ name: 'lines', version: 1, settleMs: 0, lag: lag({ lagBytes: 1e12, lagFiles: 1e6 }) }] })).status).toBe('ok');
    const w = computeHealth(input({ watcher: { state: 'degraded', reason: 'ENOSPC', events: 0, errors: 1, watchedDirs: 0 } }));
    expect(w).toMatchObject({ status: 'warning', watcher: { status: 'degraded', reason: 'ENOSPC' } });
    expect(computeHealth(input({ watcher: { state: 'off', events: 0, errors: 0, watchedDirs: 0 } })).status).toBe('ok');
  });

  it('overdue rescans are a warning, unless one is running', () => {
    expect(computeHealth(input({ lastRescan: { at: 0, durationMs: 1, files: 1, hinted: 0 }, rescanIntervalMs: 10_000 })).status).toBe('warning');
    expect(computeHealth(input({ lastRescan: { at: 0, durationMs: 1, files: 1, hinted: 0 }, rescanIntervalMs: 10_000, rescanRunning: true })).status).toBe('ok');
  });

  it('stopping, or runs failing with nothing committed, is an error', () => {
    expect(computeHealth(input({ stopping: true })).status).toBe('error');
    expect(computeHealth(input({ consecutiveFailures: 2 })).status).toBe('ok');
    const e = computeHealth(input({ consecutiveFailures: 3, processors: [{ name: 'lines', version: 1, settleMs: 0, lag: lag({ quarantined: 1 }) }] }));
    expect(e.status).toBe('error');
    expect(e.reasons).toHaveLength(2);
  });

  it('shows the store, and a lost store connection: a warning for 30 s, then an error', () => {
    const store = { kind: 'postgres' as const, location: 'postgres://a:***@db/team', pool: { total: 2, idle: 1, waiting: 0, max: 4 }, writerConnected: false, lastError: null };
    const ok = computeHealth(input({ store }));
    expect(ok.status).toBe('ok');
    expect(ok.store).toEqual({ ...store, connectionLostSince: null });
    const now = 100_000;
    const brief = computeHealth(input({ now, store, connectionLost: { at: now - 5_000, error: 'Connection terminated unexpectedly' } }));
    expect(brief.status).toBe('warning');
    expect(brief.reasons[0]).toMatch(/lost the database connection 5\.0 s ago.*Connection terminated/);
    expect(brief.store?.connectionLostSince).toBe(new Date(now - 5_000).toISOString());
    expect(computeHealth(input({ now, store, connectionLost: { at: now - 31_000, error: 'x' } })).status).toBe('error');
  });
});

describe('computeHealth: leases (a shared store)', () => {
  const leases = (over: Partial<LeaseStats> = {}): LeaseStats => ({
    node: 'n1',
    ttlMs: 30_000,
    holding: 3,
    taken: 10,
    busy: 2,
    takenOver: 1,
    lost: 0,
    released: 7,
    fenced: 0,
    lastHeartbeatAt: 95_000,
    heartbeatErrors: 0,
    store: { held: 3, active: 5, expired: 1, total: 40, nodes: 2, at: 95_000 },
    ...over,
  });

  it('an embedded store has no leases section', () => {
    expect(computeHealth(input()).leases).toBeUndefined();
  });
  it('shows what this node holds and the store counts at the last heartbeat', () => {
    const h = computeHealth(input({ leases: leases() }));
    expect(h.status).toBe('ok');
    expect(h.leases).toMatchObject({ node: 'n1', holding: 3, held: 3, active: 5, expired: 1, total: 40, nodes: 2, takenOver: 1, countedAt: new Date(95_000).toISOString() });
  });
  it('warns when the heartbeat has not succeeded for a TTL (the others may take the files)', () => {
    const h = computeHealth(input({ leases: leases({ lastHeartbeatAt: 60_000, heartbeatErrors: 4 }) }));
    expect(h.status).toBe('warning');
    expect(h.reasons.join()).toMatch(/leases not renewed for 40\.0 s/);
  });
});
