/**
 * Exactly-once, model-based: random histories of real files (appends, partial
 * lines, truncations, same-size rewrites, atomic replaces, deletes, renames
 * across owners, new owners, injected processor failures, SIGKILLed runs),
 * interleaved with pipeline runs and compared with a model after every run.
 * fast-check shrinks a failure to a minimal history.
 *
 * Fast profile (npm test): RELIABILITY_RUNS sequences (default 200).
 * Long profile: `npm run test:model-long` (5,000 sequences).
 * Replay: RELIABILITY_SEED=<seed> [RELIABILITY_PATH=<path>].
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ModelWorld, runSequence, sequenceArb, type SequenceStats } from './model-harness.js';
import { STORES } from '../helpers.js';
import { freshPgDatabase } from '../pg.js';

const RUNS = Number(process.env.RELIABILITY_RUNS ?? 200);
const SEED = process.env.RELIABILITY_SEED ? Number(process.env.RELIABILITY_SEED) : undefined;
const PATH = process.env.RELIABILITY_PATH;
const MIN_ACTIONS = Number(process.env.RELIABILITY_MIN_ACTIONS ?? 6);
const MAX_ACTIONS = Number(process.env.RELIABILITY_MAX_ACTIONS ?? 24);
const CRASH_WEIGHT = Number(process.env.RELIABILITY_CRASH_WEIGHT ?? 1);

describe.each(STORES)('model-based exactly-once on %s', (store) => {
  let world: ModelWorld;
  beforeAll(async () => {
    if (store === 'duckdb') world = new ModelWorld();
    else {
      const pg = await freshPgDatabase('model');
      world = new ModelWorld(pg.url, pg.drop);
    }
  });
  afterAll(() => world.close());

  it(
    `${RUNS} random file histories end exactly as the model says`,
    async () => {
      const total: SequenceStats & { sequences: number } = {
        sequences: 0,
        msReset: 0,
        msRun: 0,
        msCheck: 0,
        msCrash: 0,
        msFiles: 0,
        actions: 0,
        runs: 0,
        crashes: 0,
        crashesKilled: 0,
        throwsFired: 0,
        tailOnlyRewrites: 0,
        mtimeBumps: 0,
        linesChecked: 0,
      };
      const started = Date.now();
      await fc.assert(
        fc.asyncProperty(sequenceArb({ minActions: MIN_ACTIONS, maxActions: MAX_ACTIONS, crashWeight: CRASH_WEIGHT }), async (seq) => {
          const s = await runSequence(world, seq);
          total.sequences++;
          for (const k of Object.keys(s) as (keyof SequenceStats)[]) total[k] += s[k];
        }),
        { numRuns: RUNS, seed: SEED, path: PATH, endOnFailure: process.env.RELIABILITY_NO_SHRINK === '1' },
      );
      for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] = Math.round(total[k]);
      const line = `model (${store}): ${JSON.stringify({ ...total, seconds: Math.round((Date.now() - started) / 1000) })}\n`;
      process.stderr.write(line);
      if (process.env.RELIABILITY_REPORT) (await import('node:fs')).appendFileSync(process.env.RELIABILITY_REPORT, line);
      expect(total.sequences).toBeGreaterThanOrEqual(RUNS);
      // The histories did what they say: injected failures fired (they are armed by the key the
      // store holds, qualified on PostgreSQL) and crash children were killed (41 and 21 in 200 here).
      if (RUNS >= 100) {
        expect(total.throwsFired).toBeGreaterThan(0);
        expect(total.crashesKilled).toBeGreaterThan(0);
      }
    },
    Number(process.env.RELIABILITY_TIMEOUT_MS ?? 15 * 60_000),
  );
});
