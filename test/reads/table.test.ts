/** The linear-time table renderer prints what cli-table3's compact style prints. */
import Table from 'cli-table3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { int, renderTable, type Align } from '../../src/pipeline/table.js';

const cliTable3 = (head: string[], rows: string[][], aligns: Align[], compact = true) => {
  const t = new Table({ head, colAligns: aligns, style: { head: [], border: [], compact } });
  for (const r of rows) t.push(r);
  return t.toString();
};

describe('renderTable', () => {
  it('matches cli-table3 on single-line cells, any widths and alignments', () => {
    const cell = fc.stringMatching(/^[ -~éü中]{0,12}$/).map((s) => s.trim() || 'x');
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }).chain((n) =>
          fc.tuple(
            fc.array(cell, { minLength: n, maxLength: n }),
            fc.array(fc.array(cell, { minLength: n, maxLength: n }), { maxLength: 6 }),
            fc.array(fc.constantFrom<Align>('left', 'right'), { minLength: n, maxLength: n }),
          ),
        ),
        ([head, rows, aligns]) => {
          expect(renderTable(head, rows, aligns)).toBe(cliTable3(head, rows, aligns));
          // cli-table3's default style: a rule between body rows (report secrets).
          expect(renderTable(head, rows, aligns, { rowLines: true })).toBe(cliTable3(head, rows, aligns, false));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('renders 50,000 rows in well under a second (cli-table3 took 53 s for 8,000 here)', () => {
    const rows = Array.from({ length: 50_000 }, (_, i) => [String(i), 'x'.repeat(100), String(i * 1.5)]);
    const t0 = performance.now();
    const out = renderTable(['i', 'pad', 'f'], rows, ['right', 'left', 'right']);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(out.split('\n')).toHaveLength(50_004);
  });

  it('escapes a newline inside a cell instead of breaking the row', () => {
    expect(renderTable(['a'], [['x\ny']])).toBe('┌──────┐\n│ a    │\n├──────┤\n│ x\\ny │\n└──────┘');
  });
});

describe('stringifyInSlices', () => {
  it('prints what JSON.stringify prints, for long arrays at any depth of the top object', async () => {
    const { stringifyInSlices } = await import('../../src/ops/read-routes.js');
    const rows = Array.from({ length: 5003 }, (_, i) => ({ key: `k${i}`, n: i, u: undefined, l: [i, null, 'x"y'] }));
    for (const v of [{ rows, totals: { n: 1 }, skip: undefined }, rows, { columns: [{ name: 'a' }], rows }, { small: [1, 2] }, 'text', null, [undefined, 1]]) {
      expect(await stringifyInSlices(v)).toBe(JSON.stringify(v));
    }
  });
});

describe('int', () => {
  it("prints what toLocaleString('en-US') prints, for any number", () => {
    const n = fc.oneof(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: -99_999, max: 99_999 }), fc.double());
    fc.assert(fc.property(n, (x) => int(x) === x.toLocaleString('en-US')), { numRuns: 20_000 });
    for (const x of [0, -0, 7, 999, 1000, -1000, 123_456_789, 2 ** 53, NaN, Infinity, 1234.5]) expect(int(x)).toBe(x.toLocaleString('en-US'));
  });
});
