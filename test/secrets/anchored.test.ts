/**
 * Anchored rules (rules.ts isAnchored, detect.ts anchoredMatches): trying a rule only where
 * its keywords start must find exactly what scanning the whole text finds, on generated
 * text dense with keywords and assignments, and on every text the real corpus holds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileRules, detect } from '../../pipelines/shared/credentials/detect.js';
import { isAnchored, mergeRules, BUILT_IN_RULES } from '../../pipelines/shared/credentials/rules.js';
import { locate } from '../../pipelines/secrets/locate.js';
import { CORPUS } from '../helpers.js';
import { fakes } from './fakes.js';

const anchored = compileRules(mergeRules());
const reference = compileRules(mergeRules(), { anchor: false });

describe('anchored rules', () => {
  it('are the generic assignment, URL credentials and bearer tokens, as shipped', () => {
    expect(anchored.rules.filter((r) => r.sticky).map((r) => r.id).sort()).toEqual(['bearer-token', 'generic-secret', 'url-credentials']);
    expect(reference.rules.some((r) => r.sticky)).toBe(false);
  });

  it('a user change of pattern or flags, or fewer keywords, makes the rule scanned whole', () => {
    const generic = BUILT_IN_RULES.find((r) => r.id === 'generic-secret')!;
    expect(isAnchored(generic)).toBe(true);
    expect(isAnchored({ ...generic, pattern: `x${generic.pattern}` })).toBe(false);
    expect(isAnchored({ ...generic, flags: '' })).toBe(false);
    expect(isAnchored({ ...generic, keywords: ['token'] })).toBe(false);
    expect(isAnchored({ ...generic, keywords: [...generic.keywords!, 'pass'] })).toBe(true);
    expect(isAnchored({ ...generic, id: 'mine' })).toBe(false);
  });

  it('find what the whole-text scan finds, on text dense with keywords (property)', () => {
    const secrets = fakes(7);
    let found = 0;
    const piece = fc.oneof(
      fc.constantFrom(
        'password', 'PassWord', 'pwd', 'token', 'TOKEN', 'secret', 'api_key', 'API-KEY', 'apikey', 'access_key', 'private-key', 'auth_key', 'credentials',
        '://', 'https://', 'postgres://', 'user:', ':', '@', 'db.example.com', 'Bearer ', 'bearer\t', 'Authorization: ',
        '=', ': ', ' = ', '"', "'", '`', ' ', '\n', '\t', '=>', ':=', '==', '(', '[', '→', 'ſ', 'K',
      ),
      fc.constantFrom(...Object.values(secrets)),
      fc.stringMatching(/^[A-Za-z0-9_\-.+/=~]{6,40}$/),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (parts) => {
        const text = parts.join('');
        const a = detect(text, anchored);
        expect(a).toEqual(detect(text, reference));
        found += a.length;
      }),
      { numRuns: 3000 },
    );
    // The pieces make findings, not only misses.
    expect(found).toBeGreaterThan(300);
  });

  it('find what the whole-text scan finds on every text of the real corpus', () => {
    let texts = 0;
    let found = 0;
    for (const f of fs.readdirSync(CORPUS, { recursive: true, encoding: 'utf8' }).filter((x) => x.endsWith('.jsonl'))) {
      for (const line of fs.readFileSync(path.join(CORPUS, f), 'utf8').split('\n')) {
        let v: unknown;
        try {
          v = JSON.parse(line);
        } catch {
          continue;
        }
        if (v === null || typeof v !== 'object' || Array.isArray(v)) continue;
        for (const t of locate(v as Record<string, unknown>)) {
          const a = detect(t.text, anchored);
          expect(a).toEqual(detect(t.text, reference));
          texts++;
          found += a.length;
        }
      }
    }
    expect(texts).toBeGreaterThan(500);
    expect(found).toBe(0); // the vendored corpus holds no credential (as the secrets tests say)
  });
});
