import { describe, expect, it } from 'vitest';
import { isConfirmedMissing, type WalkResult } from '../src/discover/walk.js';

const walk = (over: Partial<WalkResult> = {}): WalkResult => ({
  files: [],
  failedDirs: new Map(),
  unknownFiles: new Map(),
  symlinksSkipped: [],
  rootMissing: false,
  durationMs: 0,
  ...over,
});

describe('isConfirmedMissing', () => {
  it('a file absent from a fully listed tree is missing', () => {
    expect(isConfirmedMissing('alice/s.jsonl', walk())).toBe(true);
  });
  it('an unlistable ancestor, an unstat-able file or a missing root means unknown', () => {
    expect(isConfirmedMissing('alice/s.jsonl', walk({ failedDirs: new Map([['alice', 'EACCES']]) }))).toBe(false);
    expect(isConfirmedMissing('alice/s/subagents/agent-1.jsonl', walk({ failedDirs: new Map([['alice', 'EMFILE']]) }))).toBe(false);
    expect(isConfirmedMissing('alice/s.jsonl', walk({ unknownFiles: new Map([['alice/s.jsonl', 'EMFILE']]) }))).toBe(false);
    expect(isConfirmedMissing('alice/s.jsonl', walk({ rootMissing: true }))).toBe(false);
    expect(isConfirmedMissing('alice/s.jsonl', walk({ failedDirs: new Map([['', 'EMFILE']]) }))).toBe(false);
  });
  it('a failure elsewhere does not protect an unrelated file', () => {
    expect(isConfirmedMissing('alice/s.jsonl', walk({ failedDirs: new Map([['bob', 'EACCES']]) }))).toBe(true);
  });
});
