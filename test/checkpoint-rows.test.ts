/**
 * The checkpoint cache keeps checkpoints as rows (state/checkpoint-rows.ts) and gives a fresh
 * object at each read. Pure: no I/O. What a caller gets back must be what was set, field for
 * field, whatever the values (fast-check), and nothing a caller does to it may reach the cache.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CheckpointService } from '../src/state/checkpoints.js';
import type { Checkpoint, CheckpointStatus } from '../src/state/checkpoint.js';

const STATUSES: CheckpointStatus[] = ['ok', 'retrying', 'quarantined', 'deleted'];
const epochMs = fc.oneof(fc.constant(null), fc.double({ min: 0, max: 4e12, noNaN: true }));
const count = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

function checkpointOf(processorName: string, sessionFile: string) {
  return fc.record({
    processorName: fc.constant(processorName),
    sessionFile: fc.constant(sessionFile),
    owner: fc.constant(sessionFile.slice(0, sessionFile.lastIndexOf('/'))),
    offset: count,
    headHash: fc.string(),
    tailHash: fc.string(),
    size: count,
    mtimeMs: fc.double({ min: 0, max: 4e12, noNaN: true }),
    ctimeMs: fc.double({ min: 0, max: 4e12, noNaN: true }),
    inode: count,
    linesProcessed: count,
    itemsProcessed: count,
    badLines: count,
    processorVersion: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    processedAt: epochMs,
    status: fc.constantFrom(...STATUSES),
    attempts: fc.integer({ min: 0, max: 1000 }),
    lastError: fc.oneof(fc.constant(null), fc.string()),
    nextAttemptAt: epochMs,
    carry: fc.oneof(fc.constant(undefined), fc.jsonValue()),
  }).map((r) => ({ ...r }) as Checkpoint); // a plain object, as the loader builds (fc.record's has no prototype)
}

const FILES = ['o1/a.jsonl', 'o1/b.jsonl', 'o2/a.jsonl', 'deep/er/c.jsonl'];
const PROCESSORS = ['lines', 'usage', 'secrets'];
const anyCheckpoint = fc.constantFrom(...PROCESSORS).chain((p) => fc.constantFrom(...FILES).chain((f) => checkpointOf(p, f)));

describe('the checkpoint cache as rows', () => {
  it('gives back the last checkpoint set for each (processor, file), field for field', () => {
    fc.assert(
      fc.property(fc.array(anyCheckpoint, { maxLength: 40 }), fc.boolean(), (cps, named) => {
        const cache = new CheckpointService(new Map(), null, named ? PROCESSORS : []);
        const last = new Map<string, Checkpoint>();
        for (const cp of cps) {
          cache.set(cp);
          last.set(`${cp.processorName}\0${cp.sessionFile}`, cp);
        }
        for (const p of PROCESSORS) {
          for (const f of FILES) {
            const want = last.get(`${p}\0${f}`);
            expect(cache.get(p, f)).toStrictEqual(want);
            const slots = cache.ofFile(f);
            expect(slots?.[cache.slot(p)]).toStrictEqual(want);
          }
          expect([...cache.forProcessor(p)].sort((a, b) => a.sessionFile.localeCompare(b.sessionFile)))
            .toStrictEqual([...last.values()].filter((c) => c.processorName === p).sort((a, b) => a.sessionFile.localeCompare(b.sessionFile)));
        }
        expect(cache.sessionFiles()).toEqual(new Set([...last.values()].map((c) => c.sessionFile)));
      }),
      { numRuns: 300 },
    );
  });

  it('a processor met after files were laid out gets a slot of its own, and the others keep theirs', () => {
    const cache = new CheckpointService(new Map(), null, ['lines']);
    const base = fc.sample(checkpointOf('lines', 'o/a.jsonl'), { numRuns: 1, seed: 1 })[0];
    for (let i = 0; i < 3000; i++) cache.set({ ...base, sessionFile: `o/${i}.jsonl`, offset: i });
    const old = { ...base, processorName: 'retired', sessionFile: 'o/7.jsonl', offset: 99 };
    cache.set(old);
    expect(cache.get('retired', 'o/7.jsonl')).toStrictEqual(old);
    expect(cache.get('lines', 'o/7.jsonl')?.offset).toBe(7);
    expect(cache.get('lines', 'o/2999.jsonl')?.offset).toBe(2999);
    expect(cache.get('retired', 'o/8.jsonl')).toBeUndefined();
    expect(cache.ofFile('o/7.jsonl')).toHaveLength(2);
  });

  it('what a caller does to a checkpoint it got does not reach the cache', () => {
    const cache = new CheckpointService();
    const [cp] = fc.sample(checkpointOf('lines', 'o/a.jsonl'), { numRuns: 1, seed: 2 });
    cache.set(cp);
    const got = cache.get('lines', 'o/a.jsonl')!;
    got.offset = -1;
    got.status = 'quarantined';
    expect(cache.get('lines', 'o/a.jsonl')).toStrictEqual(cp);
    expect(cache.get('lines', 'o/a.jsonl')).not.toBe(got);
  });

  it('refuses a status it cannot store, rather than storing another', () => {
    const cache = new CheckpointService();
    const [cp] = fc.sample(checkpointOf('lines', 'o/a.jsonl'), { numRuns: 1, seed: 3 });
    expect(() => cache.set({ ...cp, status: 'paused' as CheckpointStatus })).toThrow(/unknown status paused/);
  });

  it('clear forgets every checkpoint, and the cache fills again', () => {
    const cache = new CheckpointService();
    const [a, b] = fc.sample(checkpointOf('lines', 'o/a.jsonl'), { numRuns: 2, seed: 4 });
    cache.set(a);
    cache.clear();
    expect(cache.get('lines', 'o/a.jsonl')).toBeUndefined();
    expect(cache.sessionFiles().size).toBe(0);
    cache.set(b);
    expect(cache.get('lines', 'o/a.jsonl')).toStrictEqual(b);
  });

  it('tells committed listeners what each commit replaced, once the cache holds the new one', async () => {
    const cache = new CheckpointService<void>(new Map(), {
      commit: () => Promise.resolve({ committed: Promise.resolve() }),
    });
    const [a, b] = fc.sample(checkpointOf('lines', 'o/a.jsonl'), { numRuns: 2, seed: 5 });
    const told: [Checkpoint, Checkpoint | undefined, Checkpoint | undefined][] = [];
    cache.onCommitted((cp, previous) => told.push([cp, previous, cache.get(cp.processorName, cp.sessionFile)]));
    await (await cache.commit(a)).committed;
    await (await cache.commit(b)).committed;
    expect(told).toStrictEqual([[a, undefined, a], [b, a, b]]);
  });
});
