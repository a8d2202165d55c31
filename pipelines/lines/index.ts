/**
 * `lines`: the minimal processor and a cheap progress check: complete lines and bytes per
 * session file, carried from batch to batch and written as absolute totals (a row is the sum
 * over the committed prefix, whatever the batching). Migration and retract: the core's defaults.
 */
import { defineProcessor, type Processor } from '../../src/pipeline/processor.js';

export const linesProcessor: Processor<{ lines: number; bytes: number }> = {
  name: 'lines',
  version: 1,
  tables: [
    {
      name: 'lines_file_stats',
      columns: [
        { name: 'session_file', type: 'VARCHAR' },
        { name: 'owner', type: 'VARCHAR', notNull: true },
        { name: 'lines', type: 'BIGINT', notNull: true },
        { name: 'bytes', type: 'BIGINT', notNull: true },
        { name: 'updated_at', type: 'TIMESTAMP', notNull: true },
      ],
      key: ['session_file'],
      replace: {}, // absolute totals: a row replaces the previous one
    },
  ],
  // Counts lines and bytes: reads no value (long strings may come elided, see Processor.reads).
  reads: { keys: [], markers: [] },
  process(batch, tx) {
    if (batch.lines.length === 0) return; // only bad lines: nothing to count
    const carry = batch.carry ?? { lines: 0, bytes: 0 };
    const bytes = batch.lines.reduce((n, l) => n + l.length, 0);
    const next = { lines: carry.lines + batch.lines.length, bytes: carry.bytes + bytes };
    tx.setCarry(next);
    tx.insert('lines_file_stats', [batch.file.sessionFile, batch.file.owner, next.lines, next.bytes, Date.now()]);
    tx.countItems(batch.lines.length);
  },
  remote: () => ({ module: import.meta.url, factory: 'linesFromRecipe', options: null }),
};

/** The worker-thread twin (see Processor.remote). */
export const linesFromRecipe = (): Processor<{ lines: number; bytes: number }> => linesProcessor;

export default defineProcessor({ name: 'lines', create: () => linesProcessor });
