/**
 * Bounded-concurrency work per key, strictly one at a time per key, as an
 * RxJS operator.
 *
 * A value for a key that is already running marks the key dirty (keeping the
 * latest value) instead of starting a second run; when the run ends, a dirty
 * key runs once more. Queued keys are served FIFO, so one busy file cannot
 * starve the others. A failing run is reported as a value, never as a stream
 * error: one poison file must not complete the stream for everyone.
 */
import { Observable, type OperatorFunction } from 'rxjs';

export type Outcome<T, R> = { input: T; ok: true; result: R } | { input: T; ok: false; error: Error };

export interface SingleFlightStats {
  running: number;
  queued: number;
}

export function singleFlightPerKey<T, R>(
  keyOf: (value: T) => string,
  concurrency: number,
  work: (value: T) => Promise<R>,
  stats?: SingleFlightStats,
): OperatorFunction<T, Outcome<T, R>> {
  return (source) =>
    new Observable<Outcome<T, R>>((subscriber) => {
      const queue = new Map<string, T>(); // insertion order = FIFO
      const running = new Set<string>();
      const dirty = new Map<string, T>();
      let sourceDone = false;
      const sync = () => {
        if (stats) {
          stats.running = running.size;
          stats.queued = queue.size + dirty.size;
        }
      };
      const maybeComplete = () => {
        if (sourceDone && running.size === 0 && queue.size === 0 && dirty.size === 0) subscriber.complete();
      };
      const pump = () => {
        for (const [key, value] of queue) {
          if (running.size >= concurrency) break;
          if (running.has(key)) continue;
          queue.delete(key);
          running.add(key);
          void Promise.resolve()
            .then(() => work(value))
            .then(
              (result) => subscriber.next({ input: value, ok: true, result }),
              (error: unknown) =>
                subscriber.next({ input: value, ok: false, error: error instanceof Error ? error : new Error(String(error)) }),
            )
            .finally(() => {
              running.delete(key);
              const again = dirty.get(key);
              if (again !== undefined) {
                dirty.delete(key);
                queue.set(key, again);
              }
              sync();
              pump();
              maybeComplete();
            });
        }
        sync();
      };
      const sub = source.subscribe({
        next(value) {
          const key = keyOf(value);
          if (running.has(key)) dirty.set(key, value);
          else queue.set(key, value);
          pump();
        },
        error(err) {
          subscriber.error(err);
        },
        complete() {
          sourceDone = true;
          maybeComplete();
        },
      });
      return () => sub.unsubscribe();
    });
}
