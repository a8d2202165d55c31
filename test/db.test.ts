import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db } from '../src/state/db.js';
import { openStore } from '../src/state/open.js';
import { sandbox, type Sandbox } from './helpers.js';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox('sp-db-');
});
afterEach(() => sb.cleanup());

describe('Db', () => {
  it('a statement from outside a running transaction waits instead of joining it', async () => {
    const db = await openStore(sb.db);
    try {
      await db.run('CREATE TABLE t (x INTEGER)');
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const tx = db
        .transaction(async () => {
          await db.run('INSERT INTO t VALUES (1)');
          await gate;
          throw new Error('roll back');
        })
        .catch((e: Error) => e.message);
      await new Promise((r) => setTimeout(r, 20));
      // Issued while the transaction is open: must not be rolled back with it.
      const outside = db.run('INSERT INTO t VALUES (2)');
      release();
      expect(await tx).toBe('roll back');
      await outside;
      const rows = await db.all<{ x: number }>('SELECT x FROM t ORDER BY x');
      expect(rows.map((r) => Number(r.x))).toEqual([2]);
    } finally {
      await db.close();
    }
  });
});
