/**
 * locate (where text is in a line), redact (excerpt, fingerprint), user rule
 * files and the derived version.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { locate, renderLeaves } from '../../pipelines/secrets/locate.js';
import { excerpt, fingerprint } from '../../pipelines/shared/credentials/redact.js';
import { mergeRules, parseRulesFile, loadRulesFile, BUILT_IN_RULES } from '../../pipelines/shared/credentials/rules.js';
import { compileRules, detect } from '../../pipelines/shared/credentials/detect.js';
import { createSecretsProcessor, deriveVersion, BASE_VERSION } from '../../pipelines/secrets/index.js';
import { ConfigError } from '../../src/config/config.js';
import { jsonErrorDetail } from '../../src/read/parse.js';
import { fakes } from './fakes.js';
import { CORPUS } from '../helpers.js';

const f = fakes(11);

describe('locate', () => {
  it('classifies user text, assistant text, tool input and tool result', () => {
    expect(locate({ type: 'user', message: { role: 'user', content: 'hello' } })).toEqual([{ location: 'user_text', text: 'hello' }]);
    expect(
      locate({
        type: 'assistant',
        message: {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'hmm', signature: 'EqoBCkgIBBABGAIiQL' },
            { type: 'text', text: 'sure' },
            { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls -la', description: 'list' } },
          ],
        },
      }),
    ).toEqual([
      { location: 'assistant_text', text: 'hmm' },
      { location: 'assistant_text', text: 'sure' },
      { location: 'tool_input', text: 'command: ls -la\ndescription: list' },
    ]);
    expect(
      locate({
        type: 'user',
        message: {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: 'out' },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: 'out2' }, { type: 'image', source: { type: 'base64', data: 'AAAA' } }] },
            { type: 'text', text: 'typed' },
          ],
        },
        // A copy of the tool_result is not scanned twice; what is new in it is.
        toolUseResult: { stdout: 'out', stderr: 'warn', interrupted: false },
      }),
    ).toEqual([
      { location: 'tool_result', text: 'out' },
      { location: 'tool_result', text: 'out2' },
      { location: 'user_text', text: 'typed' },
      { location: 'tool_result', text: 'stderr: warn' },
    ]);
    expect(locate({ type: 'user', message: { role: 'user', content: [{ type: 'tool_result', content: 'same' }] }, toolUseResult: 'same' })).toEqual([
      { location: 'tool_result', text: 'same' },
    ]);
  });

  it('skips images, base64 payloads and non-text fields', () => {
    expect(locate({ type: 'summary', summary: 'x', leafUuid: 'y' })).toEqual([]);
    expect(
      locate({ type: 'user', message: { role: 'user', content: [] }, toolUseResult: { type: 'image', file: { base64: 'AAAA' } } }),
    ).toEqual([]);
    expect(renderLeaves({ file: { base64: 'AAAA', type: 'image/png', originalSize: 3 } })).toBe('type: image/png');
  });

  it('keeps real line breaks of tool input values', () => {
    const text = renderLeaves({ file_path: '/app/.env', content: 'A=1\nB=2', edits: [{ old_string: 'x', new_string: 'y' }] });
    expect(text).toBe('file_path: /app/.env\ncontent: A=1\nB=2\nold_string: x\nnew_string: y');
  });

  it('locates every block of the real corpus shapes without throwing', () => {
    const dir = CORPUS;
    if (!fs.existsSync(dir)) return;
    let lines = 0;
    const walk = (d: string): string[] =>
      fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith('.jsonl') ? [path.join(d, e.name)] : []));
    const seen = new Set<string>();
    for (const file of walk(dir)) {
      for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
        let v: unknown;
        try {
          v = JSON.parse(raw);
        } catch {
          continue;
        }
        if (!v || typeof v !== 'object' || Array.isArray(v)) continue;
        lines++;
        for (const l of locate(v as Record<string, unknown>)) seen.add(l.location);
      }
    }
    expect(lines).toBeGreaterThan(100);
    expect([...seen].sort()).toEqual(['assistant_text', 'tool_input', 'tool_result', 'user_text']);
  });
});

describe('redact', () => {
  it('shows at most the first 4 and last 2 characters, fewer for short secrets', () => {
    expect(excerpt(f.ghp)).toBe(`ghp_…${f.ghp.slice(-2)}`);
    expect(excerpt('abcdefghijklmnop')).toBe('abcd…op');
    expect(excerpt('abcdefgh')).toBe('ab…h');
    expect(excerpt('abcdef')).toBe('a…');
    expect(excerpt('abc')).toBe('…');
    for (const s of Object.values(f)) {
      const e = excerpt(s);
      const shown = e.replace('…', '');
      expect(shown.length).toBeLessThanOrEqual(6);
      expect(shown.length).toBeLessThanOrEqual(Math.floor((s.length * 3) / 8));
    }
  });

  it('fingerprints with a keyed HMAC-SHA256', () => {
    const key = Buffer.from('k1');
    const fp = fingerprint(key, f.ghp);
    expect(fp).toMatch(/^[0-9a-f]{32}$/);
    expect(fp).toBe(createHmac('sha256', key).update(f.ghp).digest('hex').slice(0, 32));
    expect(fingerprint(key, f.ghp)).toBe(fp);
    expect(fingerprint(Buffer.from('k2'), f.ghp)).not.toBe(fp);
    expect(fingerprint(key, f.gho)).not.toBe(fp);
  });
});

describe('rules file', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sp-rules-'));

  it('adds rules, overrides and disables built-ins', () => {
    const user = parseRulesFile('rules.json', JSON.stringify([
      { id: 'acme-token', description: 'ACME internal token', pattern: 'acme_[a-z0-9]{24}', keywords: ['acme_'], entropy: 3 },
      { id: 'jwt', disabled: true },
      { id: 'generic-secret', entropy: 3.5 },
    ]));
    const merged = mergeRules(user);
    const ids = merged.map((r) => r.id);
    expect(ids).toContain('acme-token');
    expect(ids).not.toContain('jwt');
    expect(ids.indexOf('acme-token')).toBeLessThan(ids.indexOf('generic-secret'));
    expect(merged.find((r) => r.id === 'generic-secret')!.entropy).toBe(3.5);
    expect(merged.find((r) => r.id === 'generic-secret')!.pattern).toBe(BUILT_IN_RULES.find((r) => r.id === 'generic-secret')!.pattern);
    const set = compileRules(merged);
    expect(detect('token acme_k3j9x0q2m5n8b1v4c7z6l0p2', set).map((m) => m.rule)).toEqual(['acme-token']);
    expect(detect(`x ${f.jwt}`, set)).toEqual([]);
  });

  it('rejects bad files with one clear line', () => {
    const cases: [string, RegExp][] = [
      ['not json', /not valid JSON/],
      ['{"id": "x"}', /expected a JSON array/],
      ['[{"id": "Bad Id", "pattern": "x"}]', /rule 1 \("Bad Id"\): id: rule ids are lowercase/],
      ['[{"id": "x", "pattern": "("}]', /rule 1 \("x"\): invalid pattern/],
      ['[{"id": "x"}]', /rule 1 \("x"\): pattern is required/],
      ['[{"id": "x", "pattern": "a", "flags": "g"}]', /flags may only be/],
      ['[{"id": "x", "pattern": "a", "allow": ["["]}]', /invalid allow pattern/],
      ['[{"id": "x", "pattern": "a"}, {"id": "x", "pattern": "b"}]', /rule 2 \("x"\): duplicate id/],
      ['[{"id": "x", "pattern": "a", "colour": "red"}]', /rule 1 \("x"\)/],
    ];
    for (const [text, re] of cases) {
      let err: unknown;
      try {
        parseRulesFile('/etc/rules.json', text);
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(ConfigError);
      const msg = (err as Error).message;
      expect(msg, text).toMatch(re);
      expect(msg).toMatch(/^invalid secretsRules \(--secrets-rules \/ SESSION_PIPELINE_SECRETS_RULES\): \/etc\/rules.json: /);
      expect(msg).not.toContain('\n');
    }
    expect(() => loadRulesFile(path.join(tmp(), 'missing.json'))).toThrow(/cannot read \(ENOENT\)/);
  });

  it('loads through the processor factory, and the rules and key set the version', () => {
    const dir = tmp();
    const file = path.join(dir, 'rules.json');
    fs.writeFileSync(file, JSON.stringify([{ id: 'acme-token', pattern: 'acme_[a-z0-9]{24}' }]));
    const base = { root: dir, secretsSettleMs: 0, secretsRules: '', secretsKey: '' };
    expect(createSecretsProcessor(base).version).toBe(BASE_VERSION);
    const withRules = createSecretsProcessor({ ...base, secretsRules: file });
    expect(withRules.ruleIds).toContain('acme-token');
    expect(withRules.version).not.toBe(BASE_VERSION);
    expect(withRules.version).toBe(createSecretsProcessor({ ...base, secretsRules: file }).version);
    expect(deriveVersion([], 'key-a')).not.toBe(deriveVersion([], 'key-b'));
    expect(deriveVersion([], 'key-a')).toBeLessThan(2 ** 31);
    fs.writeFileSync(file, '[{"id": "acme-token"}]');
    expect(() => createSecretsProcessor({ ...base, secretsRules: file })).toThrow(ConfigError);
    expect(createSecretsProcessor({ ...base, secretsSettleMs: 1234 }).settleMs).toBe(1234);
  });
});

describe('bad-line details', () => {
  it('never keep a snippet of the line (it may hold a secret)', () => {
    for (const text of [`${f.ghp} trailing {`, `{"a": ${f.ghp}}`, `{"a":"${f.ghp}"`, `{"type":"user","message":{"content": ${f.ghp}}}`]) {
      let detail = '';
      try {
        JSON.parse(text);
      } catch (err) {
        detail = jsonErrorDetail(err);
      }
      expect(detail).not.toBe('');
      expect(detail).not.toContain(f.ghp.slice(0, 6));
      expect(detail).not.toContain('"');
    }
  });
});
