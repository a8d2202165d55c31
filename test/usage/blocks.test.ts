/**
 * The 5-hour block algorithm (pipelines/usage/blocks.ts), pure: ccusage's
 * rule on hand-made edges, then properties over random message times; and
 * the `blocks` report's series, filters and clock over a real database.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { activeBlockRanges, BLOCK_MS, hourBuckets, identifyBlocks, type BlockMessage } from '../../pipelines/usage/blocks.js';
import { blocksReportDef } from '../../pipelines/usage/blocks-report.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { resolveParams } from '../../src/pipeline/report.js';
import { openStore } from '../../src/state/open.js';
import { runOnceIn, sandbox } from '../helpers.js';
import { assistant } from './support.js';

const H = 3_600_000;
const T0 = Date.parse('2025-07-01T10:17:00Z');
const msg = (ts: number, o: Partial<BlockMessage> = {}): BlockMessage => ({
  ts,
  model: 'claude-sonnet-4',
  synthetic: false,
  input: 10,
  output: 20,
  cacheCreation: 30,
  cacheRead: 40,
  cost: 0.5,
  ...o,
});
const FAR_FUTURE = Date.parse('2100-01-01T00:00:00Z');

describe('identifyBlocks', () => {
  it('starts a block at the floored UTC hour of its first message and ends it 5 h later', () => {
    const [b] = identifyBlocks([msg(T0), msg(T0 + H)], FAR_FUTURE);
    expect(new Date(b.start).toISOString()).toBe('2025-07-01T10:00:00.000Z');
    expect(new Date(b.end).toISOString()).toBe('2025-07-01T15:00:00.000Z');
    expect(b).toMatchObject({ messages: 2, input: 20, output: 40, cacheCreation: 60, cacheRead: 80, cost: 1, lastActivity: T0 + H, active: false });
  });

  it('keeps a message exactly 5 h after the block start, and starts a new block 1 ms later (strictly more, as ccusage)', () => {
    const start = Date.parse('2025-07-01T10:00:00Z');
    expect(identifyBlocks([msg(start), msg(start + 4 * H), msg(start + BLOCK_MS)], FAR_FUTURE)).toHaveLength(1);
    const split = identifyBlocks([msg(start), msg(start + 4 * H), msg(start + BLOCK_MS + 1)], FAR_FUTURE);
    expect(split.map((b) => [new Date(b.start).toISOString(), b.messages])).toEqual([
      ['2025-07-01T10:00:00.000Z', 2],
      ['2025-07-01T15:00:00.000Z', 1],
    ]);
  });

  it('starts a new block after a gap of more than 5 h since the last message', () => {
    const start = Date.parse('2025-07-01T10:00:00Z');
    const blocks = identifyBlocks([msg(start), msg(start + BLOCK_MS + H)], FAR_FUTURE);
    expect(blocks.map((b) => new Date(b.start).toISOString())).toEqual(['2025-07-01T10:00:00.000Z', '2025-07-01T16:00:00.000Z']);
  });

  it('judges activity, burn rate and projection against the clock', () => {
    const now = T0 + 90 * 60_000; // 11:47, block 10:00-15:00
    const [b] = identifyBlocks([msg(T0), msg(T0 + 60 * 60_000, { input: 1000 })], now);
    expect(b.active).toBe(true);
    const tokens = 10 + 20 + 30 + 40 + 1000 + 20 + 30 + 40;
    expect(b.burnTokensPerMinute).toBeCloseTo(tokens / 60, 12);
    expect(b.burnCostPerHour).toBeCloseTo(1, 12);
    const remaining = (Date.parse('2025-07-01T15:00:00Z') - now) / 60_000;
    expect(b.projectedTokens).toBe(Math.round(tokens + (tokens / 60) * remaining));
    expect(b.projectedCost).toBeCloseTo(1 + remaining / 60, 12);
    // 5 h after the last message, or past the block end, it is over.
    expect(identifyBlocks([msg(T0)], Date.parse('2025-07-01T15:00:00Z'))[0].active).toBe(false);
    // One instant of activity: active, but no rate to extrapolate.
    expect(identifyBlocks([msg(T0)], now)[0]).toMatchObject({ active: true, burnTokensPerMinute: null, projectedCost: null });
  });

  it('never prices an unpriced model at $0, and leaves <synthetic> out of the models', () => {
    const [b] = identifyBlocks([msg(T0, { model: 'mystery', cost: null }), msg(T0 + 1, { model: '<synthetic>', synthetic: true, cost: 0 })], FAR_FUTURE);
    expect(b).toMatchObject({ cost: 0, models: ['mystery'], unpricedModels: ['mystery'], messages: 2 });
    const [only] = identifyBlocks([msg(T0, { model: 'mystery', cost: null })], FAR_FUTURE);
    expect(only.cost).toBeNull();
  });

  it('refuses unsorted input', () => {
    expect(() => identifyBlocks([msg(T0 + 1), msg(T0)], FAR_FUTURE)).toThrow(/sorted/);
  });
});

describe('identifyBlocks, properties', () => {
  // Gaps that land on and around the 5-hour edges as well as anywhere.
  const gap = fc.oneof(
    fc.integer({ min: 0, max: 3 * H }),
    fc.constantFrom(BLOCK_MS - 1, BLOCK_MS, BLOCK_MS + 1, H, 0),
    fc.integer({ min: 0, max: 40 * H }),
  );
  const series = fc
    .tuple(fc.integer({ min: Date.parse('2024-01-01'), max: Date.parse('2026-01-01') }), fc.array(gap, { minLength: 1, maxLength: 60 }))
    .map(([start, gaps]) => {
      let t = start;
      return gaps.map((g, i) => msg((t += g), { input: i + 1, cost: i % 7 === 3 ? null : 0.001 * (i + 1), model: `m${i % 3}` }));
    });

  it('puts every message in exactly one block, in order, under the rule', () => {
    fc.assert(
      fc.property(series, fc.integer({ min: 0, max: 12 * H }), (messages, after) => {
        // The clock after the last message (messages from the future could make two blocks "active").
        const now = messages[messages.length - 1].ts + after;
        const blocks = identifyBlocks(messages, now);
        expect(blocks.reduce((n, b) => n + b.messages, 0)).toBe(messages.length);
        expect(blocks.reduce((n, b) => n + b.input, 0)).toBe(messages.reduce((n, m) => n + m.input, 0));
        let i = 0;
        for (const [k, b] of blocks.entries()) {
          const mine = messages.slice(i, i + b.messages);
          i += b.messages;
          expect(b.start).toBe(Math.floor(mine[0].ts / H) * H);
          expect(b.end).toBe(b.start + BLOCK_MS);
          expect(b.lastActivity).toBe(mine[mine.length - 1].ts);
          for (let j = 1; j < mine.length; j++) {
            expect(mine[j].ts - b.start).toBeLessThanOrEqual(BLOCK_MS);
            expect(mine[j].ts - mine[j - 1].ts).toBeLessThanOrEqual(BLOCK_MS);
          }
          if (k > 0) {
            // The first message of a block broke the previous one's window or its gap.
            const prev = blocks[k - 1];
            expect(mine[0].ts - prev.start > BLOCK_MS || mine[0].ts - prev.lastActivity > BLOCK_MS).toBe(true);
            expect(b.start).toBeGreaterThanOrEqual(prev.start);
          }
          expect(b.active).toBe(now - b.lastActivity < BLOCK_MS && now < b.end);
          const priced = mine.filter((m) => m.cost !== null);
          if (priced.length === 0) expect(b.cost).toBeNull();
          else expect(b.cost).toBeCloseTo(priced.reduce((s, m) => s + m.cost!, 0), 12);
        }
        // At most one block can be active: a later one starts after the previous one's window.
        expect(blocks.filter((b) => b.active).length).toBeLessThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });
});

describe('report blocks', () => {
  it('is one series for the root, or one per owner; --owner, --active, --order and --now', async () => {
    const sb = sandbox('sp-blocks-report-');
    try {
      const u = { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
      // alice at 10:05 and 12:00, bob at 11:30 and 16:10 (past 15:00: a second block for bob, and for the root).
      sb.write('alice/a.jsonl', assistant({ id: 'a1', req: 'r', ts: '2025-07-01T10:05:00Z', usage: u }) + assistant({ id: 'a2', req: 'r', ts: '2025-07-01T12:00:00Z', usage: u }));
      sb.write('bob/b.jsonl', assistant({ id: 'b1', req: 'r', ts: '2025-07-01T11:30:00Z', usage: u }) + assistant({ id: 'b2', req: 'r', ts: '2025-07-01T16:10:00Z', usage: u }));
      await runOnceIn(sb, [createUsageProcessor()]);
      const db = await openStore(sb.db, { readOnly: true });
      try {
        const run = async (raw: Record<string, unknown>) => (await blocksReportDef.run(db, resolveParams(blocksReportDef, { tz: 'UTC', now: '2025-07-01T17:00:00Z', ...raw }))).result;
        const root = await run({});
        expect(root.rows.map((r) => [r.start, r.messages, r.active])).toEqual([
          ['2025-07-01T10:00:00.000Z', 3, false],
          ['2025-07-01T16:00:00.000Z', 1, true],
        ]);
        expect(root.rows[0]).not.toHaveProperty('owner');
        expect(root.totals).toMatchObject({ blocks: 2, messages: 4, input_tokens: 40 });
        const perOwner = await run({ 'by-owner': true });
        expect(perOwner.rows.map((r) => [r.owner, r.start, r.messages])).toEqual([
          ['alice', '2025-07-01T10:00:00.000Z', 2],
          ['bob', '2025-07-01T11:00:00.000Z', 1],
          ['bob', '2025-07-01T16:00:00.000Z', 1],
        ]);
        expect((await run({ owner: 'alice' })).rows.map((r) => r.messages)).toEqual([2]);
        expect((await run({ active: true })).rows.map((r) => r.start)).toEqual(['2025-07-01T16:00:00.000Z']);
        expect((await run({ order: 'desc' })).rows.map((r) => r.start)).toEqual(['2025-07-01T16:00:00.000Z', '2025-07-01T10:00:00.000Z']);
        expect((await run({ now: '2025-07-02T00:00:00Z', active: true })).rows).toEqual([]);
        await expect(run({ owner: 'alice', 'by-owner': true })).rejects.toThrow(/exclusive/);
        expect(blocksReportDef.table(root, { tz: 'UTC' })).toMatch(/2025-07-01 16:00 \(active\)/);
      } finally {
        await db.close();
      }
    } finally {
      sb.cleanup();
    }
  }, 60_000);
});

describe('activeBlockRanges (the active blocks from hour buckets)', () => {
  // Times on a coarse grid near hour boundaries and 5 h gaps, so the edges (a message exactly
  // at start + 5 h, exactly 5 h after the previous one, several at one instant) come up often.
  const times = fc
    .array(fc.oneof(fc.integer({ min: 0, max: 40 * 60 }).map((m) => m * 60_000), fc.integer({ min: 0, max: 40 }).map((h) => h * H), fc.integer({ min: 0, max: 40 * 3600 }).map((s) => s * 1000 + 1)), { minLength: 0, maxLength: 60 })
    .map((xs) => xs.map((x) => T0 - (T0 % H) + x).sort((a, b) => a - b));
  it('finds exactly the message ranges of the blocks identifyBlocks judges active', () => {
    fc.assert(
      fc.property(times, fc.integer({ min: -2 * 3600, max: 50 * 3600 }), (ts, nowS) => {
        const msgs = ts.map((t) => msg(t));
        const now = T0 - (T0 % H) + nowS * 1000;
        const blocks = identifyBlocks(msgs, now);
        const expected: { from: number; to: number | null }[] = [];
        let i = 0;
        blocks.forEach((b, k) => {
          const first = msgs[i].ts;
          i += b.messages;
          if (b.active) expected.push({ from: first, to: k + 1 < blocks.length ? msgs[i].ts : null });
        });
        const got = activeBlockRanges(hourBuckets(msgs), now);
        expect(got).toEqual(expected);
        // The range alone gives the same block: what the report computes from the rows it loads.
        for (const r of got) {
          const sub = msgs.filter((m) => m.ts >= r.from && (r.to === null || m.ts < r.to));
          expect(identifyBlocks(sub, now)).toEqual(blocks.filter((b) => b.active && b.start === Math.floor(r.from / H) * H));
        }
      }),
      { numRuns: 3000 },
    );
  });
});
