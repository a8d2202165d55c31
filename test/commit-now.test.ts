/**
 * A unit someone waits for (an admin call's audit row) commits at once when its caller flushes,
 * taking the open group with it, instead of waiting out the group interval (src/pipeline/commit.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sandbox, type Sandbox } from './helpers.js';
import { openStore } from '../src/state/open.js';
import { Committer } from '../src/pipeline/commit.js';
import { UnitOfWork } from '../src/pipeline/unit.js';
import type { Db } from '../src/state/db.js';

let sb: Sandbox;
let db: Db;
beforeEach(async () => {
  sb = sandbox('sp-commit-now-');
  db = await openStore(sb.db);
  await db.run('CREATE TABLE notes (n INTEGER)');
});
afterEach(async () => {
  await db.close();
  sb.cleanup();
});

function note(n: number): UnitOfWork {
  const u = new UnitOfWork('ops', `notes/${n}`, new Map());
  u.run('INSERT INTO notes VALUES ($1)', [n]);
  return u;
}

describe('Committer.flush after enqueue', () => {
  it('commits the open group at once; without a flush the group waits for its interval', async () => {
    // An interval far past the test's time limit: only a flush can commit within it.
    const committer = new Committer(db, [], { maxRows: 1000, maxUnits: 100, maxDelayMs: 600_000 });
    const waiting = await committer.enqueue(note(1));
    let first = false;
    void waiting.committed.then(() => (first = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(first).toBe(false);
    expect(committer.stats.transactions).toBe(0);

    const urgent = await committer.enqueue(note(2));
    void committer.flush();
    await urgent.committed;
    await waiting.committed;
    expect(committer.stats.transactions).toBe(1);
    expect(await db.all<{ n: number }>('SELECT n FROM notes ORDER BY n')).toEqual([{ n: 1 }, { n: 2 }]);
  });
});
