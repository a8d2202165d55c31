import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KeywordScanner, isAsciiKeyword } from '../../pipelines/shared/credentials/keywords.js';
import { compileRules, detect } from '../../pipelines/shared/credentials/detect.js';
import { BUILT_IN_RULES, mergeRules } from '../../pipelines/shared/credentials/rules.js';

const BUILT_IN_KEYWORDS = compileRules(mergeRules([], BUILT_IN_RULES)).keywords;

/** The definition: ASCII case-insensitive substring (what a non-unicode `i` regex matches). */
const asciiLower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const reference = (keywords: readonly string[], text: string) => keywords.map((k) => asciiLower(text).includes(k));

const scanned = (sc: KeywordScanner, text: string) => {
  const f = sc.scan(text);
  return sc.keywords.map((_, i) => f !== null && f[i] === 1);
};

/** Texts built from keyword pieces (in any case), near misses and other characters, non-ASCII included. */
const textOf = (keywords: readonly string[]) =>
  fc
    .array(
      fc.oneof(
        fc.constantFrom(...keywords).chain((k) => fc.constantFrom(k, k.toUpperCase(), k.slice(0, -1), k.slice(1))),
        fc.string({ maxLength: 6 }),
        fc.constantFrom('é', '→', 'ſ', 'K', '\u212a', '\n', ' ', ':', '/', '-', '_'),
      ),
      { maxLength: 20 },
    )
    .map((parts) => parts.join(''));

describe('KeywordScanner', () => {
  it('finds exactly the built-in keywords a text contains, ASCII case-insensitively', () => {
    const sc = new KeywordScanner(BUILT_IN_KEYWORDS);
    fc.assert(
      fc.property(textOf(BUILT_IN_KEYWORDS), (text) => {
        expect(scanned(sc, text)).toEqual(reference(BUILT_IN_KEYWORDS, text));
      }),
      { numRuns: 3000 },
    );
  });

  it('handles one-character keywords, shared first pairs and keywords at the very end', () => {
    const kws = ['a', 'ab', 'abc', 'abd', 'zz'];
    const sc = new KeywordScanner(kws);
    expect(sc.scan('')).toBeNull();
    expect(sc.scan('xyz')).toBeNull();
    expect(scanned(sc, 'xAB')).toEqual([true, true, false, false, false]);
    expect(scanned(sc, 'ABD zZ')).toEqual([true, true, false, true, true]);
    fc.assert(
      fc.property(textOf(kws), (text) => {
        expect(scanned(sc, text)).toEqual(reference(kws, text));
      }),
      { numRuns: 2000 },
    );
  });

  it('does not fold non-ASCII look-alikes onto ASCII (like a non-unicode i regex)', () => {
    const sc = new KeywordScanner(['sk-', 'key']);
    expect(sc.scan('\u017fk- \u212aey')).toBeNull(); // long s, Kelvin sign
    expect(/sk-|key/i.test('\u017fk- \u212aey')).toBe(false);
  });

  it('refuses non-ASCII keywords (detect falls back to its regex scan for those)', () => {
    expect(isAsciiKeyword('clé')).toBe(false);
    expect(() => new KeywordScanner(['clé'])).toThrow(/not an ASCII keyword/);
    const set = compileRules([{ id: 'fr', description: 'fr', pattern: String.raw`clé=(?<secret>\w{8,})`, keywords: ['CLÉ'] }]);
    expect(set.scanner).toBeNull();
    expect(detect('la clé=Zq8xY2vB7nQ4', set).map((m) => m.rule)).toEqual(['fr']);
    expect(detect('no key here', set)).toEqual([]);
  });
});
