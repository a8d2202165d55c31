/**
 * keysAreDistinct (pure) and what it buys: a load whose keys are distinct skips the
 * one-row-per-key step, and a load with a repeated key still keeps the preferred row, on a
 * real DuckDB file.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keysAreDistinct, type CellValue, type OutputTable } from '../src/state/table.js';
import { openStore } from '../src/state/open.js';
import { sandbox, type Sandbox } from './helpers.js';

const ONE: OutputTable = { name: 'one', columns: [{ name: 'k', type: 'VARCHAR' }, { name: 'v', type: 'BIGINT' }], key: ['k'] };
const TWO: OutputTable = {
  name: 'two',
  columns: [
    { name: 'v', type: 'BIGINT' },
    { name: 'f', type: 'VARCHAR' },
    { name: 'seen', type: 'TIMESTAMP', default: 'current_timestamp', generated: true },
    { name: 'm', type: 'VARCHAR' },
  ],
  key: ['f', 'm'],
  prefer: 'v DESC, _seq ASC',
};

describe('keysAreDistinct (pure)', () => {
  it('agrees with a count of distinct key tuples', () => {
    const part = fc.oneof(fc.constantFrom('a', 'b', 'a\u0000b', '', '"', ','), fc.string({ maxLength: 3 }));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer(), part, part), { maxLength: 12 }), (rows) => {
        const staged: CellValue[][] = rows.map(([v, f, m]) => [v, f, m]);
        const tuples = new Set(rows.map(([, f, m]) => JSON.stringify([f, m])));
        expect(keysAreDistinct(TWO, staged)).toBe(tuples.size === rows.length);
        const single = rows.map(([v, f]) => [f, v] as CellValue[]);
        expect(keysAreDistinct(ONE, single)).toBe(new Set(rows.map(([, f]) => f)).size === rows.length);
      }),
    );
  });
  it('tells a key split differently apart ("a\\u0000b" + "" is not "a" + "b\\u0000")', () => {
    expect(keysAreDistinct(TWO, [[1, 'a\u0000b', ''], [2, 'a', 'b\u0000']])).toBe(true);
    expect(keysAreDistinct(TWO, [[1, 'a', 'b'], [2, 'a', 'b']])).toBe(false);
  });
});

describe('a load on DuckDB', () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = sandbox('sp-stage-keys-');
  });
  afterEach(() => sb.cleanup());

  it('keeps the preferred row of a repeated key, and every row of distinct ones', async () => {
    const db = await openStore(sb.db);
    try {
      await db.run('CREATE TABLE two (v BIGINT, f VARCHAR, seen TIMESTAMP DEFAULT current_timestamp, m VARCHAR, PRIMARY KEY (f, m))');
      await db.transaction(() => db.loadStaged(TWO, [[1, 'x', 'a'], [5, 'x', 'b'], [3, 'x', 'b'], [7, 'y', 'a']]));
      await db.transaction(() => db.loadStaged(TWO, [[1, 'z', 'a'], [2, 'z', 'b']]));
      const rows = await db.all<{ f: string; m: string; v: bigint }>('SELECT f, m, v FROM two ORDER BY f, m');
      expect(rows.map((r) => [r.f, r.m, Number(r.v)])).toEqual([
        ['x', 'a', 1],
        ['x', 'b', 5],
        ['y', 'a', 7],
        ['z', 'a', 1],
        ['z', 'b', 2],
      ]);
    } finally {
      await db.close();
    }
  });
});
