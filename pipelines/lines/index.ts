/**
 * `lines`: the minimal built-in processor, and a cheap progress check for
 * operators: complete lines and bytes per session file.
 *
 * Totals travel as carry state and are written as absolute values, so a row
 * is always exactly the sum over the committed prefix, whatever the batching.
 */
import type { Processor } from '../../src/pipeline/processor.js';

interface Carry {
  lines: number;
  bytes: number;
}

export const linesProcessor: Processor<Carry> = {
  name: 'lines',
  version: 1,
  migrations: [
    {
      version: 1,
      description: 'lines_file_stats',
      up: [
        `CREATE TABLE IF NOT EXISTS lines_file_stats (
          session_file VARCHAR PRIMARY KEY,
          owner VARCHAR NOT NULL,
          lines BIGINT NOT NULL,
          bytes BIGINT NOT NULL,
          updated_at TIMESTAMP NOT NULL
        )`,
      ],
    },
  ],
  tables: [
    {
      name: 'lines_file_stats',
      columns: [
        { name: 'session_file', type: 'VARCHAR' },
        { name: 'owner', type: 'VARCHAR' },
        { name: 'lines', type: 'BIGINT' },
        { name: 'bytes', type: 'BIGINT' },
        { name: 'updated_at', type: 'TIMESTAMP' },
      ],
      key: ['session_file'],
      // Absolute totals: a row simply replaces the previous one.
      replace: {},
    },
  ],
  process(batch, tx) {
    const carry = batch.carry ?? { lines: 0, bytes: 0 };
    let bytes = 0;
    for (const l of batch.lines) bytes += l.length;
    const next = { lines: carry.lines + batch.lines.length, bytes: carry.bytes + bytes };
    tx.setCarry(next);
    tx.insert('lines_file_stats', [batch.file.sessionFile, batch.file.owner, next.lines, next.bytes, Date.now()]);
    tx.countItems(batch.lines.length);
  },
  retract(sessionFile, tx) {
    tx.run('DELETE FROM lines_file_stats WHERE session_file = $1', [sessionFile]);
  },
};
