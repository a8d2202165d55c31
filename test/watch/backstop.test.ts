/**
 * The backstop's period rule (src/watch/backstop.ts): pure, so properties over every floor and
 * cost; and the daemon's wiring on a real tree, real DuckDB file, real timers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BACKSTOP_SHARE, MIN_STRETCH_COST_MS, backstopPeriodMs, rescanCostMs } from '../../src/watch/backstop.js';
import { sandbox, silentLog, waitFor, line, type Sandbox } from '../helpers.js';
import { loadConfig } from '../../src/config/config.js';
import { startDaemon, type Daemon } from '../../src/watch/daemon.js';
import { linesProcessor } from '../../pipelines/lines/index.js';
import { OpsMonitor, thresholdsFrom } from '../../src/ops/monitor.js';

const floor = fc.integer({ min: 100, max: 3_600_000 });
const cost = fc.double({ min: 0, max: 600_000, noNaN: true });

describe('backstopPeriodMs', () => {
  it('never goes below the configured period', () => {
    fc.assert(fc.property(floor, cost, (f, c) => backstopPeriodMs(f, c) >= f));
  });

  it('keeps a rescan that costs enough to matter within its share of a core', () => {
    fc.assert(fc.property(floor, cost, (f, c) => c < MIN_STRETCH_COST_MS || c / backstopPeriodMs(f, c) <= BACKSTOP_SHARE + 1e-12));
  });

  it('never stretches the period for a rescan under the minimum cost, however short the period', () => {
    fc.assert(fc.property(floor, fc.double({ min: 0, max: MIN_STRETCH_COST_MS, maxExcluded: true, noNaN: true }), (f, c) => backstopPeriodMs(f, c) === f));
    // The loaded-suite case: a 60-file rescan measured at 5 ms keeps a 300 ms period.
    expect(backstopPeriodMs(300, 5)).toBe(300);
  });

  it('is the configured period exactly while a rescan is cheap, or not measured yet', () => {
    fc.assert(
      fc.property(floor, fc.double({ min: 0, max: 0.999, noNaN: true }), (f, x) => backstopPeriodMs(f, x * f * BACKSTOP_SHARE) === f),
    );
    expect(backstopPeriodMs(60_000, null)).toBe(60_000);
    expect(backstopPeriodMs(60_000, Number.NaN)).toBe(60_000);
  });

  it('grows with the cost, and only as much as the share asks', () => {
    fc.assert(
      fc.property(floor, cost, cost, (f, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        return backstopPeriodMs(f, lo) <= backstopPeriodMs(f, hi);
      }),
    );
    // bench:idle at 100,000 files: a rescan of ~0.6 s of CPU at the default 60 s floor runs every 240 s.
    expect(backstopPeriodMs(60_000, 600)).toBe(240_000);
    expect(backstopPeriodMs(60_000, 150)).toBe(60_000);
  });
});

describe('rescanCostMs', () => {
  it('is the smaller of the two upper bounds, never negative', () => {
    fc.assert(
      fc.property(cost, cost, (cpu, wall) => {
        const c = rescanCostMs(cpu, wall);
        return c === Math.min(cpu, wall) && c >= 0;
      }),
    );
    expect(rescanCostMs(-1, 5)).toBe(0);
  });
});

describe('the daemon backstop', () => {
  let sb: Sandbox;
  let daemon: Daemon | null = null;
  afterEach(async () => {
    await daemon?.stop();
    daemon = null;
    sb.cleanup();
  });

  it('rescans at the configured period while rescans are cheap, and reports the period it runs at', async () => {
    sb = sandbox('sp-backstop-');
    sb.write('a/s.jsonl', line({ n: 1 }));
    const config = { ...loadConfig({}, { SESSION_ROOT: sb.root, SESSION_PIPELINE_DB: sb.db }), watcher: 'off' as const, rescanIntervalMs: 300 };
    daemon = await startDaemon({ config, processors: [linesProcessor], log: silentLog });
    const d = daemon;
    const rescans: { at: number; cpuMs: number }[] = [];
    d.events.listen({ rescanned: (r) => rescans.push({ at: d.lastRescan!.at, cpuMs: r.cpuMs ?? NaN }) });
    await waitFor(() => rescans.length >= 4, 10_000);
    // A rescan of one file costs about a millisecond of CPU here (0.4-1.4 ms, the first ones
    // cold), far under the minimum that stretches: the floor holds exactly.
    for (const r of rescans) expect(r.cpuMs).toBeLessThan(MIN_STRETCH_COST_MS);
    expect(d.status().rescanPeriodMs).toBe(300);
    for (let i = 2; i < rescans.length; i++) expect(rescans[i].at - rescans[i - 1].at).toBeLessThan(300 + 250);
    // A missed change is still found by the next rescan, with the watcher off.
    sb.append('a/s.jsonl', line({ n: 2 }));
    await waitFor(async () => {
      const rows = await d.pipeline.db.all<{ lines: bigint }>('SELECT lines FROM lines_file_stats WHERE session_file = $1', ['a/s.jsonl']);
      return rows.length > 0 && Number(rows[0].lines) === 2;
    }, 5000);
    const monitor = new OpsMonitor(d, thresholdsFrom(d.opts.config));
    try {
      expect(monitor.health().rescan).toMatchObject({ intervalMs: 300, periodMs: d.status().rescanPeriodMs });
    } finally {
      monitor.close();
    }
  });

  it('stretches the period of a costly rescan, and /health judges "overdue" by it', async () => {
    sb = sandbox('sp-backstop-');
    // 10,000 empty files in 20 directories: a caught-up rescan costs ~45 ms of CPU (100,000 cost
    // 450-600 ms), above the 20 ms minimum and 100 ms x 0.25 %.
    for (let i = 0; i < 10_000; i++) sb.write(`o${i % 20}/s${i}.jsonl`, '');
    const config = { ...loadConfig({}, { SESSION_ROOT: sb.root, SESSION_PIPELINE_DB: sb.db }), watcher: 'off' as const, rescanIntervalMs: 100 };
    daemon = await startDaemon({ config, processors: [linesProcessor], log: silentLog });
    const d = daemon;
    const costs: number[] = [];
    d.events.listen({ rescanned: (r) => costs.push(r.cpuMs ?? NaN) });
    // The initial scan, then a periodic one: its cost sets the period.
    await waitFor(() => costs.length >= 2 && d.isIdle(), 60_000);
    const last = d.lastRescan!;
    expect(last.cpuMs).toBeGreaterThanOrEqual(MIN_STRETCH_COST_MS);
    expect(d.status().rescanPeriodMs).toBe(backstopPeriodMs(100, last.cpuMs!));
    expect(d.status().rescanPeriodMs).toBeGreaterThan(100);
    const monitor = new OpsMonitor(d, thresholdsFrom(d.opts.config));
    try {
      const period = d.status().rescanPeriodMs;
      // Not overdue at 3x the configured period, only at 3x the period it runs at.
      const h = monitor.health(last.at + 3 * 100 + 10_000 + 1);
      expect(h.rescan).toMatchObject({ intervalMs: 100, periodMs: period });
      expect(h.reasons.some((r) => r.startsWith('last rescan was'))).toBe(false);
      expect(monitor.health(last.at + 3 * period + 10_001).reasons.some((r) => r.startsWith('last rescan was'))).toBe(true);
    } finally {
      monitor.close();
    }
  });
});
