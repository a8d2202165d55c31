/** Retry policy after a processor fails on a file. Pure. */
export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 5_000, maxDelayMs: 15 * 60_000 };

/** Delay before attempt `attempts + 1`, given `attempts` failures so far (>= 1). */
export function backoffDelay(attempts: number, p: RetryPolicy): number {
  return Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** Math.max(0, attempts - 1));
}

export function afterFailure(
  attempts: number,
  p: RetryPolicy,
  now: number,
): { attempts: number; status: 'retrying' | 'quarantined'; nextAttemptAt: number | null } {
  const n = attempts + 1;
  if (n >= p.maxAttempts) return { attempts: n, status: 'quarantined', nextAttemptAt: null };
  return { attempts: n, status: 'retrying', nextAttemptAt: now + backoffDelay(n, p) };
}
