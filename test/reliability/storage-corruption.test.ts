/**
 * The model test fails a sequence when DuckDB finds its own file corrupt after a SIGKILL (an
 * engine failure, not a wrong row of ours). This checks that the check matches what DuckDB really
 * says about a damaged block, and nothing else we raise; and that opening such a file says what
 * to do about it.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sandbox, type Sandbox } from '../helpers.js';
import { DatabaseLockedError } from '../../src/state/db.js';
import { openStore } from '../../src/state/open.js';
import { isStorageCorruption } from '../../src/state/errors.js';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox('sp-corrupt-');
});
afterEach(() => sb.cleanup());

describe('storage corruption', () => {
  it("is recognised from DuckDB's own error on a damaged block, and told apart from a lock", async () => {
    const db = await openStore(sb.db);
    await db.run('CREATE TABLE t AS SELECT range AS i, repeat(\'x\', 100) AS v FROM range(50000)');
    await db.close();
    // Damage the first data block after the headers (DuckDB keeps 4 KiB headers, then 256 KiB blocks).
    const fd = fs.openSync(sb.db, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0xab), 0, 4096, 12288 + 8);
    fs.closeSync(fd);
    let err: unknown = null;
    try {
      const again = await openStore(sb.db);
      await again.all('SELECT sum(i) FROM t');
      await again.close();
    } catch (e) {
      err = e;
    }
    expect(String((err as Error)?.message)).toMatch(/Corrupt database file: computed checksum/);
    expect(isStorageCorruption(err)).toBe(true);
    // The operator is told what to do about it.
    expect(String((err as Error)?.message)).toMatch(/move it and its \.wal aside and run again to rebuild/);
    expect(isStorageCorruption(new DatabaseLockedError(sb.db, 'Could not set lock on file'))).toBe(false);
    expect(isStorageCorruption(new Error('IO Error: No space left on device'))).toBe(false);
  });
});
