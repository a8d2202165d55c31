/**
 * The daemon's event port (src/pipeline/events.ts) with a real daemon on a real temp root
 * and DuckDB file: every step of a run reaches the trace under its hint's trace, the metrics
 * count from typed events (not from trace records), and the two debounce moments have two
 * step names. Each case below failed before the port: the I/O error before the read never
 * reached `trace <file>`, a failed stat counted as an unchanged hint, and a merged hint and
 * a hint leaving the debounce were both `debounced`.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sandbox, silentLog, waitFor, type Sandbox } from '../helpers.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { startDaemon, type Daemon } from '../../src/watch/daemon.js';
import { hint } from '../../src/watch/hint.js';
import { linesProcessor } from '../../pipelines/lines/index.js';
import { OpsMonitor, thresholdsFrom } from '../../src/ops/monitor.js';
import { createMetrics, type Metrics } from '../../src/ops/metrics.js';
import { statSessionFile } from '../../src/watch/state-check.js';

let sb: Sandbox;
let daemon: Daemon | null = null;
let monitor: OpsMonitor | null = null;
let metrics: Metrics | null = null;
beforeEach(() => {
  sb = sandbox('sp-events-');
});
afterEach(async () => {
  metrics?.close();
  monitor?.close();
  await daemon?.stop();
  daemon = monitor = metrics = null;
  sb.cleanup();
});

function config(over: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}, { SESSION_ROOT: sb.root, SESSION_PIPELINE_DB: sb.db }),
    quietMs: 150,
    maxWaitMs: 1000,
    rescanIntervalMs: 600_000,
    watcher: 'off',
    ...over,
  };
}

async function start(): Promise<Daemon> {
  daemon = await startDaemon({ config: config(), processors: [linesProcessor], log: silentLog });
  monitor = new OpsMonitor(daemon, thresholdsFrom(daemon.opts.config));
  metrics = createMetrics(daemon, monitor);
  return daemon;
}

async function counter(name: string): Promise<number> {
  const m = metrics!.registry.getSingleMetric(`session_pipeline_${name}`);
  const v = await m!.get();
  return v.values.reduce((n, s) => n + s.value, 0);
}

const rec = (i: number) => JSON.stringify({ type: 'user', i }) + '\n';

async function committedOffset(d: Daemon, file: string): Promise<number> {
  return d.pipeline.checkpoints.get('lines', file)?.offset ?? -1;
}

describe('daemon events', () => {
  it('an I/O error before the read reaches the trace under the run trace, like every other step', async () => {
    const d = await start();
    const f = 'alice/vanishing.jsonl';
    sb.write(f, rec(1));
    d.emitHint(hint(f, 'manual'));
    await waitFor(async () => (await committedOffset(d, f)) === Buffer.byteLength(rec(1)), 5000);
    // Appended: the plan must probe the fingerprints at the committed offset; the file goes
    // between the stat and the probe.
    sb.append(f, rec(2));
    const st = await statSessionFile(d.pipeline.target(f)!.absPath);
    if (!st.ok || !st.stat) throw new Error('no stat');
    fs.rmSync(sb.file(f));
    const trace = { traceId: 'io-error-trace', at: Date.now() };
    const out = await (await d.pipeline.runFile(d.pipeline.target(f)!, st.stat, d.pipeline.processors, trace)).done;
    expect(out.get('lines')).toMatchObject({ kind: 'error', ioError: true });
    const records = d.trace.recent(f).filter((r) => r.traceId === 'io-error-trace');
    expect(records).toEqual([expect.objectContaining({ stage: 'error', sessionFile: f, error: expect.stringMatching(/ENOENT/) })]);
  });

  it('each run step carries the trace of the hint that started the run', async () => {
    const d = await start();
    const f = 'alice/s.jsonl';
    sb.write(f, rec(1) + rec(2));
    const h = hint(f, 'manual');
    d.emitHint(h);
    await waitFor(() => d.trace.recent(f).some((r) => r.stage === 'committed'), 5000);
    const stages = d.trace.recent(f).filter((r) => r.traceId === h.traceId).map((r) => r.stage);
    expect(stages).toEqual(['source', 'debounced', 'state-check', 'dispatched', 'read', 'processed', 'committed']);
  });

  it('hints_unchanged_total counts only hints dropped because the file is as committed, not failed stats', async () => {
    const d = await start();
    const f = 'alice/s.jsonl';
    sb.write(f, rec(1));
    d.emitHint(hint(f, 'manual'));
    await waitFor(async () => (await committedOffset(d, f)) > 0, 5000);
    const before = await counter('hints_unchanged_total');
    // A name longer than NAME_MAX: lstat fails with ENAMETOOLONG, the file's state is unknown.
    const long = `alice/${'x'.repeat(300)}.jsonl`;
    d.emitHint(hint(long, 'manual'));
    await waitFor(() => d.trace.recent(long).some((r) => r.stage === 'state-check'), 3000);
    expect(d.trace.recent(long).find((r) => r.stage === 'state-check')).toMatchObject({ decision: 'skip', why: 'stat failed: ENAMETOOLONG' });
    // The committed file, as committed: this one counts.
    d.emitHint(hint(f, 'manual'));
    await waitFor(() => d.trace.recent(f).filter((r) => r.stage === 'state-check' && r.why === 'unchanged').length === 1, 3000);
    expect((await counter('hints_unchanged_total')) - before).toBe(1);
  });

  it('a merged hint is `coalesced` (with the trace it joins), the one leaving the debounce `debounced`', async () => {
    const d = await start();
    await d.runRescan('initial-scan'); // the initial scan's (of an empty root) is over: only the two hints below
    const f = 'alice/s.jsonl';
    sb.write(f, rec(1));
    const first = hint(f, 'manual');
    const second = hint(f, 'change');
    d.emitHint(first);
    d.emitHint(second);
    await waitFor(() => d.trace.recent(f).some((r) => r.stage === 'committed'), 5000);
    const records = d.trace.recent(f);
    expect(records.filter((r) => r.stage === 'coalesced')).toEqual([expect.objectContaining({ traceId: second.traceId, mergedInto: first.traceId })]);
    expect(records.filter((r) => r.stage === 'debounced')).toEqual([expect.objectContaining({ traceId: first.traceId })]);
    expect(records.find((r) => r.stage === 'debounced')).not.toHaveProperty('mergedInto');
    expect(await counter('hints_coalesced_total')).toBe(1);
    expect(await counter('hints_total')).toBe(2);
  });
});
