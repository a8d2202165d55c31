/**
 * Fault injection: descriptors running out under a live daemon, the file
 * watcher failing (watch limit 0 / EMFILE), and a processor ten times slower
 * than the writer.
 */
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { line, query, sandbox, spawnCli, waitFor, type Sandbox } from '../helpers.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { startDaemon, type Daemon } from '../../src/watch/daemon.js';
import { linesProcessor } from '../../pipelines/lines/index.js';
import type { Processor } from '../../src/pipeline/processor.js';
import { OpsMonitor, thresholdsFrom } from '../../src/ops/monitor.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { captureLog, logLines } from './util.js';
// @ts-expect-error plain JS module shared with the crash child
import { recorder } from './recorder.mjs';

let sb: Sandbox;
let daemon: Daemon | null = null;
beforeEach(() => {
  sb = sandbox('sp-fault-');
});
afterEach(async () => {
  await daemon?.stop();
  daemon = null;
  delete process.env.SESSION_PIPELINE_FAULT_WATCH_ERROR;
  sb.cleanup();
});

const rec = (i: number, pad = 40) => line({ type: 'assistant', i, text: 'x'.repeat(pad) });

function config(over: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}, { SESSION_ROOT: sb.root, SESSION_PIPELINE_DB: sb.db }),
    quietMs: 50,
    maxWaitMs: 300,
    rescanIntervalMs: 600_000,
    ...over,
  };
}

async function linesOf(d: Daemon, file: string): Promise<number> {
  const r = await d.pipeline.db.all<{ lines: bigint }>('SELECT lines FROM lines_file_stats WHERE session_file = $1', [file]);
  return r.length ? Number(r[0].lines) : 0;
}

function completeLines(file: string): number {
  const b = fs.readFileSync(file);
  let n = 0;
  for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
  return n;
}

const hasPrlimit = (() => {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('fault injection', () => {
  it.skipIf(!hasPrlimit)('EMFILE under a live daemon: files are unknown, never deleted; errors reported; all caught up once descriptors are back', async () => {
    const files = Array.from({ length: 60 }, (_, i) => `owner${i}/s.jsonl`);
    for (const f of files) sb.write(f, rec(0));
    const d = spawnCli(
      ['watch', '--root', sb.root, '--db', sb.db, '--processors', 'lines', '--quiet-ms', '50', '--max-wait-ms', '200', '--rescan-interval-ms', '300', '--admin-port', '0', '--log-level', 'info'],
      {},
    );
    let stderr = '';
    let lastCommit = Date.now();
    d.stderr!.on('data', (b) => {
      stderr += b;
      if (String(b).includes('"msg":"committed"')) lastCommit = Date.now();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => d.on('exit', (code, signal) => res({ code, signal })));
    // Quiet: no commit for a while, several rescans (300 ms) included.
    const quiet = () => waitFor(() => Date.now() - lastCommit > 1500, 30_000);
    try {
      await waitFor(() => stderr.includes('"watching"'), 15_000);
      await quiet(); // initial scan and catch-up
      // No descriptor left: every open(), opendir() and accept() now fails with EMFILE.
      const soft = /Max open files\s+(\d+)/.exec(fs.readFileSync(`/proc/${d.pid}/limits`, 'utf8'))![1];
      execFileSync('prlimit', ['--pid', String(d.pid), '--nofile=0:']);
      const limitedAt = stderr.length;
      for (const f of files) sb.append(f, rec(1));
      fs.rmSync(sb.file(files[0])); // a real delete must wait too: the scan cannot tell it from the rest
      await new Promise((r) => setTimeout(r, 2000)); // several rescans
      expect(d.exitCode).toBeNull();
      const during = logLines(stderr.slice(limitedAt));
      expect(during.some((e) => e.code === 'EMFILE' && /cannot list directory/.test(e.msg))).toBe(true);
      expect(during.some((e) => /EMFILE/.test(String(e.err ?? '')) && e.msg === 'cannot read file; will retry')).toBe(true);
      execFileSync('prlimit', ['--pid', String(d.pid), `--nofile=${soft}:`]);
      await new Promise((r) => setTimeout(r, 1000));
      await quiet();
      d.kill('SIGTERM');
      expect((await exited).code).toBe(0);
    } finally {
      if (d.exitCode === null && d.signalCode === null) d.kill('SIGKILL');
    }
    const state = await query<{ session_file: string; status: string; attempts: number }>(
      sb.db,
      "SELECT session_file, status, attempts FROM session_processor_state WHERE processor_name = 'lines' ORDER BY 1",
    );
    expect(state).toHaveLength(files.length);
    // Only the file really deleted is marked deleted, and only after descriptors came back.
    expect(state.filter((s) => s.status === 'deleted').map((s) => s.session_file)).toEqual([files[0]]);
    expect(state.every((s) => s.attempts === 0)).toBe(true);
    const stats = await query<{ session_file: string; lines: number }>(sb.db, 'SELECT session_file, lines FROM lines_file_stats');
    const got = new Map(stats.map((s) => [s.session_file, s.lines]));
    expect(got.get(files[0])).toBe(1); // outputs of the deleted file kept
    for (const f of files.slice(1)) expect(got.get(f), f).toBe(2);
  }, 60_000);

  for (const code of ['ENOSPC', 'EMFILE']) {
    it(`the watcher failing with ${code} (watch limit 0 / no descriptors): degraded to rescans, with a metric and a health warning`, async () => {
      process.env.SESSION_PIPELINE_FAULT_WATCH_ERROR = code;
      sb.write('a/keep.jsonl', rec(1));
      sb.write('a/trunc.jsonl', rec(1) + rec(2));
      const logs = captureLog('info');
      const cfg = config({ rescanIntervalMs: 300 });
      daemon = await startDaemon({ config: cfg, processors: [linesProcessor], log: logs.log });
      const d = daemon;
      const monitor = new OpsMonitor(d, thresholdsFrom(cfg));
      const metrics = createMetrics(d, monitor);
      try {
        await waitFor(() => d.status().watcher.state === 'degraded', 5000);
        expect(d.status().watcher.reason).toMatch(new RegExp(code));
        expect(logs.entries.filter((e) => e.msg.includes('degraded'))).toEqual([
          expect.objectContaining({ level: 50, reason: expect.stringMatching(new RegExp(code)) }),
        ]);
        const text = await metrics.registry.metrics();
        expect(text).toMatch(/^session_pipeline_watcher_degraded 1$/m);
        expect(text).toMatch(/^session_pipeline_watcher_errors_total [1-9]/m);
        const h = monitor.health();
        expect(h.status).toBe('warning');
        expect(h.reasons).toContainEqual(expect.stringMatching(/watcher degraded to rescan-only/));
        // Rescans alone find appends, truncations and new files.
        await waitFor(async () => (await linesOf(d, 'a/trunc.jsonl')) === 2, 5000);
        sb.append('a/keep.jsonl', rec(2));
        sb.write('a/trunc.jsonl', rec(9));
        sb.write('b/new.jsonl', rec(1) + rec(2) + rec(3));
        await waitFor(async () => (await linesOf(d, 'a/keep.jsonl')) === 2, 5000);
        await waitFor(async () => (await linesOf(d, 'a/trunc.jsonl')) === 1, 5000);
        await waitFor(async () => (await linesOf(d, 'b/new.jsonl')) === 3, 5000);
      } finally {
        metrics.close();
        monitor.close();
      }
    });
  }

  it('a processor 10x slower than the writer: lag grows and is reported, memory stays bounded, it catches up exactly', async () => {
    const files = Array.from({ length: 4 }, (_, i) => `o/s${i}.jsonl`);
    for (const f of files) sb.write(f, '');
    const msPerLine = 5;
    const base = recorder({ name: 'slow' }) as Processor;
    const slow: Processor = {
      ...base,
      async process(batch, tx) {
        await new Promise((r) => setTimeout(r, batch.lines.length * msPerLine));
        return base.process(batch, tx);
      },
    };
    const cfg = config({ rescanIntervalMs: 1000, concurrency: 1, healthLagBytes: 20_000 });
    daemon = await startDaemon({ config: cfg, processors: [slow, linesProcessor], log: captureLog('silent').log });
    const d = daemon;
    const monitor = new OpsMonitor(d, thresholdsFrom(cfg));
    const metrics = createMetrics(d, monitor);
    try {
      await new Promise((r) => setTimeout(r, 300));
      global.gc?.();
      const heap0 = process.memoryUsage().heapUsed;
      let heapMax = heap0;
      const lagSamples: number[] = [];
      // The writer: 2,000 lines/s (10x what the slow processor does: 1000 / 5 ms = 200 lines/s) for 2 s.
      let i = 0;
      const writeFor = 2000;
      const t0 = Date.now();
      while (Date.now() - t0 < writeFor) {
        for (let k = 0; k < 20; k++) sb.append(files[i % files.length], rec(i++, 200));
        await new Promise((r) => setTimeout(r, 10));
        if (i % 200 === 0) {
          lagSamples.push(monitor.tracker.lag('slow').lagBytes);
          heapMax = Math.max(heapMax, process.memoryUsage().heapUsed);
        }
      }
      const written = i;
      // Reported: the lag gauge and a health warning above the lag threshold.
      await waitFor(() => monitor.tracker.lag('slow').lagBytes > 20_000, 5000);
      const text = await metrics.registry.metrics();
      const gauge = Number(/^session_pipeline_lag_bytes\{processor="slow"\} (\d+)/m.exec(text)?.[1] ?? -1);
      expect(gauge).toBeGreaterThan(20_000);
      expect(monitor.health().reasons).toContainEqual(expect.stringMatching(/^slow: lag \d+ bytes/));
      expect(Math.max(...lagSamples.slice(-3))).toBeGreaterThan(Math.max(...lagSamples.slice(0, 2)));
      // It catches up after the writer stops, with the lines processor long done.
      await waitFor(async () => monitor.tracker.lag('lines').lagBytes === 0, 10_000);
      await waitFor(
        async () => {
          heapMax = Math.max(heapMax, process.memoryUsage().heapUsed);
          return monitor.tracker.lag('slow').lagBytes === 0 && d.isIdle();
        },
        (written * msPerLine) * 2 + 10_000,
        100,
      );
      expect(heapMax - heap0).toBeLessThan(100 << 20);
      const rows = await d.pipeline.db.all<{ session_file: string; n: bigint; distinct_offsets: bigint }>(
        'SELECT session_file, count(*) AS n, count(DISTINCT "offset") AS distinct_offsets FROM slow_lines GROUP BY 1 ORDER BY 1',
      );
      for (const f of files) {
        const r = rows.find((x) => x.session_file === f)!;
        const want = completeLines(sb.file(f));
        expect(Number(r.n), f).toBe(want);
        expect(Number(r.distinct_offsets)).toBe(want);
        expect(await linesOf(d, f)).toBe(want);
      }
      expect(monitor.health().status).toBe('ok');
    } finally {
      metrics.close();
      monitor.close();
    }
  }, 90_000);
});
