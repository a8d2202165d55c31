import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { freshPgDatabase } from './pg.js';

describe('the test PostgreSQL', () => {
  it('gives each caller its own empty database on a real server', async () => {
    const a = await freshPgDatabase();
    const b = await freshPgDatabase();
    try {
      expect(a.url).not.toBe(b.url);
      const c = new pg.Client({ connectionString: a.url });
      await c.connect();
      await c.query('CREATE TABLE x (n int)');
      const r = await c.query<{ server_version: string }>('SHOW server_version');
      expect(Number(r.rows[0].server_version.split('.')[0])).toBeGreaterThanOrEqual(15);
      await c.end();
      const d = new pg.Client({ connectionString: b.url });
      await d.connect();
      const t = await d.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'x'`);
      expect(t.rows[0].n).toBe(0);
      await d.end();
    } finally {
      await a.drop();
      await b.drop();
    }
  });
});
