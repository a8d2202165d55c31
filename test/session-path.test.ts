import { describe, expect, it } from 'vitest';
import { isSessionFileIn, isValidSourceName, mayContainSessions, parseSessionPath, sessionKeys, splitSessionKey, storedRef, toSessionKey } from '../src/discover/session-path.js';

describe('session paths', () => {
  it('recognises sessions and both subagent layouts', () => {
    expect(parseSessionPath('alice/2026-11-01_abc.jsonl')).toEqual({
      sessionFile: 'alice/2026-11-01_abc.jsonl',
      owner: 'alice',
      sessionId: '2026-11-01_abc',
      kind: 'session',
    });
    expect(parseSessionPath('alice/agent-12ab.jsonl')).toMatchObject({ kind: 'subagent', owner: 'alice' });
    expect(parseSessionPath('alice/sess1/subagents/agent-x.jsonl')).toMatchObject({
      kind: 'subagent',
      sessionId: 'sess1',
      parentSessionId: 'sess1',
    });
    expect(parseSessionPath('alice/sess1/subagents/deep/agent-x.jsonl')).toMatchObject({ parentSessionId: 'sess1' });
  });
  it('rejects everything else', () => {
    for (const p of ['top.jsonl', 'alice/x.json', 'alice/sess/other.jsonl', 'alice/sess/subagents/notagent.jsonl', 'alice/.jsonl', 'a/../b.jsonl']) {
      expect(parseSessionPath(p)).toBeNull();
    }
  });
  it('isSessionFileIn agrees with parseSessionPath for names a walk can list', () => {
    const keys = [
      'alice/s.jsonl',
      'alice/agent-1.jsonl',
      'alice/x.json',
      'alice/.jsonl',
      'alice/sess/other.jsonl',
      'alice/sess/subagents/agent-x.jsonl',
      'alice/sess/subagents/notagent.jsonl',
      'alice/sess/subagents/deep/agent-y.jsonl',
      'alice/sess/subagents/deep/y.jsonl',
      'alice/sess/sub/agent-x.jsonl',
    ];
    for (const key of keys) {
      const [dir, name] = splitSessionKey(key);
      expect(isSessionFileIn(dir.split('/'), name), key).toBe(parseSessionPath(key) !== null);
    }
  });
  it('normalises relative paths and refuses escapes', () => {
    expect(toSessionKey('alice/./s.jsonl')).toBe('alice/s.jsonl');
    expect(toSessionKey('../etc/passwd')).toBeNull();
  });
  it('only descends where sessions can live', () => {
    expect(mayContainSessions('')).toBe(true);
    expect(mayContainSessions('alice')).toBe(true);
    expect(mayContainSessions('alice/sess')).toBe(true);
    expect(mayContainSessions('alice/sess/subagents')).toBe(true);
    expect(mayContainSessions('alice/sess/other')).toBe(false);
  });
});

describe('session keys in a store', () => {
  it('an embedded store keeps relative keys as they are', () => {
    const k = sessionKeys(null);
    expect(k.stored('alice/x.jsonl')).toBe('alice/x.jsonl');
    expect(k.local('alice/x.jsonl')).toBe('alice/x.jsonl');
  });
  it('a shared store qualifies them by the source, and tells other sources apart', () => {
    const a = sessionKeys('laptop-a');
    const b = sessionKeys('laptop-b');
    expect(a.stored('alice/x.jsonl')).toBe('laptop-a:alice/x.jsonl');
    expect(a.stored('alice/x.jsonl')).not.toBe(b.stored('alice/x.jsonl'));
    expect(a.local('laptop-a:alice/x.jsonl')).toBe('alice/x.jsonl');
    expect(a.local(b.stored('alice/x.jsonl'))).toBeNull();
    // A key whose owner has a ':' still maps back: the source ends at the first ':'.
    expect(a.local(a.stored('a:b/x.jsonl'))).toBe('a:b/x.jsonl');
    expect(sessionKeys('laptop').local('laptop-a:alice/x.jsonl')).toBeNull();
  });
  it('the ref a processor sees keeps the owner and session id, with the stored key', () => {
    const ref = parseSessionPath('alice/s1.jsonl')!;
    expect(storedRef(ref, sessionKeys('h1'))).toEqual({ ...ref, sessionFile: 'h1:alice/s1.jsonl' });
    expect(storedRef(ref, sessionKeys(null))).toBe(ref);
  });
  it('refuses source names that would make keys ambiguous', () => {
    for (const bad of ['', 'a:b', 'a/b', 'tab\there']) {
      expect(isValidSourceName(bad)).toBe(false);
      expect(() => sessionKeys(bad)).toThrow(/invalid source name/);
    }
    expect(isValidSourceName('build-01.example.com')).toBe(true);
  });
});
