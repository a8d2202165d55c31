/**
 * Per-key debounce with a max-wait, as an RxJS operator.
 *
 * `debounceTime` alone starves a key that never goes quiet, and `groupBy`
 * with a duration can leak or split groups; this keeps one small entry per
 * key that is pending and deletes it when it fires, so idle keys cost
 * nothing. A key fires `quietMs` after its last value, or `maxWaitMs` after
 * its first, whichever comes first.
 */
import { Observable, asyncScheduler, type MonoTypeOperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';

interface Entry<T> {
  value: T;
  quiet: Subscription;
  max: Subscription | null;
}

export function debouncePerKey<T>(
  keyOf: (value: T) => string,
  quietMs: number,
  maxWaitMs: number,
  merge: (pending: T, next: T) => T = (_p, n) => n,
  scheduler: SchedulerLike = asyncScheduler,
): MonoTypeOperatorFunction<T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      const pending = new Map<string, Entry<T>>();
      const fire = (key: string) => {
        const e = pending.get(key);
        if (!e) return;
        pending.delete(key);
        e.quiet.unsubscribe();
        e.max?.unsubscribe();
        subscriber.next(e.value);
      };
      const sub = source.subscribe({
        next(value) {
          const key = keyOf(value);
          const e = pending.get(key);
          if (e) {
            e.value = merge(e.value, value);
            e.quiet.unsubscribe();
            e.quiet = scheduler.schedule(() => fire(key), quietMs);
          } else {
            pending.set(key, {
              value,
              quiet: scheduler.schedule(() => fire(key), quietMs),
              max: Number.isFinite(maxWaitMs) ? scheduler.schedule(() => fire(key), maxWaitMs) : null,
            });
          }
        },
        error(err) {
          subscriber.error(err);
        },
        complete() {
          for (const key of [...pending.keys()]) fire(key);
          subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        for (const e of pending.values()) {
          e.quiet.unsubscribe();
          e.max?.unsubscribe();
        }
        pending.clear();
      };
    });
}
