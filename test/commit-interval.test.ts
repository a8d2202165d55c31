/** Adaptive group commit (pure, no I/O). */
import { describe, expect, it } from 'vitest';
import { GroupInterval } from '../src/pipeline/commit-interval.js';

describe('GroupInterval', () => {
  it('grows while groups follow each other back to back, up to the ceiling', () => {
    const g = new GroupInterval({ minMs: 25, maxMs: 250 });
    let now = 0;
    const seen: number[] = [];
    for (let i = 0; i < 12; i++) {
      const ms = g.open(now);
      seen.push(ms);
      now += ms;
      g.flushed(now);
      now += 2; // the next change arrives 2 ms after the flush
    }
    expect(seen[0]).toBe(25);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
    expect(seen.at(-1)).toBe(250);
  });

  it('a lone change commits after the minimum; after a quiet spell it shrinks back', () => {
    const g = new GroupInterval({ minMs: 25, maxMs: 250 });
    let now = 0;
    for (let i = 0; i < 10; i++) {
      now += g.open(now);
      g.flushed(now);
    }
    expect(g.ms).toBe(250);
    // One change a second: each gap is four intervals or more, so it halves each time.
    const after: number[] = [];
    for (let i = 0; i < 5; i++) {
      now += 1000;
      after.push(g.open(now));
      now += after.at(-1)!;
      g.flushed(now);
    }
    expect(after).toEqual([125, 62.5, 31.25, 25, 25]);
  });

  it('with equal bounds the interval is fixed', () => {
    const g = new GroupInterval({ minMs: 50, maxMs: 50 });
    for (let t = 0; t < 1000; t += 10) {
      expect(g.open(t)).toBe(50);
      g.flushed(t + 1);
    }
  });

  it('the ceiling leaves room for the slowest of the last commits, and comes back once they are fast again', () => {
    const g = new GroupInterval({ minMs: 25, maxMs: 700 });
    const busy = (n: number, commitMs: number) => {
      let now = 0;
      for (let i = 0; i < n; i++) {
        now += g.open(now);
        g.flushed(now);
        g.committed(commitMs);
        now += 1;
      }
      return g.ms;
    };
    expect(busy(20, 100)).toBe(600);
    // One slow commit (a checkpoint, a starved machine) shortens the next groups at once.
    g.committed(450);
    expect(g.ceiling()).toBe(250);
    expect(g.open(g.ms / 2)).toBe(250);
    // Eight fast commits later it is forgotten, and the interval grows back to the budget.
    expect(busy(20, 100)).toBe(600);
    // A commit longer than the budget: groups still stay open for the minimum.
    g.committed(5_000);
    expect(g.ceiling()).toBe(25);
  });
});
