/**
 * Regression tests for bugs the reliability suite found in core code.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { line, query, sandbox, type Sandbox } from '../helpers.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { runOnce } from '../../src/pipeline/once.js';
import { linesProcessor } from '../../pipelines/lines/index.js';
import { openStore } from '../../src/state/open.js';
import { isStorageError } from '../../src/state/errors.js';
import type { Processor } from '../../src/pipeline/processor.js';
import { captureLog } from './util.js';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox('sp-regress-');
});
afterEach(() => sb.cleanup());

const rec = (i: number) => line({ type: 'user', i });

describe('regressions', () => {
  it('a failed first commit does not leave the committer without its staging tables', async () => {
    // The first transaction creates the temp staging tables; when it rolled back, the committer still
    // believed they existed, and every later commit of the process failed ("Table ... could not be
    // found"), blamed on the processors until they were quarantined.
    // A row that fails the target's NOT NULL: the failure comes in the set-wise load, after the
    // staging tables were created in the same transaction.
    const poison: Processor = {
      name: 'poison',
      version: 1,
      migrations: [{ version: 1, description: 't', up: ['CREATE TABLE poison_rows (k VARCHAR PRIMARY KEY, v INTEGER NOT NULL)'] }],
      tables: [{ name: 'poison_rows', columns: [{ name: 'k', type: 'VARCHAR' }, { name: 'v', type: 'INTEGER' }], key: ['k'], onConflict: 'DO NOTHING' }],
      process(batch, tx) {
        tx.insert('poison_rows', [batch.file.sessionFile, batch.file.sessionFile === 'a/bad.jsonl' ? null : 1]);
      },
      retract() {},
    };
    sb.write('a/bad.jsonl', rec(1));
    sb.write('a/good.jsonl', rec(1));
    const logs = captureLog('warn');
    const p = await Pipeline.open({
      root: sb.root,
      dbPath: sb.db,
      processors: [linesProcessor, poison],
      log: logs.log,
      retry: { maxAttempts: 5, baseDelayMs: 0, maxDelayMs: 0 },
      maxLineBytes: 1 << 20,
    });
    try {
      const s = await runOnce(p);
      // Only the poison unit fails; its neighbours in the same transaction commit once isolated.
      expect(s.processors.poison).toMatchObject({ errors: 1, appended: 1 });
      expect(s.processors.lines).toMatchObject({ errors: 0, lines: 2 });
      sb.append('a/good.jsonl', rec(2));
      const s2 = await runOnce(p);
      expect(s2.processors.lines).toMatchObject({ errors: 0, lines: 1 });
      expect(logs.entries.filter((e) => /could not be found/.test(JSON.stringify(e)))).toEqual([]);
    } finally {
      await p.close();
    }
    expect(await query(sb.db, 'SELECT session_file, lines FROM lines_file_stats ORDER BY 1')).toEqual([
      { session_file: 'a/bad.jsonl', lines: 1 },
      { session_file: 'a/good.jsonl', lines: 2 },
    ]);
  });

  it('an empty database file left by a failed create is replaced, not refused forever', async () => {
    fs.writeFileSync(sb.db, '');
    const db = await openStore(sb.db);
    await db.run('CREATE TABLE t (x INTEGER)');
    await db.close();
    expect(fs.statSync(sb.db).size).toBeGreaterThan(0);
    // A non-empty file that is not a database is still refused, and kept.
    const junk = path.join(sb.dir, 'junk.duckdb');
    fs.writeFileSync(junk, 'not a database');
    await expect(openStore(junk)).rejects.toThrow(/cannot open database/);
    expect(fs.readFileSync(junk, 'utf8')).toBe('not a database');
  });

  it('storage errors are told apart from processor errors', () => {
    expect(isStorageError(new Error('TransactionContext Error: Failed to commit: Could not write file "/x/db.wal": No space left on device'))).toBe(true);
    expect(isStorageError(new Error('IO Error: Could not write file "/x/db": No space left on device'))).toBe(true);
    expect(isStorageError(new Error('Catalog Error: Table with name no_such_table does not exist!'))).toBe(false);
    expect(isStorageError(new Error('Constraint Error: Duplicate key "id: 1" violates primary key constraint'))).toBe(false);
    expect(isStorageError(new Error('injected failure'))).toBe(false);
  });
});
