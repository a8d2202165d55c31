/**
 * Fault injection for tests, off unless the daemon runs with
 * `SESSION_PIPELINE_TEST_FAULTS=1`. Nothing here is reachable otherwise.
 *
 *   - `POST /processors/:name/run?fault=throw` throws inside the locked
 *     section (after the lock is taken), so tests see the lock released by
 *     the `finally`; `?fault=delay:<ms>` holds the lock that much longer, so
 *     a concurrent call deterministically meets it (409).
 *   - A session line whose JSON has `"__test_fault": "throw"` makes every
 *     processor throw on the batch holding it: a poison file that is retried,
 *     then quarantined, and recovers with a requeue once the line is gone.
 */
import type { Processor } from '../pipeline/processor.js';

export const FAULTS_ENV = 'SESSION_PIPELINE_TEST_FAULTS';
export const POISON_KEY = '__test_fault';

export function faultsEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[FAULTS_ENV] === '1';
}

export type RunFault = { kind: 'throw' } | { kind: 'delay'; ms: number } | null;

/** The fault a run request asks for; null when faults are off or none is asked. */
export function runFault(query: unknown, env: NodeJS.ProcessEnv = process.env): RunFault {
  if (!faultsEnabled(env)) return null;
  const f = (query as { fault?: unknown } | undefined)?.fault;
  if (typeof f !== 'string') return null;
  if (f === 'throw') return { kind: 'throw' };
  const m = /^delay:(\d{1,6})$/.exec(f);
  return m ? { kind: 'delay', ms: Number(m[1]) } : null;
}

const wrapped = new WeakSet<Processor>();

/** Make processors throw on batches holding a poison line (test hook; idempotent). */
export function installPoisonFault(processors: readonly Processor[], env: NodeJS.ProcessEnv = process.env): boolean {
  if (!faultsEnabled(env)) return false;
  for (const p of processors) {
    if (wrapped.has(p)) continue;
    wrapped.add(p);
    const original = p.process.bind(p);
    (p as { process: Processor['process'] }).process = (batch, tx) => {
      for (const l of batch.lines) {
        if (l.value[POISON_KEY] === 'throw') throw new Error(`test fault: poison line at offset ${l.offset}`);
      }
      return original(batch, tx);
    };
  }
  return true;
}
