/**
 * Vitest global setup: one throwaway PostgreSQL cluster for the whole run
 * (scripts/pg-cluster.mjs), unless `.ci/run` (or the developer) already set
 * SESSION_PIPELINE_TEST_PG to a server's URL. Test files create their own
 * databases on it (test/pg.ts), so they never see each other's tables.
 */
// @ts-expect-error: a plain ES module shared with .ci/run
import { startCluster, stopCluster } from '../scripts/pg-cluster.mjs';

export default async function setup(): Promise<(() => void) | void> {
  if (process.env.SESSION_PIPELINE_TEST_PG) return;
  const c = (await startCluster()) as { url: string; dir: string; port: number };
  // Set before the forks start: they inherit it.
  process.env.SESSION_PIPELINE_TEST_PG = c.url;
  process.env.SESSION_PIPELINE_TEST_PG_DIR = c.dir;
  process.env.SESSION_PIPELINE_TEST_PG_PORT = String(c.port);
  return () => stopCluster(c.dir);
}
