/**
 * Pricing at read time: a new price table is a new price version that
 * reprices all history, a transcript deleted before the change included, and
 * reads 0 bytes of transcripts; the SQL cost equals pricing.ts `costUsd`; a
 * version-1 database (cost stored per row) upgrades in place.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { query, runOnceIn, sandbox, type Sandbox } from '../helpers.js';
import { openStore } from '../../src/state/open.js';
import { migrate } from '../../src/state/migrations.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { usageReport } from '../../pipelines/usage/report.js';
import { USAGE_MIGRATIONS } from '../../pipelines/usage/migrations.js';
import { activatePrices } from '../../pipelines/usage/price-versions.js';
import { costUsd, isLongContext, loadPriceTable } from '../../pipelines/usage/pricing.js';
import { assistant } from './support.js';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox('sp-reprice-');
});
afterEach(() => sb.cleanup());

/** The reports round USD to 6 decimals. */
const usd = (v: number) => Math.round(v * 1e6) / 1e6;
const usage = (u: { input: number; output: number }) => ({
  input_tokens: u.input,
  output_tokens: u.output,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
});

function priceFile(name: string, rates: Record<string, [number, number]>): string {
  const file = path.join(sb.dir, name);
  const table = Object.fromEntries(Object.entries(rates).map(([m, [i, o]]) => [m, { input_cost_per_token: i, output_cost_per_token: o }]));
  fs.writeFileSync(file, JSON.stringify(table));
  return file;
}

async function byOwner(): Promise<Record<string, number | null>> {
  const db = await openStore(sb.db);
  try {
    const r = await usageReport(db, 'owner', { tz: 'UTC' });
    return Object.fromEntries(r.rows.map((row) => [row.key, row.cost_usd]));
  } finally {
    await db.close();
  }
}

describe('a new price table', () => {
  it('reprices all history, a deleted transcript included, reading 0 bytes', async () => {
    sb.write('alice/a.jsonl', assistant({ id: 'm1', req: 'r1', ts: '2025-07-01T10:00:00Z', model: 'model-x', usage: usage({ input: 1000, output: 100 }) }));
    sb.write('bob/b.jsonl', assistant({ id: 'm2', req: 'r2', ts: '2025-07-01T11:00:00Z', model: 'model-x', usage: usage({ input: 2000, output: 200 }) }));
    const p1 = priceFile('p1.json', { 'model-x': [1e-6, 2e-6] });
    const p2 = priceFile('p2.json', { 'model-x': [3e-6, 5e-6] });

    const first = await runOnceIn(sb, [createUsageProcessor({ pricing: p1 })]);
    expect(first.processors.usage.bytes_read).toBeGreaterThan(0);
    expect(await byOwner()).toEqual({ alice: usd(1000 * 1e-6 + 100 * 2e-6), bob: usd(2000 * 1e-6 + 200 * 2e-6) });

    // Claude Code deletes bob's transcript; its rows stay.
    fs.rmSync(sb.file('bob/b.jsonl'));
    const gone = await runOnceIn(sb, [createUsageProcessor({ pricing: p1 })]);
    expect(gone.processors.usage.deleted).toBe(1);

    // The price change: a new version, every row repriced, no transcript read.
    const repriced = await runOnceIn(sb, [createUsageProcessor({ pricing: p2 })]);
    expect(repriced.processors.usage).toMatchObject({ bytes_read: 0, lines: 0, rewritten: 0, unchanged: 1 });
    expect(await byOwner()).toEqual({ alice: usd(1000 * 3e-6 + 100 * 5e-6), bob: usd(2000 * 3e-6 + 200 * 5e-6) });
    expect(await query(sb.db, 'SELECT price_version, source FROM usage_price_versions ORDER BY 1')).toEqual([
      { price_version: 1, source: p1 },
      { price_version: 2, source: p2 },
    ]);
    expect(await query(sb.db, 'SELECT price_version FROM usage_price_active')).toEqual([{ price_version: 2 }]);

    // Back to the first table: the same version again (by its rates), not a third one.
    const back = await runOnceIn(sb, [createUsageProcessor({ pricing: p1 })]);
    expect(back.processors.usage.bytes_read).toBe(0);
    expect(await query(sb.db, 'SELECT price_version FROM usage_price_active')).toEqual([{ price_version: 1 }]);
    expect(await query(sb.db, 'SELECT count(*) AS n FROM usage_price_versions')).toEqual([{ n: 2 }]);
    expect((await byOwner()).bob).toBeCloseTo(2000 * 1e-6 + 200 * 2e-6, 12);
  });

  it('leaves a model it does not know unpriced (null, listed), never $0', async () => {
    sb.write('alice/a.jsonl', assistant({ id: 'm1', req: 'r1', ts: '2025-07-01T10:00:00Z', model: 'model-x', usage: usage({ input: 10, output: 1 }) }));
    await runOnceIn(sb, [createUsageProcessor({ pricing: priceFile('p1.json', { 'model-x': [1e-6, 1e-6] }) })]);
    await runOnceIn(sb, [createUsageProcessor({ pricing: priceFile('p2.json', { 'model-y': [1e-6, 1e-6] }) })]);
    const db = await openStore(sb.db);
    try {
      const r = await usageReport(db, 'model', { tz: 'UTC' });
      expect(r.totals).toMatchObject({ messages: 1, input_tokens: 10, cost_usd: null, unpriced_models: ['model-x'] });
    } finally {
      await db.close();
    }
  });
});

describe('the SQL cost', () => {
  it('equals costUsd for any tokens, cache split, long context, speed and model', async () => {
    const table = loadPriceTable();
    const models = [...table.entries()].map((p) => p.entry).concat(['claude-sonnet-4', 'anthropic/claude-opus-4-6', 'unknown-model']);
    const db = await openStore(sb.db);
    try {
      await migrate(db, 'usage', USAGE_MIGRATIONS);
      const { version } = await activatePrices(db, table);
      const tok = fc.integer({ min: 0, max: 400_000 });
      const msg = fc.record({ model: fc.constantFrom(...models), input: tok, output: fc.integer({ min: 0, max: 64_000 }), c5: tok, c1: tok, read: tok, fast: fc.boolean() });
      await fc.assert(
        fc.asyncProperty(fc.array(msg, { minLength: 1, maxLength: 40 }), async (msgs) => {
          await db.run('DELETE FROM usage_messages');
          for (const [i, m] of msgs.entries()) {
            const t = { input: m.input, output: m.output, cacheCreation: m.c5 + m.c1, cache1h: m.c1, cacheRead: m.read };
            await db.run(
              `INSERT INTO usage_messages (session_file, message_key, owner, model, speed, input_tokens, output_tokens, cache_creation_tokens,
                 cache_creation_5m_tokens, cache_creation_1h_tokens, cache_read_tokens, total_tokens, synthetic, line_offset, long_context)
               VALUES ('o/s.jsonl', $1, 'o', $2, $3, $4, $5, $6, $7, $8, $9, 0, false, 0, $10)`,
              [String(i), m.model, m.fast ? 'fast' : 'standard', m.input, m.output, m.c5 + m.c1, m.c5, m.c1, m.read, isLongContext(t)],
            );
            await db.run(`INSERT INTO usage_price_models VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [version, m.model, table.lookup(m.model)?.entry ?? null]);
          }
          const rows = await db.all<{ message_key: string; cost_usd: number | null }>('SELECT message_key, cost_usd FROM usage_messages_priced');
          for (const r of rows) {
            const m = msgs[Number(r.message_key)];
            const price = table.lookup(m.model);
            const want = price ? costUsd({ input: m.input, output: m.output, cacheCreation: m.c5 + m.c1, cache1h: m.c1, cacheRead: m.read }, price, m.fast ? 'fast' : 'standard') : null;
            expect(r.cost_usd).toBe(want);
          }
        }),
        { numRuns: 25 },
      );
    } finally {
      await db.close();
    }
  }, 120_000);
});

describe('a version-1 database', () => {
  it('keeps the rows of a deleted transcript and prices them after the upgrade, reading nothing', async () => {
    // The usage schema as version 1 wrote it: cost_usd and pricing_model stored per row.
    const db = await openStore(sb.db);
    try {
      await db.run(`CREATE TABLE schema_version (component VARCHAR NOT NULL, version INTEGER NOT NULL, description VARCHAR,
        applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp, PRIMARY KEY (component, version))`);
      await db.run(`INSERT INTO schema_version (component, version, description) VALUES ('usage', 1, 'usage tables and views')`);
      await db.run(`CREATE TABLE usage_messages (session_file VARCHAR NOT NULL, message_key VARCHAR NOT NULL, owner VARCHAR, message_id VARCHAR,
        request_id VARCHAR, ts TIMESTAMP, model VARCHAR, speed VARCHAR, input_tokens BIGINT, output_tokens BIGINT, cache_creation_tokens BIGINT,
        cache_creation_5m_tokens BIGINT, cache_creation_1h_tokens BIGINT, cache_read_tokens BIGINT, total_tokens BIGINT, cost_usd DOUBLE,
        pricing_model VARCHAR, synthetic BOOLEAN, line_offset BIGINT, PRIMARY KEY (session_file, message_key))`);
      await db.run(`CREATE TABLE usage_files (session_file VARCHAR NOT NULL, owner VARCHAR, session_id VARCHAR, subagent BOOLEAN, first_ts TIMESTAMP,
        last_ts TIMESTAMP, cwd VARCHAR, git_branch VARCHAR, cc_version VARCHAR, lines BIGINT, PRIMARY KEY (session_file))`);
      await db.run(`CREATE VIEW usage_messages_dedup AS SELECT * FROM usage_messages`);
      // A deleted transcript's message: 150k input + 60k cache read is a long prompt; $0.99 was its stored (stale) cost.
      await db.run(`INSERT INTO usage_messages VALUES ('gone/old.jsonl', 'm:r', 'gone', 'm', 'r', '2025-05-01 10:00:00', 'claude-sonnet-4-20250514', NULL,
        150000, 1000, 0, 0, 0, 60000, 211000, 0.99, 'claude-sonnet-4-20250514', false, 0)`);
      await db.run(`INSERT INTO usage_files VALUES ('gone/old.jsonl', 'gone', 'old', false, '2025-05-01 10:00:00', '2025-05-01 10:00:00', NULL, NULL, NULL, 1)`);
    } finally {
      await db.close();
    }
    const s = await runOnceIn(sb, [createUsageProcessor()]);
    expect(s.processors.usage.bytes_read).toBe(0);
    const [row] = await query<{ long_context: boolean; cost_usd: number; pricing_model: string }>(
      sb.db,
      'SELECT long_context, cost_usd, pricing_model FROM usage_messages_priced',
    );
    expect(row.long_context).toBe(true);
    expect(row.pricing_model).toBe('claude-sonnet-4-20250514');
    expect(row.cost_usd).toBeCloseTo(150_000 * 6e-6 + 1000 * 22.5e-6 + 60_000 * 6e-7, 12);
    expect(await query(sb.db, `SELECT column_name FROM duckdb_columns() WHERE table_name = 'usage_messages' AND column_name IN ('cost_usd', 'pricing_model')`)).toEqual([]);
  });
});
