/** Which processors share a read (pure, no I/O). */
import { describe, expect, it } from 'vitest';
import { ProcessorPace, SHARE_WAIT_MS, shareGroups } from '../../src/watch/share.js';
import type { Processor } from '../../src/pipeline/processor.js';
import type { Checkpoint } from '../../src/state/checkpoint.js';

const proc = (name: string, version = 1) => ({ name, version }) as Processor;
const cp = (p: Processor, offset: number): Checkpoint => ({ processorName: p.name, offset, processorVersion: p.version }) as Checkpoint;
const names = (gs: Processor[][]) => gs.map((g) => g.map((p) => p.name));

describe('shareGroups', () => {
  const [a, b, c] = [proc('a'), proc('b'), proc('c')];
  const stat = { size: 10_000, mtimeMs: 1, ino: 1 };

  it('processors at the same offset, all fast, share one read (pipeline order kept)', () => {
    const pace = new ProcessorPace();
    const cps = new Map([[a, cp(a, 9000)], [b, cp(b, 9000)], [c, cp(c, 9000)]]);
    expect(names(shareGroups([a, b, c], (p) => cps.get(p), stat, pace))).toEqual([['a', 'b', 'c']]);
  });

  it('different offsets read apart; a version bump reads from 0', () => {
    const pace = new ProcessorPace();
    const cps = new Map([[a, cp(a, 9000)], [b, cp(b, 100)], [c, { ...cp(c, 9000), processorVersion: 0 }]]);
    expect(names(shareGroups([a, b, c], (p) => cps.get(p), stat, pace))).toEqual([['a'], ['b'], ['c']]);
    expect(names(shareGroups([a, b], () => undefined, stat, pace))).toEqual([['a', 'b']]);
  });

  it('a processor that would keep the others waiting longer than SHARE_WAIT_MS reads alone', () => {
    const pace = new ProcessorPace();
    pace.note('a', 1000, 1); // 0.001 ms/byte
    pace.note('b', 1000, 25); // 0.025 ms/byte: 10 KB -> 250 ms
    const cps = new Map([[a, cp(a, 0)], [b, cp(b, 0)], [c, cp(c, 0)]]);
    expect(names(shareGroups([b, a, c], (p) => cps.get(p), stat, pace))).toEqual([['a', 'c'], ['b']]);
    // A small append is shared even with the slow one: 200 bytes -> 5 ms.
    const small = { ...stat, size: 200 };
    expect(pace.estimate('b', 200)).toBeLessThan(SHARE_WAIT_MS);
    expect(names(shareGroups([b, a, c], (p) => cps.get(p), small, pace))).toEqual([['b', 'a', 'c']]);
  });

  it('a gone file marks every checkpoint in one run', () => {
    expect(names(shareGroups([a, b], () => undefined, null, new ProcessorPace()))).toEqual([['a', 'b']]);
  });
});
