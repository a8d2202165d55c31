/**
 * The chaos run (bench/chaos.ts) in small, on each store (STORES): SIGKILL the
 * watch daemon 5 times under a live writer, let it settle, and compare every
 * processor's outputs and checkpoints with a clean `run --once` on a copy of
 * the final files, into a store of the same kind.
 * The full version: `npm run bench:chaos` (50 kills, 100 live files).
 */
import { describe, expect, it } from 'vitest';
import { runChaos } from '../../bench/chaos.js';
import { STORES } from '../helpers.js';
import { freshPgDatabase } from '../pg.js';

describe.each(STORES)('chaos on %s', (store) => {
  it('5 SIGKILLs of the daemon under live appends end exactly like a clean run --once', async () => {
    const lines: string[] = [];
    const pg = store === 'postgres' ? await Promise.all([freshPgDatabase('chaos'), freshPgDatabase('chaos_clean')]) : null;
    try {
      const r = await runChaos({
        kills: 5,
        writers: 20,
        files: 30,
        mb: 3,
        seed: Number(process.env.CHAOS_SEED ?? 11),
        minUpMs: 300,
        maxUpMs: 2500,
        log: (l) => lines.push(l),
        ...(pg ? { db: pg[0].url, cleanDb: pg[1].url } : {}),
      });
      const summary = { ...r, comparedTables: r.comparedTables.map((t) => `${t.table}:${t.rows}/${t.onlyChaos}/${t.onlyClean}`) };
      process.stderr.write(`chaos (${store}): ${JSON.stringify(summary)}\n`);
      expect(r.unexpectedExits).toEqual([]);
      expect(r.errorLogs).toEqual([]);
      expect(r.killsLanded).toBe(5);
      expect(r.caughtUp).toBe(true);
      expect(r.settleRounds).toBe(1);
      expect(r.linesWritten).toBeGreaterThan(100);
      expect(r.comparedTables.find((t) => t.table === 'lines_file_stats')?.rows).toBe(30);
      expect(r.comparedTables.filter((t) => t.onlyChaos + t.onlyClean > 0)).toEqual([]);
      expect(r.mismatches).toBe(0);
    } finally {
      if (pg) for (const d of pg) await d.drop();
    }
  }, 240_000);
});
