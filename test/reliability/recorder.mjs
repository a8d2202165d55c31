/**
 * The reliability suite's recorder processor, in plain JS so the crash child
 * (a bare `node` process, no TypeScript) and the in-process tests share one
 * definition.
 *
 * Every delivery of a line is its own row (the key includes a delivery id that
 * is never reused), so a line delivered twice shows up as two rows for one
 * (file, offset) even when both deliveries land in the same commit, where a
 * `seen = seen + 1` upsert would be collapsed by the committer's QUALIFY.
 *
 * `failNext` arms a one-shot failure per session file: the next `process`
 * call for that file stages some rows, then throws (the rows must be dropped).
 */

let deliveries = 0;
const nonce = `${process.pid.toString(36)}${Date.now().toString(36)}`;

/** @param {{ name?: string, failNext?: Set<string>, threw?: Set<string> }} [opts] */
export function recorder(opts = {}) {
  const name = opts.name ?? 'rec';
  const table = `${name}_lines`;
  const failNext = opts.failNext ?? new Set();
  const threw = opts.threw ?? new Set();
  return {
    name,
    version: 1,
    failNext,
    threw,
    migrations: [
      {
        version: 1,
        description: 'every delivery of every line',
        up: [
          `CREATE TABLE IF NOT EXISTS ${table} (
            session_file VARCHAR NOT NULL,
            delivery VARCHAR NOT NULL,
            "offset" BIGINT NOT NULL,
            length BIGINT NOT NULL,
            i BIGINT,
            PRIMARY KEY (session_file, delivery)
          )`,
        ],
      },
    ],
    tables: [
      {
        name: table,
        columns: [
          { name: 'session_file', type: 'VARCHAR' },
          { name: 'delivery', type: 'VARCHAR' },
          { name: 'offset', type: 'BIGINT' },
          { name: 'length', type: 'BIGINT' },
          { name: 'i', type: 'BIGINT' },
        ],
        key: ['session_file', 'delivery'],
        onConflict: 'DO NOTHING',
      },
    ],
    process(batch, tx) {
      const file = batch.file.sessionFile;
      const fail = failNext.has(file);
      let n = 0;
      for (const l of batch.lines) {
        const i = typeof l.value.i === 'number' ? l.value.i : null;
        tx.insert(table, [file, `${nonce}-${++deliveries}`, l.offset, l.length, i]);
        n++;
        // Fail halfway through the batch: whatever was staged must never reach the database.
        if (fail && n >= Math.ceil(batch.lines.length / 2)) {
          failNext.delete(file);
          threw.add(file);
          throw new Error(`injected failure in ${file} at ${l.offset}`);
        }
      }
      tx.countItems(batch.lines.length);
    },
    retract(file, tx) {
      tx.run(`DELETE FROM ${table} WHERE session_file = $1`, [file]);
    },
  };
}
