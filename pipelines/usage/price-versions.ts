/**
 * Price versions: every price table the usage processor has run with, stored
 * in the database, one of them active. The views price each message at read
 * time from the active version (views.ts), so a new table reprices all
 * history, transcripts Claude Code has deleted since included, without reading
 * a byte of any transcript.
 *
 * - `usage_price_versions`: one row per distinct table (by the fingerprint of
 *   its parsed rates); `activation` orders the activations, the largest is active.
 * - `usage_prices`: the resolved rates of each entry of a version (1-hour cache
 *   writes and the long-context tier already applied, pricing.ts).
 * - `usage_price_models` (tables.ts): which entry prices a model name under a version.
 *
 * Starting the processor activates its table: an existing version with the same
 * fingerprint, or a new one. A run with `--pricing other.json` then one without
 * flips the active version back and forth; nothing is re-read either way (the
 * rollups, which hold costs, are summed again from the picks: rollup.ts).
 */
import type { Db } from '../../src/state/db.js';
import type { PriceTable } from './pricing.js';
import { DIRTY, PRICE_MODELS } from './tables.js';
import { ROLLUPS, rollupRebuildSql } from './rollup.js';

/** Written once: both stores run these as they are. */
export const PRICE_VERSIONS_DDL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS usage_price_versions (
    price_version INTEGER NOT NULL PRIMARY KEY,
    fingerprint VARCHAR NOT NULL UNIQUE,
    source VARCHAR NOT NULL,
    entries INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    activated_at TIMESTAMP NOT NULL,
    activation BIGINT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS usage_prices (
    price_version INTEGER NOT NULL,
    entry VARCHAR NOT NULL,
    input DOUBLE PRECISION NOT NULL, output DOUBLE PRECISION NOT NULL,
    cache_write_5m DOUBLE PRECISION NOT NULL, cache_write_1h DOUBLE PRECISION NOT NULL, cache_read DOUBLE PRECISION NOT NULL,
    input_above_200k DOUBLE PRECISION, output_above_200k DOUBLE PRECISION,
    cache_write_5m_above_200k DOUBLE PRECISION, cache_write_1h_above_200k DOUBLE PRECISION, cache_read_above_200k DOUBLE PRECISION,
    fast DOUBLE PRECISION,
    PRIMARY KEY (price_version, entry))`,
];

/** The active price version: the one activated last. */
export const ACTIVE_VERSION_VIEW = `CREATE OR REPLACE VIEW usage_price_active AS
SELECT price_version, fingerprint, source, entries, created_at, activated_at
FROM usage_price_versions ORDER BY activation DESC LIMIT 1`;

export interface PriceVersion {
  version: number;
  /** True when this table had never been stored before. */
  created: boolean;
  /** Model names mapped to an entry (or to none) for this version by this activation. */
  mapped: number;
  /** Whether the rollup's costs were summed again at this version. */
  repriced: boolean;
}

/**
 * Store `table` as a price version unless it is one already, make it the
 * active one, and map every stored model name that the version has not mapped yet.
 * One transaction: a crash leaves the previous version active.
 */
export async function activatePrices(db: Db, table: PriceTable, now = Date.now()): Promise<PriceVersion> {
  return db.transaction(async () => {
    // Several nodes starting on one PostgreSQL store activate at once: one at a time, or both
    // took the same next version number (duplicate key, seen starting two `run --once`s).
    if (db.kind === 'postgres') {
      await db.run("SELECT pg_advisory_xact_lock(hashtext('session-pipeline price versions'))");
      // The rollup may be rebuilt below: no fold (which takes this lock too) and no commit
      // (which notes keys) meanwhile. Taken first, so a commit never holds a row this waits for.
      await db.run(`LOCK TABLE ${DIRTY.name} IN SHARE ROW EXCLUSIVE MODE`);
    }
    const [known] = await db.all<{ price_version: number }>(
      'SELECT price_version FROM usage_price_versions WHERE fingerprint = $1',
      [table.fingerprint],
    );
    const [{ next, activation }] = await db.all<{ next: number; activation: bigint | number }>(
      'SELECT coalesce(max(price_version), 0) + 1 AS next, coalesce(max(activation), 0) + 1 AS activation FROM usage_price_versions',
    );
    const at = new Date(now).toISOString();
    let version: number;
    if (known) {
      version = Number(known.price_version);
      await db.run('UPDATE usage_price_versions SET activated_at = $1::TIMESTAMP, activation = $2 WHERE price_version = $3', [
        at,
        Number(activation),
        version,
      ]);
    } else {
      version = Number(next);
      await db.run(
        `INSERT INTO usage_price_versions VALUES ($1, $2, $3, $4, $5::TIMESTAMP, $5::TIMESTAMP, $6)`,
        [version, table.fingerprint, table.source, table.size, at, Number(activation)],
      );
      for (const p of table.entries()) {
        const b = p.base;
        const l = p.longContext;
        await db.run(`INSERT INTO usage_prices VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, [
          version,
          p.entry,
          b.input,
          b.output,
          b.cacheWrite5m,
          b.cacheWrite1h,
          b.cacheRead,
          l?.input ?? null,
          l?.output ?? null,
          l?.cacheWrite5m ?? null,
          l?.cacheWrite1h ?? null,
          l?.cacheRead ?? null,
          p.fast,
        ]);
      }
    }
    const unmapped = await db.all<{ model: string }>(
      `SELECT DISTINCT model FROM usage_messages m
       WHERE model IS NOT NULL AND NOT synthetic
         AND NOT EXISTS (SELECT 1 FROM ${PRICE_MODELS.name} p WHERE p.price_version = $1 AND p.model = m.model)`,
      [version],
    );
    for (const { model } of unmapped) {
      // A node's committer may have mapped it meanwhile (the same entry: one table, one lookup).
      await db.run(`INSERT INTO ${PRICE_MODELS.name} VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [version, model, table.lookup(model)?.entry ?? null]);
    }
    // The rollup holds costs (rollup.ts): priced at another version, or with models unmapped
    // until now, it is summed again (1,000,000 messages: ~1-2 s, once per price change).
    const stale = (await db.all(ROLLUPS.map((r) => `SELECT 1 AS stale FROM ${r.table} WHERE price_version IS DISTINCT FROM $1`).join(' UNION ALL ') + ' LIMIT 1', [version]))[0];
    const repriced = stale !== undefined || unmapped.length > 0;
    if (repriced) for (const sql of rollupRebuildSql(db.kind)) await db.run(sql);
    return { version, created: !known, mapped: unmapped.length, repriced };
  });
}
