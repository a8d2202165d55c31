/**
 * A backfill worker thread: builds the processors from their recipes, then
 * for each job reads the file, frames and parses its lines and runs every
 * processor on every batch (fan-out.ts, the code the main thread uses), and
 * posts the units as data. The main thread commits them, in order, with
 * their checkpoints: exactly-once is the committer's business, unchanged.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Processor } from '../processor.js';
import { UnitOfWork } from '../unit.js';
import { readBatches } from '../../read/reader.js';
import { applyBatch, type Cursor } from '../fan-out.js';
import { BAD_LINES_TABLE } from '../../state/checkpoint.js';
import type { FileJob, UnitData, WorkerMessage, WorkerSetup } from './protocol.js';

const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);

async function build(setup: WorkerSetup): Promise<Map<string, Processor>> {
  const out = new Map<string, Processor>();
  for (const r of setup.recipes) {
    const mod = (await import(r.module)) as Record<string, (o: unknown) => Processor>;
    const make = mod[r.factory];
    if (typeof make !== 'function') throw new Error(`${r.module} has no export ${r.factory}`);
    const p = make(r.options);
    out.set(p.name, p);
  }
  return out;
}

function tablesOf(p: Processor) {
  return new Map([...p.tables, BAD_LINES_TABLE].map((t) => [t.name, t]));
}

async function runJob(processors: Map<string, Processor>, job: FileJob): Promise<void> {
  const cursors = job.cursors.map((c) => {
    const p = processors.get(c.name);
    if (!p) throw new Error(`worker has no processor ${c.name}`);
    return { cursor: { p, from: c.from, carry: c.carry, retractPending: c.retract, badLines: c.badLines } as Cursor, tables: tablesOf(p), failed: false };
  });
  for await (const batch of readBatches(job.absPath, job.from, job.until, job.read, job.firstLine)) {
    const units: UnitData[] = [];
    for (const c of cursors) {
      if (c.failed) continue;
      const unit = new UnitOfWork(c.cursor.p.name, job.ref.sessionFile, c.tables);
      const base = { name: c.cursor.p.name, retracts: false, statements: [], rows: [], carry: undefined, carrySet: false, items: 0, lines: 0, bad: 0, offset: 0, bytes: 0 };
      try {
        const applied = await applyBatch(c.cursor, batch, job.ref, unit);
        if (applied === null) units.push({ ...base, skipped: true });
        else {
          units.push({
            ...base,
            retracts: unit.retracts,
            statements: unit.statements,
            rows: [...unit.rows],
            carry: unit.carry,
            carrySet: unit.carrySet,
            items: unit.items,
            ...applied,
          });
        }
      } catch (err) {
        c.failed = true;
        units.push({ ...base, error: (err as Error)?.message ?? String(err) });
      }
    }
    post({
      type: 'batch',
      job: job.id,
      fromOffset: batch.fromOffset,
      toOffset: batch.toOffset,
      bytesRead: batch.bytesRead,
      lines: batch.lines.length,
      bad: batch.bad,
      fingerprints: batch.fingerprints,
      last: batch.last,
      units,
    });
    if (cursors.every((c) => c.failed)) break;
  }
}

const ready = build(workerData as WorkerSetup).then(
  (ps) => {
    post({ type: 'ready' });
    return ps;
  },
  (err) => {
    post({ type: 'setup-failed', message: (err as Error)?.message ?? String(err) });
    return null;
  },
);

// Jobs run one at a time, in the order they arrive: a file's batches leave in file order.
let chain: Promise<void> = Promise.resolve();
port.on('message', (job: FileJob) => {
  chain = chain.then(async () => {
    const ps = await ready;
    if (!ps) return;
    try {
      await runJob(ps, job);
      post({ type: 'done', job: job.id });
    } catch (err) {
      post({ type: 'failed', job: job.id, message: (err as Error)?.message ?? String(err), code: (err as NodeJS.ErrnoException)?.code });
    }
  });
});
