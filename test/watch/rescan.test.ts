import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { Rescanner } from '../../src/watch/rescan.js';
import { SeenFiles } from '../../src/watch/seen-files.js';
import { runOnce } from '../../src/pipeline/once.js';
import type { Pipeline } from '../../src/pipeline/pipeline.js';
import type { FileStat } from '../../src/discover/file-stat.js';
import { line, openPipeline, sandbox, type Sandbox } from '../helpers.js';

/** A rescanner over a real pipeline, recording what it hints and reports, and how often it reads checkpoints. */
function rescanner(p: Pipeline, seen = new SeenFiles()) {
  const hinted: string[] = [];
  const stats: [string, FileStat | null][] = [];
  const r = new Rescanner(p, seen, (h) => hinted.push(h.sessionFile), (f, st) => stats.push([f, st]));
  const reads = { dirs: 0, files: 0 };
  const { dir, ofFile } = p.checkpoints;
  p.checkpoints.dir = (d) => (reads.dirs++, dir.call(p.checkpoints, d));
  p.checkpoints.ofFile = (f) => (reads.files++, ofFile.call(p.checkpoints, f));
  const run = async () => {
    hinted.length = 0;
    stats.length = 0;
    reads.dirs = reads.files = 0;
    const res = await r.run('rescan');
    return { ...res, hinted: [...hinted].sort(), stats: [...stats], reads: { ...reads } };
  };
  return { r, seen, run };
}

describe('Rescanner', () => {
  let sb: Sandbox;
  let p: Pipeline;
  beforeEach(async () => {
    sb = sandbox('sp-rescan-');
    sb.write('alice/a.jsonl', line({ n: 1 }));
    sb.write('alice/b.jsonl', line({ n: 2 }));
    sb.write('bob/c.jsonl', line({ n: 3 }));
    p = await openPipeline(sb);
  });
  afterEach(async () => {
    await p.close();
    sb.cleanup();
  });

  it('stops reading the checkpoints of files that caught up, until a stat or a checkpoint changes', async () => {
    const { run } = rescanner(p);
    const first = await run();
    expect(first.hinted).toEqual(['alice/a.jsonl', 'alice/b.jsonl', 'bob/c.jsonl']);
    expect(first.stats).toHaveLength(3);

    await runOnce(p);
    // Asked once more (the commits changed every checkpoint), then never while nothing changes.
    const asked = await run();
    expect(asked.hinted).toEqual([]);
    expect(asked.reads.dirs).toBe(2);
    const idle = await run();
    expect(idle).toMatchObject({ files: 3, hinted: [], stats: [], reads: { dirs: 0, files: 0 } });

    // An append nobody told the daemon about: the stat differs, so the file is judged again.
    sb.append('alice/a.jsonl', line({ n: 4 }));
    const grown = await run();
    expect(grown.hinted).toEqual(['alice/a.jsonl']);
    expect(grown.stats.map(([f, st]) => [f, st?.size])).toEqual([['alice/a.jsonl', fs.statSync(sb.file('alice/a.jsonl')).size]]);
    await runOnce(p);
    await run();
    expect((await run()).reads.dirs).toBe(0);

    // A checkpoint that changes under an unchanged stat (a failure recorded, its retry due now)
    // must be asked about again: the cache tells the rescanner.
    const cp = p.checkpoints.get('lines', 'bob/c.jsonl')!;
    p.checkpoints.set({ ...cp, status: 'retrying', nextAttemptAt: 0, attempts: 1 });
    const retry = await run();
    expect(retry.hinted).toEqual(['bob/c.jsonl']);
    expect(retry.reads.dirs).toBe(1);
  });

  it('keeps asking about a gone file only while a checkpoint may give it work', async () => {
    const { run } = rescanner(p);
    await run();
    await runOnce(p);
    await run();
    fs.rmSync(sb.file('alice/b.jsonl'));
    const gone = await run();
    expect(gone.hinted).toEqual(['alice/b.jsonl']);
    expect(gone.stats).toEqual([['alice/b.jsonl', null]]);
    await runOnce(p); // retracts it and marks the checkpoint deleted
    expect(p.checkpoints.get('lines', 'alice/b.jsonl')?.status).toBe('deleted');
    const after = await run();
    expect(after.hinted).toEqual([]);
    expect(after.reads.files).toBe(1); // the deletion committed since: asked once more
    expect((await run()).reads.files).toBe(0);

    // Its retraction failed after all (a checkpoint change): asked again, and hinted while due.
    const cp = p.checkpoints.get('lines', 'alice/b.jsonl')!;
    p.checkpoints.set({ ...cp, status: 'retrying', nextAttemptAt: 0, attempts: 1 });
    expect((await run()).hinted).toEqual(['alice/b.jsonl']);
    expect((await run()).hinted).toEqual(['alice/b.jsonl']);
  });

  it('finds files gone while the daemon was down, and files a state check found gone', async () => {
    await runOnce(p);
    await p.close();
    fs.rmSync(sb.file('alice/a.jsonl'));
    p = await openPipeline(sb);
    const { run, seen } = rescanner(p);
    const first = await run();
    expect(first.hinted).toEqual(['alice/a.jsonl']);
    await runOnce(p);
    await run();

    // A state check (not the rescan) sees bob/c.jsonl go; its hinted run never happens.
    fs.rmSync(sb.file('bob/c.jsonl'));
    expect(seen.note('bob/c.jsonl', null)).toBe(true);
    const next = await run();
    expect(next.hinted).toEqual(['bob/c.jsonl']);
    expect(next.stats).toEqual([]); // already known to be gone
  });
});
