import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'pipelines/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn daemons and DuckDB files; two cores do not gain from more forks.
    maxWorkers: 2,
    pool: 'forks',
    // One throwaway PostgreSQL cluster for the run, unless SESSION_PIPELINE_TEST_PG names one.
    globalSetup: ['test/pg-global-setup.ts'],
  },
});
