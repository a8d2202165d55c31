// test/journal.test.ts: commits 50 groups into a journaled store, says so, and waits to be killed.
import { DuckDb } from '../dist/src/state/duckdb.js';
import { createTableSql } from '../dist/src/state/table.js';

const spec = { name: 't_last', columns: [{ name: 'f', type: 'VARCHAR' }, { name: 'v', type: 'BIGINT' }], key: ['f'], replace: {} };
const db = await DuckDb.open(process.argv[2], { threads: 1 });
await db.run(createTableSql(spec));
await db.useJournal([spec], { defer: true });
for (let i = 0; i < 50; i++) await db.transaction(() => db.loadStaged(spec, ['a', 'b', 'c'].map((f) => [f, i])));
// Counted on the connection itself: a query through the store would merge the journal first.
const n = (await db.conn.runAndReadAll('SELECT count(*)::INTEGER AS n FROM _journal')).getRowObjectsJS()[0].n;
process.stdout.write(`journaled ${n} committed\n`);
setInterval(() => {}, 1000);
