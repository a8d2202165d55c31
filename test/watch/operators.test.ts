/**
 * The watch-mode operators on virtual time (RxJS TestScheduler) and on real promises.
 */
import { describe, expect, it } from 'vitest';
import { Subject, lastValueFrom, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { debouncePerKey } from '../../src/watch/debounce.js';
import { singleFlightPerKey, type SingleFlightStats } from '../../src/watch/single-flight.js';
import { fileLanes, type LaneStats } from '../../src/watch/file-lanes.js';

const scheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));

describe('debouncePerKey', () => {
  it('emits a key once it has been quiet', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold('a 9ms a 9ms a', { a: 'a' });
      // last value at 20ms; quiet 30ms -> 50ms; max-wait 100ms not reached
      expectObservable(src.pipe(debouncePerKey((x) => x, 30, 100, undefined, undefined))).toBe('50ms a', { a: 'a' });
    });
  });

  it('a key that never goes quiet still fires every max-wait', () => {
    const ts = scheduler();
    ts.run(({ cold, flush }) => {
      // A value every 10 ms for 300 ms: quiet (30 ms) never happens, max-wait (100 ms) does.
      const src = cold(Array.from({ length: 30 }, () => 'a').join(' 9ms ') + ' 9ms |', { a: 'a' });
      const frames: number[] = [];
      src.pipe(debouncePerKey((x) => x, 30, 100, undefined, ts)).subscribe(() => frames.push(ts.now()));
      flush();
      // First fire at 100; the next value (110) opens a new window that fires at 210; the rest at completion.
      expect(frames.slice(0, 2)).toEqual([100, 210]);
      expect(frames.length).toBe(3);
      for (let i = 1; i < frames.length; i++) expect(frames[i] - frames[i - 1]).toBeLessThanOrEqual(110);
    });
  });

  it('keys are independent', () => {
    scheduler().run(({ cold, expectObservable }) => {
      // b at frame 1 fires at 21; a's last value at frame 10 fires at 30.
      const src = cold('a b 8ms a', { a: 'a', b: 'b' });
      expectObservable(src.pipe(debouncePerKey((x) => x, 20, 100))).toBe('21ms b 8ms a', { a: 'a', b: 'b' });
    });
  });

  it('merges pending values', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold('a a a', { a: 1 });
      expectObservable(src.pipe(debouncePerKey(() => 'k', 10, 100, (p, n) => p + n))).toBe('12ms s', { s: 3 });
    });
  });

  it('keeps no state for idle keys', () => {
    // Emitting 10k distinct keys and letting them fire leaves no pending timers behind:
    // with a scheduler flush, every key fires exactly once.
    scheduler().run(({ cold, expectObservable }) => {
      const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
      const src = cold('(' + 'x'.repeat(1) + ')', { x: 0 });
      void src;
      const values: Record<string, string> = {};
      keys.forEach((k, i) => (values[String.fromCharCode(0x100 + i)] = k));
      const marbles = '(' + Object.keys(values).join('') + ')';
      const out = cold(marbles, values).pipe(debouncePerKey((x) => x, 5, 50));
      expectObservable(out).toBe('5ms ' + marbles, values);
    });
  });
});

describe('singleFlightPerKey', () => {
  const deferred = () => {
    let resolve!: () => void;
    const p = new Promise<void>((r) => (resolve = r));
    return { p, resolve };
  };

  it('never runs one key twice at once; a value during a run marks it dirty and it runs once more', async () => {
    const src = new Subject<{ k: string; v: number }>();
    const gates: ReturnType<typeof deferred>[] = [];
    const running = new Map<string, number>();
    let maxParallelSameKey = 0;
    const calls: number[] = [];
    const done = lastValueFrom(
      src.pipe(
        singleFlightPerKey(
          (x) => x.k,
          4,
          async (x) => {
            running.set(x.k, (running.get(x.k) ?? 0) + 1);
            maxParallelSameKey = Math.max(maxParallelSameKey, running.get(x.k)!);
            calls.push(x.v);
            const g = deferred();
            gates.push(g);
            await g.p;
            running.set(x.k, running.get(x.k)! - 1);
            return x.v;
          },
        ),
        toArray(),
      ),
    );
    src.next({ k: 'f', v: 1 });
    await Promise.resolve();
    await Promise.resolve();
    src.next({ k: 'f', v: 2 });
    src.next({ k: 'f', v: 3 }); // coalesced with 2: the dirty flag keeps the latest
    src.complete();
    while (gates.length < 1) await new Promise((r) => setTimeout(r, 1));
    gates[0].resolve();
    while (gates.length < 2) await new Promise((r) => setTimeout(r, 1));
    gates[1].resolve();
    const out = await done;
    expect(calls).toEqual([1, 3]);
    expect(maxParallelSameKey).toBe(1);
    expect(out.map((o) => o.ok && o.result)).toEqual([1, 3]);
  });

  it('bounds concurrency across keys, serves FIFO, and survives a throwing run', async () => {
    const src = new Subject<string>();
    const stats: SingleFlightStats = { running: 0, queued: 0 };
    let parallel = 0;
    let maxParallel = 0;
    const order: string[] = [];
    const done = lastValueFrom(
      src.pipe(
        singleFlightPerKey(
          (x) => x,
          2,
          async (x) => {
            parallel++;
            maxParallel = Math.max(maxParallel, parallel);
            order.push(x);
            await new Promise((r) => setTimeout(r, 5));
            parallel--;
            if (x === 'poison') throw new Error('boom');
            return x;
          },
          stats,
        ),
        toArray(),
      ),
    );
    for (const k of ['a', 'poison', 'b', 'c', 'd']) src.next(k);
    expect(stats.queued).toBe(3);
    src.complete();
    const out = await done;
    expect(maxParallel).toBe(2);
    expect(order).toEqual(['a', 'poison', 'b', 'c', 'd']);
    expect(out.filter((o) => !o.ok).map((o) => !o.ok && o.error.message)).toEqual(['boom']);
    expect(out.filter((o) => o.ok).length).toBe(4);
    expect(stats).toEqual({ running: 0, queued: 0 });
  });
});

describe('fileLanes', () => {
  const deferred = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  };
  const tick = () => new Promise((r) => setTimeout(r, 0));
  type Req = { file: string; lanes: string[]; n: number };

  it('runs the lanes due together in one run, and never one (lane, key) twice at once', async () => {
    const src = new Subject<Req>();
    const stats: LaneStats = { lanes: {}, runs: 0, waiting: 0 };
    const runs: { file: string; lanes: string[]; n: number }[] = [];
    const gates: ReturnType<typeof deferred>[] = [];
    const done = lastValueFrom(
      src.pipe(
        fileLanes(
          (r) => r.file,
          (r) => r.lanes,
          4,
          async (r, lanes) => {
            runs.push({ file: r.file, lanes, n: r.n });
            const g = deferred();
            gates.push(g);
            await g.promise;
            return lanes.join('+');
          },
          (a, b) => ({ ...b, n: Math.min(a.n, b.n) }),
          stats,
        ),
        toArray(),
      ),
    );
    src.next({ file: 'f', lanes: ['fast', 'slow'], n: 1 });
    await tick();
    expect(runs).toEqual([{ file: 'f', lanes: ['fast', 'slow'], n: 1 }]);
    // Both lanes are busy on f: new requests wait, merged into one.
    src.next({ file: 'f', lanes: ['fast', 'slow'], n: 2 });
    src.next({ file: 'f', lanes: ['fast'], n: 3 });
    await tick();
    expect(runs).toHaveLength(1);
    expect(stats.lanes.fast).toEqual({ running: 1, queued: 1 });
    expect(stats.waiting).toBe(1);
    gates[0].resolve();
    await tick();
    await tick();
    expect(runs[1]).toEqual({ file: 'f', lanes: ['fast', 'slow'], n: 2 });
    // Only fast is asked for again while slow is still running on f: fast runs alone, at once.
    gates[1].resolve();
    await tick();
    await tick();
    src.next({ file: 'f', lanes: ['slow'], n: 4 });
    await tick();
    expect(runs).toHaveLength(3);
    expect(runs[2].lanes).toEqual(['slow']);
    src.next({ file: 'f', lanes: ['fast', 'slow'], n: 5 });
    await tick();
    // slow is running on f, fast is not: fast starts now, slow waits for its own run to end.
    expect(runs[3]).toEqual({ file: 'f', lanes: ['fast'], n: 5 });
    expect(stats.lanes.slow).toEqual({ running: 1, queued: 1 });
    gates[2].resolve();
    await tick();
    await tick();
    expect(runs[4]).toEqual({ file: 'f', lanes: ['slow'], n: 5 });
    for (const g of gates) g.resolve();
    await tick();
    src.complete();
    const out = await done;
    expect(out.every((o) => o.ok)).toBe(true);
    expect(stats).toEqual({
      lanes: { fast: { running: 0, queued: 0 }, slow: { running: 0, queued: 0 } },
      working: { fast: 0, slow: 0 },
      runs: 0,
      waiting: 0,
    });
  });

  it('bounds runs per lane, serves keys FIFO, and reports a throwing run as a value', async () => {
    const src = new Subject<Req>();
    const stats: LaneStats = { lanes: {}, runs: 0, waiting: 0 };
    const order: string[] = [];
    let inFlight = 0;
    let peak = 0;
    const done = lastValueFrom(
      src.pipe(
        fileLanes(
          (r) => r.file,
          (r) => r.lanes,
          2,
          async (r) => {
            order.push(r.file);
            inFlight++;
            peak = Math.max(peak, inFlight);
            await new Promise((res) => setTimeout(res, 5));
            inFlight--;
            if (r.file === 'bad') throw new Error('boom');
            return r.file;
          },
          (_a, b) => b,
          stats,
        ),
        toArray(),
      ),
    );
    for (const f of ['a', 'bad', 'c', 'd', 'e']) src.next({ file: f, lanes: ['p'], n: 0 });
    src.complete();
    const out = await done;
    expect(peak).toBe(2);
    expect(order).toEqual(['a', 'bad', 'c', 'd', 'e']);
    expect(out.filter((o) => !o.ok).map((o) => (o as { error: Error }).error.message)).toEqual(['boom']);
    expect(out).toHaveLength(5);
  });
});

describe('fileLanes concurrency', () => {
  it('counts runs that work, not runs waiting for their commit', async () => {
    const src = new Subject<{ file: string }>();
    const stats: LaneStats = { lanes: {}, runs: 0, waiting: 0 };
    let started = 0;
    const commits: (() => void)[] = [];
    const done = lastValueFrom(
      src.pipe(
        fileLanes(
          (r) => r.file,
          () => ['p'],
          2,
          async (_r, lanes, control) => {
            started++;
            control.staged(lanes); // staged at once; the commit is awaited below
            await new Promise<void>((res) => commits.push(res));
          },
          (_a, b) => b,
          stats,
        ),
        toArray(),
      ),
    );
    for (let i = 0; i < 10; i++) src.next({ file: `f${i}` });
    await new Promise((r) => setTimeout(r, 0));
    // Concurrency 2, but every run is only waiting for its commit: all ten are in flight.
    expect(started).toBe(10);
    expect(stats.runs).toBe(10);
    for (const c of commits) c();
    src.complete();
    await done;
    expect(stats.runs).toBe(0);
  });
});
