/**
 * A pool of backfill worker threads (worker.ts). `run` hands a file's pass to
 * the least busy worker and yields its batches in file order, as they come;
 * the caller stages and commits them on the main thread. Jobs queue per
 * worker, so a caller bounds the files in flight.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ProcessorRecipe } from '../processor.js';
import type { BatchMessage, FileJob, WorkerMessage, WorkerSetup } from './protocol.js';

/** An error from the worker's side of a job, with the errno code of an I/O error kept. */
export class WorkerJobError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'WorkerJobError';
  }
}

interface Channel {
  queue: BatchMessage[];
  done: boolean;
  error: Error | null;
  wake: (() => void) | null;
}

interface Slot {
  worker: Worker;
  jobs: Set<number>;
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

export class WorkerPool {
  private readonly channels = new Map<number, Channel>();
  private nextId = 1;
  private closed = false;

  private constructor(private readonly slots: Slot[]) {
    for (const s of slots) {
      s.worker.on('message', (m: WorkerMessage) => this.receive(s, m));
      const fail = (err: Error) => {
        for (const id of s.jobs) this.finish(id, err);
        s.jobs.clear();
      };
      s.worker.on('error', fail);
      s.worker.on('exit', (code) => {
        if (!this.closed) fail(new Error(`backfill worker exited (code ${code})`));
      });
    }
  }

  /** Start `n` workers and wait until each has built its processors. */
  static async start(n: number, recipes: ProcessorRecipe[]): Promise<WorkerPool> {
    const file = fileURLToPath(WORKER_URL);
    if (!fs.existsSync(file)) throw new Error(`backfill workers need the compiled worker (${file}): run \`npm run build\``);
    const setup: WorkerSetup = { recipes };
    const started = await Promise.allSettled(
      Array.from({ length: n }, async (): Promise<Slot> => {
        const worker = new Worker(WORKER_URL, { workerData: setup });
        await new Promise<void>((resolve, reject) => {
          const onMessage = (m: WorkerMessage) => {
            if (m.type === 'ready') resolve();
            else if (m.type === 'setup-failed') reject(new Error(`backfill worker: ${m.message}`));
            else return;
            worker.off('message', onMessage);
            worker.off('error', reject);
          };
          worker.on('message', onMessage);
          worker.on('error', reject);
        });
        return { worker, jobs: new Set() };
      }),
    );
    const slots = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.all(slots.map((s) => s.worker.terminate()));
      throw (failed as PromiseRejectedResult).reason;
    }
    return new WorkerPool(slots);
  }

  get size(): number {
    return this.slots.length;
  }

  /** One pass over a file: its batches in order; throws a WorkerJobError if the worker's read failed. */
  async *run(job: Omit<FileJob, 'type' | 'id'>): AsyncGenerator<BatchMessage> {
    if (this.closed) throw new Error('worker pool is closed');
    const id = this.nextId++;
    const ch: Channel = { queue: [], done: false, error: null, wake: null };
    this.channels.set(id, ch);
    const slot = this.slots.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
    slot.jobs.add(id);
    slot.worker.postMessage({ ...job, type: 'job', id } satisfies FileJob);
    try {
      for (;;) {
        if (ch.queue.length > 0) {
          yield ch.queue.shift()!;
          continue;
        }
        if (ch.error) throw ch.error;
        if (ch.done) return;
        await new Promise<void>((resolve) => (ch.wake = resolve));
      }
    } finally {
      // A caller that stops early leaves the worker to finish the job alone; its messages are dropped.
      this.channels.delete(id);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private receive(slot: Slot, m: WorkerMessage): void {
    switch (m.type) {
      case 'batch': {
        const ch = this.channels.get(m.job);
        if (!ch) return;
        ch.queue.push(m);
        this.wake(ch);
        return;
      }
      case 'done':
        slot.jobs.delete(m.job);
        this.finish(m.job, null);
        return;
      case 'failed':
        slot.jobs.delete(m.job);
        this.finish(m.job, new WorkerJobError(m.message, m.code));
        return;
    }
  }

  private finish(id: number, err: Error | null): void {
    const ch = this.channels.get(id);
    if (!ch) return;
    if (err) ch.error = err;
    ch.done = true;
    this.wake(ch);
  }

  private wake(ch: Channel): void {
    const w = ch.wake;
    ch.wake = null;
    w?.();
  }
}
