/**
 * Lifting (src/read/lift.ts): parsing a line without the long string values no
 * processor reads must be exact. Properties: (1) on JSON.stringify'd objects the
 * lifted value is the full value with exactly the strings the rule elides replaced
 * by ""; (2) on lines with random damage, lifted and full parsing agree on good
 * or bad (kind, detail, text), and usage extracts the same from both; (3) the same
 * on every line of the vendored real corpus.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileLift, liftText, unionLift, LIFT_MIN_BYTES, type LiftSpec } from '../src/read/lift.js';
import { parseFrame, type Parsed } from '../src/read/parse.js';
import type { Frame } from '../src/read/framing.js';
import { USAGE_READS } from '../pipelines/usage/index.js';
import { collectEvents, usageOf } from '../pipelines/usage/extract.js';
import { CORPUS } from './helpers.js';

const USAGE = compileLift(USAGE_READS);
const frame = (text: string | Buffer, offset = 1): Frame => {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
  return { kind: 'line', offset, bytes: Buffer.concat([bytes, Buffer.from('\n')]) };
};
const lifted = (text: string | Buffer, spec: LiftSpec = USAGE_READS) => parseFrame(frame(text), 1, compileLift(spec));
const whole = (text: string | Buffer) => parseFrame(frame(text), 1, null);
const long = (c = 'x', n = 100) => c.repeat(n);

/** What usage takes from one line: the fields processBatch reads, the usage, the events. */
function usageView(v: Record<string, unknown>) {
  const events: unknown[] = [];
  const results: unknown[] = [];
  collectEvents(v, 'f', 0, events as never, results as never);
  return {
    // processBatch reads these as strings only (anything else counts as absent).
    fields: [v.timestamp, v.cwd, v.gitBranch, v.version, v.sessionId].map((x) => (typeof x === 'string' ? x : null)),
    message: typeof v.message === 'object' && v.message !== null,
    usage: usageOf(v),
    events,
    results,
  };
}

/** Good or bad alike, and for a good line the same usage. */
function expectSame(a: Parsed, b: Parsed): void {
  expect(a.ok).toBe(b.ok);
  if (!a.ok || !b.ok) {
    expect(a).toEqual(b);
    return;
  }
  expect(usageView(a.line.value)).toEqual(usageView(b.line.value));
  expect({ ...a.line, value: null }).toEqual({ ...b.line, value: null });
}

/** The reference rule, on the parsed value and its JSON.stringify form: which strings lifting turns into "". */
function elideModel(v: unknown, spec: LiftSpec, key: string | null, depth: number): unknown {
  if (typeof v === 'string') {
    const raw = JSON.stringify(v).slice(1, -1);
    const elide =
      key !== null &&
      depth <= 64 &&
      Buffer.byteLength(raw) >= LIFT_MIN_BYTES &&
      !JSON.stringify(key).includes('\\') &&
      !spec.keys.includes(key) &&
      !raw.includes('\\u') &&
      !spec.markers.some((m) => raw.includes(m));
    return elide ? '' : v;
  }
  if (Array.isArray(v)) return v.map((x) => elideModel(x, spec, key, depth + 1));
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, elideModel(x, spec, k, depth + 1)]));
  }
  return v;
}

describe('liftText', () => {
  it('elides long values under keys nobody reads, keeps read keys, markers and short strings', () => {
    const v = {
      type: 'user',
      cwd: long('/p'),
      toolUseResult: { stdout: long('o'), file: { content: long('c') }, short: 'kept' },
      message: { content: [{ type: 'tool_result', tool_use_id: 't1', content: long('r') }, { type: 'text', text: `${long('a')}<command-name>/x</command-name>` }] },
    };
    const p = lifted(JSON.stringify(v));
    expect(p.ok && p.line.value).toEqual({
      type: 'user',
      cwd: long('/p'),
      toolUseResult: { stdout: '', file: { content: '' }, short: 'kept' },
      message: { content: [{ type: 'tool_result', tool_use_id: 't1', content: '' }, { type: 'text', text: `${long('a')}<command-name>/x</command-name>` }] },
    });
  });

  it('elides nothing, and gives the line back, when nothing is long', () => {
    const text = '{"a":"b","c":[1,2,{"d":null}]}';
    expect(liftText(Buffer.from(text), 0, text.length, USAGE)).toBeNull();
  });

  it('array items keep the key of their array', () => {
    const p = lifted(JSON.stringify({ keep: [long(), [long()]], drop: [long(), { keep: long() }] }), { keys: ['keep'], markers: [] });
    expect(p.ok && p.line.value).toEqual({ keep: [long(), [long()]], drop: ['', { keep: long() }] });
  });

  it('keeps a value whose key is escaped (it could spell a read key) or that holds a \\u escape', () => {
    const text = `{"\\u0063wd":"${long()}","x":"\\u0041${long()}","y":"${long()}"}`;
    const p = lifted(text);
    expect(p.ok && p.line.value).toEqual({ cwd: long(), x: `A${long()}`, y: '' });
  });

  it('refuses markers that JSON could escape', () => {
    expect(() => compileLift({ keys: [], markers: ['</a>'] })).toThrow(/cannot hold/);
  });

  it('a bad string in an elided value makes the line exactly as bad as the full parse says', () => {
    for (const text of [
      `{"x":"${long()}\u0001"}`, // raw control character
      `{"x":"${long()}\\q"}`, // bad escape
      `{"x":"${long()}\\u12"}`, // short \u
      `{"x":"${long()}`, // unterminated
      `{"x":"${long()}"`, // unclosed object
      `{"x":"${long()}",}`, // trailing comma
      `{"x" "${long()}"}`, // missing colon
      `["${long()}"]`, // not an object
      `{"x":"${long()}"} x`,
    ]) {
      const a = lifted(text);
      expect(a.ok, text).toBe(false);
      expect(a).toEqual(whole(text));
    }
  });

  it('the union of reads: null when one processor reads everything', () => {
    expect(unionLift([USAGE_READS, { keys: [], markers: [] }])).toEqual({ keys: [...USAGE_READS.keys].sort(), markers: USAGE_READS.markers });
    expect(unionLift([USAGE_READS, undefined])).toBeNull();
    expect(unionLift([])).toBeNull();
  });
});

// Strings that are often long, often escaped, sometimes non-ASCII, sometimes hold the marker.
const text = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'binary', minLength: 50, maxLength: 200 }),
  fc.string({ unit: 'grapheme', minLength: 60, maxLength: 120 }),
  fc.constantFrom('<command-name>/commit</command-name>', '"quoted"\\', '\n\t\u0000', long('é', 40)),
  fc.tuple(fc.string({ maxLength: 80 }), fc.constantFrom('<command-name>/x</command-name>', '\\"', '\u2028')).map(([a, b]) => `${a}${b}${a}`),
);
const keyArb = fc.constantFrom(...USAGE_READS.keys, 'content', 'text', 'input', 'toolUseResult', 'stdout', 'a\\b', 'é', '');
const valueArb = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, text, fc.integer(), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(keyArb, tie('value'), { maxKeys: 5 }),
}));
const objectArb = valueArb.object as fc.Arbitrary<Record<string, unknown>>;

describe('lifting, property', () => {
  it('on JSON.stringify output: exactly the strings the rule names come as ""', () => {
    fc.assert(
      fc.property(objectArb, (v) => {
        const p = lifted(JSON.stringify(v));
        expect(p.ok).toBe(true);
        if (p.ok) expect(p.line.value).toEqual(elideModel(v, USAGE_READS, null, 0));
      }),
      { numRuns: 400 },
    );
  });

  it('on damaged lines: good or bad exactly as the full parse, and the same usage', () => {
    const damage = fc.oneof(
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.constantFrom(0x00, 0x01, 0x09, 0x0d, 0x1f, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x75, 0x20, 0xe9) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(objectArb, fc.array(damage, { minLength: 1, maxLength: 3 }), (v, edits) => {
        let b = Buffer.from(JSON.stringify(v), 'utf8');
        for (const e of edits) {
          const at = b.length === 0 ? 0 : e.at % b.length;
          if (e.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([e.byte]), b.subarray(at)]);
          else if (e.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
          else b = b.subarray(0, at);
        }
        b = Buffer.from(b.toString('latin1').replace(/\n/g, ' '), 'latin1');
        expectSame(lifted(b), whole(b));
      }),
      { numRuns: 1500 },
    );
  });

  it('on every line of the real corpus: the same lines, the same usage, and most bytes elided', () => {
    let lines = 0;
    let bytes = 0;
    let reduced = 0;
    for (const f of fs.readdirSync(CORPUS, { recursive: true, encoding: 'utf8' }).filter((x) => x.endsWith('.jsonl'))) {
      const buf = fs.readFileSync(path.join(CORPUS, f));
      let at = 0;
      while (at < buf.length) {
        const nl = buf.indexOf(0x0a, at);
        const end = nl < 0 ? buf.length : nl;
        const line = buf.subarray(at, end);
        expectSame(lifted(line), whole(line));
        const r = liftText(line, 0, line.length, USAGE);
        lines++;
        bytes += line.length;
        reduced += r === null ? line.length : Buffer.byteLength(r);
        at = end + 1;
      }
    }
    expect(lines).toBeGreaterThan(500);
    // The corpus is mostly tool output: lifting leaves well under half of it to JSON.parse.
    expect(reduced / bytes).toBeLessThan(0.5);
  });
});
