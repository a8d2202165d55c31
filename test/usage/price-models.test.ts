/**
 * usage_price_models is staged with the batches that meet a model until one of them commits
 * (ProcessorTx.afterCommit), then no more: a live commit loads one table fewer. A batch whose
 * commit failed leaves the model to be staged again.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sandbox, type Sandbox } from '../helpers.js';
import { openStore } from '../../src/state/open.js';
import { migrate } from '../../src/state/migrations.js';
import { Committer } from '../../src/pipeline/commit.js';
import { UnitOfWork } from '../../src/pipeline/unit.js';
import type { Db } from '../../src/state/db.js';
import type { Batch } from '../../src/pipeline/processor.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { USAGE_MIGRATIONS } from '../../pipelines/usage/migrations.js';
import { TABLES } from '../../pipelines/usage/tables.js';

let sb: Sandbox;
let db: Db;
beforeEach(async () => {
  sb = sandbox('sp-price-models-');
  db = await openStore(sb.db);
  await migrate(db, 'usage', USAGE_MIGRATIONS);
});
afterEach(async () => {
  await db.close();
  sb.cleanup();
});

const tables = new Map(TABLES.map((t) => [t.name, t]));
let n = 0;
function batch(model: string): Batch<never> {
  n++;
  const value = {
    type: 'assistant',
    timestamp: '2026-11-30T10:00:00Z',
    requestId: `req_${n}`,
    message: { id: `msg_${n}`, model, role: 'assistant', usage: { input_tokens: 10, output_tokens: 5 } },
  };
  return {
    file: { sessionFile: 'alice/s.jsonl', owner: 'alice', sessionId: 's', kind: 'session' },
    lines: [{ offset: 0, length: 100, line: n, value }],
    bad: [],
    fromOffset: 0,
    toOffset: 100,
    carry: undefined,
  } as unknown as Batch<never>;
}

async function staged(p: ReturnType<typeof createUsageProcessor>, model: string): Promise<{ unit: UnitOfWork; priceRows: number }> {
  const unit = new UnitOfWork('usage', 'alice/s.jsonl', tables);
  await p.process(batch(model), unit);
  return { unit, priceRows: unit.rows.get('usage_price_models')?.length ?? 0 };
}

describe('usage_price_models staging', () => {
  it('stops once a batch meeting the model commits, and not before', async () => {
    const p = createUsageProcessor();
    await p.init!({ db, root: sb.root });
    const committer = new Committer(db, TABLES, { maxRows: 1000, maxUnits: 100, maxDelayMs: 1 });

    const first = await staged(p, 'claude-sonnet-4-5-20250929');
    expect(first.priceRows).toBe(1);
    // `first` never commits (as a failed or rolled-back group): the next batch stages it again.
    const second = await staged(p, 'claude-sonnet-4-5-20250929');
    expect(second.priceRows).toBe(1);
    await (await committer.enqueue(second.unit)).committed;
    const third = await staged(p, 'claude-sonnet-4-5-20250929');
    expect(third.priceRows).toBe(0);
    // Another model is staged as before.
    expect((await staged(p, 'claude-opus-4-1-20250805')).priceRows).toBe(1);

    const rows = await db.all<{ model: string; entry: string | null }>('SELECT model, entry FROM usage_price_models ORDER BY model');
    expect(rows.map((r) => r.model)).toEqual(['claude-sonnet-4-5-20250929']);
    expect(rows[0].entry).not.toBeNull();

    // A processor started later knows the stored mapping from the database.
    const later = createUsageProcessor();
    await later.init!({ db, root: sb.root });
    expect((await staged(later, 'claude-sonnet-4-5-20250929')).priceRows).toBe(0);
  });
});
