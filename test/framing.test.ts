import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LineFramer, type Frame } from '../src/read/framing.js';
import { parseFrame } from '../src/read/parse.js';
import { readBatches } from '../src/read/reader.js';
import { sandbox, type Sandbox } from './helpers.js';

function frameAll(chunks: Buffer[], start = 0, max = 1 << 20): { frames: Frame[]; framer: LineFramer } {
  const framer = new LineFramer(start, max);
  const frames: Frame[] = [];
  for (const c of chunks) {
    const out: Frame[] = [];
    framer.push(c, out);
    // Copy line bytes: the framer may hand out views into the chunk.
    for (const f of out) frames.push(f.kind === 'line' ? { ...f, bytes: Buffer.from(f.bytes) } : f);
  }
  return { frames, framer };
}

describe('LineFramer', () => {
  it('frames complete lines with byte offsets and holds the partial tail', () => {
    const { frames, framer } = frameAll([Buffer.from('{"a":1}\n{"b":'), Buffer.from('2}\n{"c"')]);
    expect(frames.map((f) => f.offset)).toEqual([0, 8]);
    expect(frames.map((f) => (f.kind === 'line' ? f.bytes.toString() : ''))).toEqual(['{"a":1}\n', '{"b":2}\n']);
    expect(framer.committedOffset).toBe(16);
    expect(framer.pendingBytes).toBe(4);
  });

  it('starts at a non-zero offset', () => {
    const { frames, framer } = frameAll([Buffer.from('x\ny\n')], 100);
    expect(frames.map((f) => f.offset)).toEqual([100, 102]);
    expect(framer.committedOffset).toBe(104);
  });

  it('counts multi-byte UTF-8 in bytes, not characters', () => {
    const { frames } = frameAll([Buffer.from('"é€😀"\n"x"\n')]);
    expect(frames[1].offset).toBe(Buffer.byteLength('"é€😀"\n'));
  });

  it('skips an oversize line without buffering it, whatever the chunking', () => {
    const big = 'x'.repeat(5000);
    const { frames, framer } = frameAll(
      [Buffer.from('{"a":1}\n' + big.slice(0, 1000)), Buffer.from(big.slice(1000, 4000)), Buffer.from(big.slice(4000) + '\n{"b":2}\n')],
      0,
      1024,
    );
    expect(frames.map((f) => [f.kind, f.offset])).toEqual([
      ['line', 0],
      ['oversize', 8],
      ['line', 8 + 5001],
    ]);
    expect(frames[1].kind === 'oversize' && frames[1].length).toBe(5001);
    expect(framer.committedOffset).toBe(8 + 5001 + 8);
  });

  it('property: any chunking yields the same frames as one chunk', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 40 }).map((s) => s.replace(/\n/g, ' ')), { maxLength: 20 }),
        fc.string({ maxLength: 10 }).map((s) => s.replace(/\n/g, ' ')),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 8, max: 64 }),
        (lines, tail, cuts, max) => {
          const bytes = Buffer.from(lines.map((l) => l + '\n').join('') + tail);
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const p of [...points, bytes.length]) {
            chunks.push(bytes.subarray(prev, p));
            prev = p;
          }
          const whole = frameAll([bytes], 0, max);
          const split = frameAll(chunks, 0, max);
          const norm = (fs: Frame[]) => fs.map((f) => (f.kind === 'line' ? ['l', f.offset, f.bytes.toString('hex')] : ['o', f.offset, f.length]));
          expect(norm(split.frames)).toEqual(norm(whole.frames));
          expect(split.framer.committedOffset).toBe(whole.framer.committedOffset);
          // The committed offset always ends just after a newline.
          const off = whole.framer.committedOffset;
          expect(off === 0 || bytes[off - 1] === 0x0a).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('parseFrame', () => {
  const line = (s: string | Buffer, offset = 0): Frame => ({ kind: 'line', offset, bytes: Buffer.isBuffer(s) ? s : Buffer.from(s) });

  it('parses objects, tolerating CRLF', () => {
    const p = parseFrame(line('{"a":1}\r\n', 7), 2);
    expect(p).toEqual({ ok: true, line: { offset: 7, length: 9, line: 2, value: { a: 1 } } });
  });

  it('rejects invalid JSON, non-objects, invalid UTF-8 and oversize lines with their offsets, line numbers and text', () => {
    expect(parseFrame(line('{"a":\n', 3), 4)).toMatchObject({ ok: false, bad: { offset: 3, line: 4, kind: 'invalid_json', text: '{"a":' } });
    expect(parseFrame(line('[1,2]\n'), 1)).toMatchObject({ ok: false, bad: { kind: 'not_object', text: '[1,2]' } });
    expect(parseFrame(line('"str"\n'), 1)).toMatchObject({ ok: false, bad: { kind: 'not_object' } });
    expect(parseFrame(line(Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a])), 1)).toMatchObject({ ok: false, bad: { kind: 'invalid_utf8', text: '{\ufffd\ufffd}' } });
    expect(parseFrame(line('\n'), 1)).toMatchObject({ ok: false, bad: { kind: 'invalid_json', detail: 'blank line' } });
    const over = parseFrame({ kind: 'oversize', offset: 10, length: 99 }, 9);
    expect(over).toMatchObject({ ok: false, bad: { offset: 10, length: 99, line: 9, kind: 'oversize' } });
    expect(over.ok === false && 'text' in over.bad).toBe(false);
  });
});

describe('readBatches', () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = sandbox('sp-read-');
  });
  afterEach(() => sb.cleanup());

  it('numbers every physical line from firstLine, bad lines included, across chunks and batches', async () => {
    const body = '{"a":1}\nnot json\n\n{"b":2}\n[3]\n' + 'x'.repeat(200) + '\n{"c":3}\n{"partial":';
    const file = sb.write('s.jsonl', body);
    const seen: [number, string][] = [];
    for await (const b of readBatches(file, 0, Buffer.byteLength(body), { chunkBytes: 7, batchBytes: 10, maxLineBytes: 100 }, 11)) {
      for (const l of b.lines) seen.push([l.line, 'ok']);
      for (const x of b.bad) seen.push([x.line, x.kind]);
    }
    seen.sort((a, b) => a[0] - b[0]);
    expect(seen).toEqual([
      [11, 'ok'],
      [12, 'invalid_json'],
      [13, 'invalid_json'],
      [14, 'ok'],
      [15, 'not_object'],
      [16, 'oversize'],
      [17, 'ok'],
    ]);
  });

  it('reads stepped in turn, sharing the read buffer, give what each gives alone', async () => {
    // Lines that cross chunk boundaries, so a partial line is held across the other files' reads.
    const bodies = [0, 1, 2].map((k) => Array.from({ length: 40 }, (_, i) => JSON.stringify({ k, i, pad: String.fromCharCode(97 + k).repeat(i * 37) })).join('\n') + '\n');
    const files = bodies.map((b, k) => sb.write(`s${k}.jsonl`, b));
    const opts = { chunkBytes: 4096, batchBytes: 500, maxLineBytes: 1 << 20 };
    const values = (bs: { lines: { value: unknown }[] }[]) => bs.flatMap((b) => b.lines.map((l) => l.value));
    const alone: unknown[][] = [];
    for (const f of files) {
      const bs = [];
      for await (const b of readBatches(f, 0, fs.statSync(f).size, opts)) bs.push(b);
      alone.push(values(bs));
    }
    const gens = files.map((f) => readBatches(f, 0, fs.statSync(f).size, opts));
    const got: { lines: { value: unknown }[] }[][] = files.map(() => []);
    for (let open = gens.length; open > 0; ) {
      open = 0;
      for (let k = 0; k < gens.length; k++) {
        const r = await gens[k].next();
        if (!r.done) {
          got[k].push(r.value);
          open++;
        }
      }
    }
    expect(got.map(values)).toEqual(alone);
    expect(alone.map((v) => v.length)).toEqual([40, 40, 40]);
  });
});
