/**
 * PostgreSQL for tests: a fresh database per call on the run's throwaway
 * cluster (test/pg-global-setup.ts). Real server, real wire protocol.
 */
import { createPgDatabase } from '../bench/lib/store.js';

export function pgServerUrl(): string {
  const url = process.env.SESSION_PIPELINE_TEST_PG;
  if (!url) throw new Error('SESSION_PIPELINE_TEST_PG is not set: vitest global setup starts a cluster (test/pg-global-setup.ts)');
  return url;
}

let seq = 0;

/** A new, empty database; `drop()` removes it (forcing out any connection left open). */
export async function freshPgDatabase(prefix = 't'): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${seq++}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return { name, ...(await createPgDatabase(pgServerUrl(), name)) };
}

/** The stores a parameterised suite runs on: `describe.each(STORES)`. */
export const STORES = ['duckdb', 'postgres'] as const;
export type StoreName = (typeof STORES)[number];
