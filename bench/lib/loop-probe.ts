/**
 * A diagnostic preload for bench/admin-latency (`node --import <this> ... watch`): what holds the
 * daemon's event loop? Nothing here changes behaviour; it only times.
 *
 *   - event-loop stalls: a 5 ms interval timer; a tick late by >= 30 ms is a stall window;
 *   - processor `process()` calls: from trace stages (`read` -> `processed`, `processed` ->
 *     `processed` within one batch), i.e. the synchronous time a processor held the loop;
 *   - appender segments: `createAppender` resolved -> `closeSync` returned (appendRows + flushSync);
 *   - GC pauses (PerformanceObserver).
 * On exit it writes JSON to $LOOP_PROBE_OUT: the distribution of each section's duration and how
 * much stall time each kind of section overlapped.
 */
import fs from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import { TraceLog } from '../../src/watch/trace.js';
import { TimeSlicer } from '../../src/loop/yield.js';

interface Span {
  kind: string;
  start: number;
  end: number;
}

const spans: Span[] = [];
/** hrEndUs: the stall's end on the monotonic clock in µs, the clock of V8 CPU profiles. */
const stalls: { start: number; end: number; hrEndUs: number }[] = [];

// ---- event-loop stalls
let last = performance.now();
const timer = setInterval(() => {
  const now = performance.now();
  const late = now - last - 5;
  if (late >= 30) stalls.push({ start: last + 5, end: now, hrEndUs: Number(process.hrtime.bigint() / 1000n) });
  last = now;
}, 5);
timer.unref();

// ---- processors, through the trace stages of one batch
const proto = TraceLog.prototype as unknown as { record: (...args: unknown[]) => void };
const record = proto.record;
const lastStage = new Map<string, number>();
proto.record = function (this: unknown, ...args: unknown[]) {
  const [stage, file, , , detail] = args as [string, string, string, number, Record<string, unknown> | undefined];
  const now = performance.now();
  if (stage === 'read') lastStage.set(file, now);
  else if (stage === 'processed') {
    const from = lastStage.get(file);
    if (from !== undefined) spans.push({ kind: `process:${String(detail?.processor)}`, start: from, end: now });
    lastStage.set(file, now);
  }
  return record.apply(this, args);
};

// ---- appender segments
const createAppender = DuckDBConnection.prototype.createAppender;
const opened = new WeakMap<object, number>();
DuckDBConnection.prototype.createAppender = async function (this: DuckDBConnection, ...args: Parameters<typeof createAppender>) {
  const a = await createAppender.apply(this, args);
  opened.set(a, performance.now());
  return a;
};
const closeSync = DuckDBAppender.prototype.closeSync;
DuckDBAppender.prototype.closeSync = function (this: DuckDBAppender) {
  const out = closeSync.call(this);
  const from = opened.get(this);
  if (from !== undefined) spans.push({ kind: 'appender', start: from, end: performance.now() });
  return out;
};

// ---- slices (reader, walk, file runs, committer): from resuming after a yield to the next yield; and how many slices
// ran within one loop iteration (an iteration counter ticks once per check phase).
let iteration = 0;
const ticker = () => {
  iteration++;
  setImmediate(ticker).unref?.();
};
setImmediate(ticker);
const slicesPerIteration = new Map<number, { n: number; ms: number }>();
const sliceProto = TimeSlicer.prototype as unknown as { yield: () => Promise<void> };
const yieldNow = sliceProto.yield;
// A slice: from a slicer resuming after a yield to the next yield by any slicer. The budget is per
// loop turn and shared (one waiter resumes per turn, and the slicers of file runs and the committer
// serve many concurrent flows), so slices are timed per turn, not per slicer instance.
let resumedAt: number | null = null;
let resumedIn = -1;
sliceProto.yield = async function (this: object) {
  const t0 = performance.now();
  // Only within the loop iteration that resumed it: a later yield after idle turns is a new slice.
  if (resumedAt !== null && resumedIn === iteration) {
    spans.push({ kind: 'reader-slice', start: resumedAt, end: t0 });
    const it = slicesPerIteration.get(iteration) ?? { n: 0, ms: 0 };
    it.n++;
    it.ms += t0 - resumedAt;
    slicesPerIteration.set(iteration, it);
    resumedAt = null;
  }
  await yieldNow.call(this);
  resumedAt = performance.now();
  resumedIn = iteration;
};

// ---- GC
const gcKinds: Record<number, string> = { 1: 'gc:minor', 2: 'gc:major', 4: 'gc:incremental', 8: 'gc:weakcb' };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = gcKinds[(e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'gc';
    spans.push({ kind, start: e.startTime, end: e.startTime + e.duration });
  }
}).observe({ entryTypes: ['gc'] });

function summary() {
  const byKind = new Map<string, number[]>();
  for (const s of spans) {
    let l = byKind.get(s.kind);
    if (!l) byKind.set(s.kind, (l = []));
    l.push(s.end - s.start);
  }
  const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.max(0, Math.ceil((p / 100) * xs.length) - 1))];
  const sections = [...byKind.entries()].map(([kind, xs]) => {
    xs.sort((a, b) => a - b);
    return {
      kind,
      count: xs.length,
      total_ms: Math.round(xs.reduce((a, b) => a + b, 0)),
      p50_ms: +pct(xs, 50).toFixed(1),
      p99_ms: +pct(xs, 99).toFixed(1),
      max_ms: +xs[xs.length - 1].toFixed(1),
      over_30ms: xs.filter((x) => x >= 30).length,
    };
  });
  // Stall time overlapped by each kind (a stall can overlap several).
  const overlap = new Map<string, number>();
  let stallMs = 0;
  let unexplained = 0;
  for (const st of stalls) {
    stallMs += st.end - st.start;
    let covered = 0;
    for (const s of spans) {
      const o = Math.min(st.end, s.end) - Math.max(st.start, s.start);
      if (o > 0) {
        overlap.set(s.kind, (overlap.get(s.kind) ?? 0) + o);
        covered = Math.max(covered, o);
      }
    }
    unexplained += Math.max(0, st.end - st.start - covered);
  }
  const stallList = stalls.map((s) => s.end - s.start).sort((a, b) => b - a);
  const iters = [...slicesPerIteration.values()];
  const worst = iters.sort((a, b) => b.ms - a.ms).slice(0, 10).map((x) => `${x.n} slices / ${Math.round(x.ms)} ms`);
  return {
    reader_slices_in_one_loop_iteration: { iterations_with_slices: iters.length, max_slices: Math.max(0, ...iters.map((x) => x.n)), worst },
    stall_windows_us: stalls.map((s) => [Math.round(s.hrEndUs - (s.end - s.start) * 1000), s.hrEndUs]),
    stalls: { count: stalls.length, total_ms: Math.round(stallMs), max_ms: +(stallList[0] ?? 0).toFixed(1), longest_ms: stallList.slice(0, 10).map((x) => Math.round(x)) },
    stall_ms_overlapped_by: Object.fromEntries([...overlap.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round(v)])),
    stall_ms_not_overlapped_by_any_probe: Math.round(unexplained),
    sections: sections.sort((a, b) => b.total_ms - a.total_ms),
  };
}

process.on('exit', () => {
  const out = process.env.LOOP_PROBE_OUT;
  if (out) fs.writeFileSync(out, JSON.stringify(summary(), null, 2));
});
