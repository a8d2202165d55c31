/**
 * One writer, serialised: a store's statements run one after another on its writer
 * connection, and a transaction's own statements (issued from inside its callback, in its
 * async context) join it instead of queueing behind it. Both stores' transactions are per
 * connection, so two interleaved async callers would otherwise mix their statements into one
 * transaction. `T` is what the transaction's context carries (DuckDB: a marker; PostgreSQL:
 * the transaction's client).
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export class SerialWriter<T> {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly context = new AsyncLocalStorage<T>();

  /** The running transaction's context, when called from inside it. */
  get current(): T | undefined {
    return this.context.getStore();
  }

  /** Run `fn` after everything queued before it (at once from inside a transaction). */
  exclusive<R>(fn: () => Promise<R>): Promise<R> {
    if (this.context.getStore() !== undefined) return fn();
    const next = this.queue.then(fn, fn);
    // The chain must not hold the last result: a 150k-row load would stay alive until the next statement.
    this.queue = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  /**
   * Run `fn` as the transaction carrying `value` (its statements join it).
   * The context is switched off again once `fn` settles: on Node 20 an enabled AsyncLocalStorage
   * keeps promise hooks on for every promise of the process, which at 200 live files was 7 % of
   * the daemon's allocations (29 of 397 MB in 25 s, bench:live-cost with a sampling heap
   * profile) and ~2 points of a core. Transactions run one at a time per writer, so nothing that
   * needs the context outlives `fn`.
   */
  async within<R>(value: T, fn: () => Promise<R>): Promise<R> {
    try {
      return await this.context.run(value, fn);
    } finally {
      this.context.disable();
    }
  }

  /** Wait for everything queued so far. */
  async drained(): Promise<void> {
    await this.queue;
  }
}
