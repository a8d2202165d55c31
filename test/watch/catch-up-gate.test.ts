/**
 * The catch-up's gate (src/watch/catch-up.ts), without I/O: what it gathers,
 * holds and releases while the initial scan runs, and for a backlog too small
 * for the batch path.
 */
import { describe, expect, it } from 'vitest';
import { CATCH_UP_MIN_FILES, CatchUp, type CatchUpPort } from '../../src/watch/catch-up.js';
import { hint, type FileHint } from '../../src/watch/hint.js';

function gate(): { c: CatchUp; released: FileHint[] } {
  const released: FileHint[] = [];
  const port: CatchUpPort = {
    // A backlog below CATCH_UP_MIN_FILES never reaches the pipeline.
    pipeline: null as never,
    workers: 0,
    settled: () => [],
    ran: () => undefined,
    release: (h) => released.push(h),
    noteStat: () => undefined,
    stopping: () => false,
    log: { info: () => undefined, warn: () => undefined },
  };
  return { c: new CatchUp(port), released };
}

describe('catch-up gate', () => {
  it('gathers the initial scan, holds every other hint while it runs, and merges held hints per file', () => {
    const { c } = gate();
    expect(c.admit(hint('a/1.jsonl', 'initial-scan'))).toBe(false);
    expect(c.admit(hint('a/2.jsonl', 'change'))).toBe(false);
    expect(c.admit(hint('a/2.jsonl', 'settle', 'usage'))).toBe(false);
    expect(c.status()).toMatchObject({ phase: 'scanning', files: 1, done: 0 });
    expect(c.caughtUp).toBe(false);
  });

  it('a backlog too small for the batch path goes down the live path, held hints after it, with the oldest trace', async () => {
    const { c, released } = gate();
    const scan = Array.from({ length: CATCH_UP_MIN_FILES - 1 }, (_, i) => hint(`o/${i}.jsonl`, 'initial-scan'));
    for (const h of scan) c.admit(h);
    const first = hint('o/0.jsonl', 'change');
    c.admit(first);
    c.admit(hint('o/0.jsonl', 'change', 'usage'));
    await c.run();
    expect(c.caughtUp).toBe(true);
    expect(c.status()).toMatchObject({ phase: 'caught-up', files: scan.length, done: scan.length, batch: false });
    // Each scanned file once as scanned, and the held change once, merged (widened to every processor).
    expect(released.filter((h) => h.reason === 'initial-scan')).toEqual(scan);
    const held = released.filter((h) => h.reason === 'change');
    expect(held).toEqual([{ ...first, processor: undefined }]);
    // Open from now on.
    expect(c.admit(hint('o/1.jsonl', 'change'))).toBe(true);
  });
});
