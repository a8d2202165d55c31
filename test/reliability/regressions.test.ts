/**
 * Regression tests for bugs the reliability suite found in core code.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sandbox, type Sandbox } from '../helpers.js';
import { Db } from '../../src/state/db.js';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox('sp-regress-');
});
afterEach(() => sb.cleanup());

describe('regressions', () => {
  it('an empty database file left by a failed create is replaced, not refused forever', async () => {
    fs.writeFileSync(sb.db, '');
    const db = await Db.open(sb.db);
    await db.run('CREATE TABLE t (x INTEGER)');
    await db.close();
    expect(fs.statSync(sb.db).size).toBeGreaterThan(0);
    // A non-empty file that is not a database is still refused, and kept.
    const junk = path.join(sb.dir, 'junk.duckdb');
    fs.writeFileSync(junk, 'not a database');
    await expect(Db.open(junk)).rejects.toThrow(/cannot open database/);
    expect(fs.readFileSync(junk, 'utf8')).toBe('not a database');
  });
});
