import { describe, expect, it } from 'vitest';
import { CHANGED, SAME, SAME_CAUGHT_UP, SeenFiles } from '../../src/watch/seen-files.js';
import { CheckpointService } from '../../src/state/checkpoints.js';
import type { Checkpoint } from '../../src/state/checkpoint.js';

const st = (size: number, mtimeMs = 1, ino = 7, ctimeMs = mtimeMs) => ({ size, mtimeMs, ctimeMs, ino });

describe('SeenFiles', () => {
  it('reports only changes, and which known files a scan did not meet', () => {
    const seen = new SeenFiles();
    expect(seen.note('a/1.jsonl', st(10))).toBe(true);
    expect(seen.note('a/2.jsonl', st(20))).toBe(true);
    expect(seen.note('a/1.jsonl', st(10))).toBe(false);
    const scan = seen.beginScan();
    expect(seen.note('a/1.jsonl', st(11))).toBe(true); // met by the scan, and changed
    expect([...seen.notSeenIn(scan)]).toEqual(['a/2.jsonl']);
    // Noted by anyone during the scan (a state check) counts as seen.
    expect(seen.note('a/3.jsonl', st(1))).toBe(true);
    expect([...seen.notSeenIn(scan)]).toEqual(['a/2.jsonl']);
    expect(seen.note('a/2.jsonl', null)).toBe(true);
    expect(seen.note('a/2.jsonl', null)).toBe(false);
    expect(seen.size).toBe(2);
    expect(seen.get('a/1.jsonl')).toEqual(st(11));
    expect(new Map(seen).size).toBe(2);
    expect([...seen.takeForgotten()]).toEqual(['a/2.jsonl']);
    expect(seen.takeForgotten().size).toBe(0);
  });

  it('counts the known files a scan has not met, so a rescan that met them all skips the search', () => {
    const seen = new SeenFiles();
    seen.note('a/1.jsonl', st(1));
    seen.note('a/2.jsonl', st(2));
    seen.beginScan();
    expect(seen.unmet).toBe(2);
    const a = seen.dir('a');
    seen.noteIn(a, '1.jsonl', st(1));
    seen.noteIn(a, '1.jsonl', st(1)); // met twice, counted once
    expect(seen.unmet).toBe(1);
    seen.noteIn(a, '3.jsonl', st(3)); // new during the scan: met
    expect(seen.unmet).toBe(1);
    seen.note('a/1.jsonl', null); // gone after it was met
    expect(seen.unmet).toBe(1);
    seen.noteIn(a, '2.jsonl', st(2));
    expect(seen.unmet).toBe(0);
  });

  it('remembers that a file caught up with its stat until the stat or a checkpoint changes', () => {
    const seen = new SeenFiles();
    const a = seen.dir('a');
    expect(seen.noteIn(a, '1.jsonl', st(1))).toBe(CHANGED);
    expect(seen.noteIn(a, '1.jsonl', st(1))).toBe(SAME);
    seen.caughtUpIn(a, '1.jsonl');
    expect(seen.noteIn(a, '1.jsonl', st(1))).toBe(SAME_CAUGHT_UP);
    expect(seen.invalidate('a', '1.jsonl')).toBe(true);
    expect(seen.invalidate('a', '9.jsonl')).toBe(false);
    expect(seen.noteIn(a, '1.jsonl', st(1))).toBe(SAME);
    seen.caughtUpIn(a, '1.jsonl');
    expect(seen.noteIn(a, '1.jsonl', st(2))).toBe(CHANGED);
    expect(seen.noteIn(a, '1.jsonl', st(2))).toBe(SAME);
    seen.caughtUpIn(a, '1.jsonl');
    seen.invalidateAll();
    expect(seen.noteIn(a, '1.jsonl', st(2))).toBe(SAME);
  });
});

describe('CheckpointService', () => {
  const cp = (processorName: string, sessionFile: string, offset: number) =>
    ({ processorName, sessionFile, offset, status: 'ok' }) as unknown as Checkpoint;

  it('keeps one slot per processor under each file', () => {
    const cache = new CheckpointService(new Map([['usage', new Map([['a/1.jsonl', cp('usage', 'a/1.jsonl', 5)]])]]));
    cache.set(cp('lines', 'a/1.jsonl', 9));
    cache.set(cp('lines', 'b/2.jsonl', 3));
    cache.set(cp('lines', 'a/1.jsonl', 12));
    expect(cache.get('usage', 'a/1.jsonl')?.offset).toBe(5);
    expect(cache.get('lines', 'a/1.jsonl')?.offset).toBe(12);
    expect(cache.get('usage', 'b/2.jsonl')).toBeUndefined();
    expect(cache.get('secrets', 'a/1.jsonl')).toBeUndefined();
    expect(cache.ofFile('a/1.jsonl')?.[cache.slot('lines')]?.offset).toBe(12);
    expect([...cache.forProcessor('lines')].map((c) => c.offset).sort()).toEqual([12, 3]);
    expect([...cache.sessionFiles()].sort()).toEqual(['a/1.jsonl', 'b/2.jsonl']);
  });

  it('tells its listeners of every change', () => {
    const cache = new CheckpointService();
    const told: (string | undefined)[][] = [];
    const off = cache.onChange((dir, name) => told.push([dir, name]));
    cache.set(cp('lines', 'a/b/1.jsonl', 9));
    cache.clear();
    off();
    cache.set(cp('lines', 'a/2.jsonl', 1));
    expect(told).toEqual([['a/b', '1.jsonl'], [undefined, undefined]]);
  });
});

describe('CheckpointService commit and requeue', () => {
  const cp = (processorName: string, sessionFile: string, status: Checkpoint['status'], nextAttemptAt: number | null = null) =>
    ({ processorName, sessionFile, offset: 1, status, attempts: 3, nextAttemptAt }) as unknown as Checkpoint;

  it('caches a checkpoint only once its commit went through, and never a failed one', async () => {
    const commits: { cp: Checkpoint; lease: number | null; unit?: string; ok: () => void; fail: (e: Error) => void }[] = [];
    const svc = new CheckpointService<string>(new Map(), {
      commit: async (c, lease, unit) => {
        let ok!: () => void;
        let fail!: (e: Error) => void;
        const committed = new Promise<void>((res, rej) => ((ok = res), (fail = rej)));
        commits.push({ cp: c, lease, unit, ok, fail });
        return { committed };
      },
    });
    const a = await svc.commit(cp('lines', 'a/1.jsonl', 'ok'), 7, 'rows');
    expect(commits.map((c) => [c.lease, c.unit])).toEqual([[7, 'rows']]);
    expect(svc.get('lines', 'a/1.jsonl')).toBeUndefined();
    commits[0].ok();
    await a.committed;
    expect(svc.get('lines', 'a/1.jsonl')?.status).toBe('ok');
    const b = await svc.commit(cp('lines', 'a/1.jsonl', 'quarantined'));
    commits[1].fail(new Error('disk full'));
    await expect(b.committed).rejects.toThrow('disk full');
    expect(svc.get('lines', 'a/1.jsonl')?.status).toBe('ok');
  });

  it('requeues what the filter names: quarantined, or retrying later; not due retries, other processors or files', async () => {
    const now = 1_000_000;
    const initial = new Map([
      ['lines', new Map([
        ['a/1.jsonl', cp('lines', 'a/1.jsonl', 'quarantined')],
        ['a/2.jsonl', cp('lines', 'a/2.jsonl', 'retrying', now + 60_000)],
        ['a/3.jsonl', cp('lines', 'a/3.jsonl', 'retrying', now + 10)],
        ['a/4.jsonl', cp('lines', 'a/4.jsonl', 'ok')],
      ])],
      ['usage', new Map([['a/1.jsonl', cp('usage', 'a/1.jsonl', 'quarantined')]])],
      ['gone', new Map([['a/1.jsonl', cp('gone', 'a/1.jsonl', 'quarantined')]])],
    ]);
    const committed: Checkpoint[] = [];
    const svc = new CheckpointService(initial, {
      commit: async (c) => {
        committed.push(c);
        return { committed: c.sessionFile === 'a/2.jsonl' ? Promise.reject(new Error('no')) : Promise.resolve() };
      },
    });
    const one = await svc.requeue({ processor: 'lines', sessionFile: 'a/1.jsonl' }, now);
    expect(one.requeued.map((c) => [c.processorName, c.sessionFile, c.status])).toEqual([['lines', 'a/1.jsonl', 'quarantined']]);
    expect(svc.get('lines', 'a/1.jsonl')).toMatchObject({ status: 'retrying', attempts: 0, nextAttemptAt: now });
    expect(svc.get('usage', 'a/1.jsonl')?.status).toBe('quarantined');
    const all = await svc.requeue({ among: ['lines', 'usage'] }, now);
    expect(all.requeued.map((c) => `${c.processorName} ${c.sessionFile}`).sort()).toEqual(['usage a/1.jsonl']);
    expect(all.failed.map((f) => [f.checkpoint.sessionFile, f.error])).toEqual([['a/2.jsonl', 'no']]);
    expect(svc.get('lines', 'a/2.jsonl')?.status).toBe('retrying');
    expect(svc.get('lines', 'a/2.jsonl')?.attempts).toBe(3);
    expect(svc.get('gone', 'a/1.jsonl')?.status).toBe('quarantined');
    expect(committed.map((c) => `${c.processorName} ${c.sessionFile}`)).not.toContain('lines a/3.jsonl');
  });

  it('a requeue asks the committer to commit at once: its caller waits for the commits', async () => {
    const initial = new Map([['lines', new Map([['a/1.jsonl', cp('lines', 'a/1.jsonl', 'quarantined')]])]]);
    // A committer that commits only when flushed, as one whose group interval is long.
    const queued: (() => void)[] = [];
    let flushes = 0;
    const svc = new CheckpointService(initial, {
      commit: async () => ({ committed: new Promise<void>((res) => queued.push(res)) }),
      flush: async () => {
        flushes++;
        for (const ok of queued.splice(0)) ok();
      },
    });
    const out = await svc.requeue({}, 1_000_000);
    expect(flushes).toBe(1);
    expect(out.requeued.map((c) => c.sessionFile)).toEqual(['a/1.jsonl']);
    expect(svc.get('lines', 'a/1.jsonl')?.status).toBe('retrying');
    // Nothing to requeue: no flush.
    await svc.requeue({}, 1_000_000);
    expect(flushes).toBe(1);
  });
});
