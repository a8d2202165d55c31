import { describe, expect, it } from 'vitest';
import { SeenFiles } from '../../src/watch/seen-files.js';
import { CheckpointCache } from '../../src/pipeline/checkpoint-cache.js';
import type { Checkpoint } from '../../src/state/checkpoint.js';

const st = (size: number, mtimeMs = 1, ino = 7) => ({ size, mtimeMs, ino });

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
  });
});

describe('CheckpointCache', () => {
  const cp = (processorName: string, sessionFile: string, offset: number) =>
    ({ processorName, sessionFile, offset }) as unknown as Checkpoint;

  it('keeps one slot per processor under each file', () => {
    const cache = new CheckpointCache(new Map([['usage', new Map([['a/1.jsonl', cp('usage', 'a/1.jsonl', 5)]])]]));
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
});
