/**
 * A bench-only processor that records, per line carrying `benchAppendedAt`,
 * when the writer appended it and when the commit transaction that made it
 * durable ran (DuckDB's `current_timestamp`, the transaction's start, taken
 * from the database rather than from the pipeline's own clock).
 */
import type { Processor } from '../../src/pipeline/processor.js';

export const probeProcessor: Processor = {
  name: 'bench_probe',
  version: 1,
  migrations: [
    {
      version: 1,
      description: 'bench_probe',
      up: [
        `CREATE TABLE IF NOT EXISTS bench_probe (
          session_file VARCHAR NOT NULL,
          "offset" BIGINT NOT NULL,
          appended_at_ms BIGINT NOT NULL,
          committed_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
          PRIMARY KEY (session_file, "offset")
        )`,
      ],
    },
  ],
  tables: [
    {
      name: 'bench_probe',
      columns: [
        { name: 'session_file', type: 'VARCHAR' },
        { name: 'offset', type: 'BIGINT' },
        { name: 'appended_at_ms', type: 'BIGINT' },
      ],
      key: ['session_file', 'offset'],
      onConflict: 'DO NOTHING',
      // `committed_at` is the commit's time only if the row is merged in it, not journaled.
      mergeAtOnce: true,
    },
  ],
  process(batch, tx) {
    for (const l of batch.lines) {
      const t = l.value.benchAppendedAt;
      if (typeof t === 'number') tx.insert('bench_probe', [batch.file.sessionFile, l.offset, t]);
    }
  },
  retract(file, tx) {
    tx.run('DELETE FROM bench_probe WHERE session_file = $1', [file]);
  },
};

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
