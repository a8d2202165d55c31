import { describe, expect, it } from 'vitest';
import { classifyByProbe, classifyByStat, needsWork } from '../src/state/classify.js';
import type { Checkpoint } from '../src/state/checkpoint.js';
import { fingerprintRanges } from '../src/read/fingerprint.js';

const cp = (over: Partial<Checkpoint> = {}): Checkpoint => ({
  processorName: 'p',
  sessionFile: 'a/s.jsonl',
  owner: 'a',
  offset: 100,
  headHash: 'H',
  tailHash: 'T',
  size: 120,
  mtimeMs: 1000,
  ctimeMs: 1000,
  inode: 7,
  linesProcessed: 3,
  itemsProcessed: 3,
  badLines: 0,
  processorVersion: 1,
  processedAt: 1,
  status: 'ok',
  attempts: 0,
  lastError: null,
  nextAttemptAt: null,
  carry: undefined,
  ...over,
});
const st = (size = 120, mtimeMs = 1000, ino = 7, ctimeMs = mtimeMs) => ({ size, mtimeMs, ctimeMs, ino });
const fp = (headHash = 'H', tailHash = 'T') => ({ headHash, tailHash });

describe('classifyByStat', () => {
  it('new file reads from 0 without retraction', () => {
    expect(classifyByStat(undefined, 1, st(), 0)).toEqual({ kind: 'new', from: 0, retract: false });
  });
  it('unchanged when size, mtime and inode are as seen: no read at all', () => {
    const d = classifyByStat(cp(), 1, st(), 0);
    expect(d.kind).toBe('unchanged');
    expect(needsWork(d as never, st())).toBe(false);
  });
  it('a rewrite that restored size, mtime and inode is not unchanged: its ctime moved, so it is probed', () => {
    // touch -r, a restore, rsync --inplace: only the ctime (which utimes cannot set) tells.
    const d = classifyByStat(cp(), 1, st(120, 1000, 7, 2000), 0);
    expect(d.kind).toBe('probe');
    expect(classifyByProbe(cp(), st(120, 1000, 7, 2000), fp('H', 'other'))).toEqual({ kind: 'rewritten', from: 0, retract: true });
  });
  it('truncated when smaller than the offset, without probing', () => {
    expect(classifyByStat(cp(), 1, st(50, 2000), 0)).toEqual({ kind: 'truncated', from: 0, retract: true });
  });
  it('a grown or touched file needs the fingerprint probe', () => {
    expect(classifyByStat(cp(), 1, st(200, 2000), 0)).toEqual({ kind: 'probe' });
    expect(classifyByStat(cp(), 1, st(120, 2000), 0)).toEqual({ kind: 'probe' });
  });
  it('a processor version bump retracts and restarts, even when unchanged or quarantined', () => {
    expect(classifyByStat(cp(), 2, st(), 0)).toEqual({ kind: 'version', from: 0, retract: true });
    expect(classifyByStat(cp({ status: 'quarantined' }), 2, st(), 0).kind).toBe('version');
  });
  it('missing file marks deleted once', () => {
    expect(classifyByStat(cp(), 1, null, 0).kind).toBe('deleted');
    expect(classifyByStat(cp({ status: 'deleted' }), 1, null, 0).kind).toBe('unchanged');
  });
  it('backoff and quarantine hold the file', () => {
    expect(classifyByStat(cp({ status: 'retrying', nextAttemptAt: 500 }), 1, st(200), 100).kind).toBe('deferred');
    expect(classifyByStat(cp({ status: 'retrying', nextAttemptAt: 500 }), 1, st(), 600).kind).toBe('probe');
    expect(classifyByStat(cp({ status: 'quarantined' }), 1, st(200), 0).kind).toBe('quarantined');
  });
  it('a deleted file that is back is probed', () => {
    expect(classifyByStat(cp({ status: 'deleted' }), 1, st(), 0).kind).toBe('probe');
  });
});

describe('classifyByProbe', () => {
  it('appended when the prefix is intact', () => {
    expect(classifyByProbe(cp(), st(200, 2000), fp())).toEqual({ kind: 'appended', from: 100, retract: false });
  });
  it('rewritten on a head or tail mismatch (same size included)', () => {
    expect(classifyByProbe(cp(), st(120, 2000), fp('X'))).toEqual({ kind: 'rewritten', from: 0, retract: true });
    expect(classifyByProbe(cp(), st(200, 2000), fp('H', 'X')).kind).toBe('rewritten');
  });
  it('replaced (new inode) reads only the tail when the prefix matches, else rewrites', () => {
    expect(classifyByProbe(cp(), st(200, 2000, 9), fp())).toEqual({ kind: 'replaced', from: 100, retract: false });
    expect(classifyByProbe(cp(), st(200, 2000, 9), fp('X')).kind).toBe('rewritten');
  });
  it('deleted and back: resumes on match, rewrites otherwise', () => {
    expect(classifyByProbe(cp({ status: 'deleted' }), st(200), fp()).kind).toBe('resumed');
    expect(classifyByProbe(cp({ status: 'deleted' }), st(200), fp('X')).kind).toBe('rewritten');
  });
  it('a file too short for the probe is truncated', () => {
    expect(classifyByProbe(cp(), st(120, 2), null).kind).toBe('truncated');
  });
});

describe('fingerprintRanges', () => {
  it('covers the head up to 4 KiB and the 4 KiB window ending at the offset', () => {
    expect(fingerprintRanges(100)).toEqual({ head: [0, 100], tail: [0, 100] });
    expect(fingerprintRanges(10_000)).toEqual({ head: [0, 4096], tail: [10_000 - 4096, 10_000] });
  });
});
