/**
 * Clocks. Waits, backoffs and settles are measured on the monotonic clock; the system
 * clock is for what is shown and stored. When the clock stepped back a day, a backoff due
 * "at" a wall time waited that day, and an mtime "in the future" asked for a settle timer
 * beyond setTimeout's 2^31-1 ms (TimeoutOverflowWarning, then a 1 ms timer, 4 times a second).
 */
import { performance } from 'node:perf_hooks';

const wall0 = Date.now();
const mono0 = performance.now();

/** Milliseconds on the monotonic clock (never steps; origin arbitrary). */
export function monoNow(): number {
  return performance.now();
}

/**
 * Epoch milliseconds that advance with the monotonic clock from this process's start: a step
 * of the system clock after start does not move them. For comparing with wall times that this
 * process recorded (a backoff's due time) and for stamping them.
 */
export function steadyNow(): number {
  return wall0 + (performance.now() - mono0);
}
