/**
 * The cross-file picks (pipelines/usage/picks.ts) are kept by each commit for the keys it
 * touched. After any sequence of writes, appends, rewrites (retractions) and deletions across
 * files sharing message keys, committed by real runs on either store, the table must equal the
 * rule computed from scratch, here in TypeScript from `usage_messages`: the copy with the largest
 * total (then the earliest ts, NULLs last, then the file name), attributed to the first-seen copy
 * (earliest ts, NULLs last, then the file name) and its file's session. A flat 2.0 subagent file
 * (`agent-*.jsonl`) takes its session id from a line, so it can change after messages are stored.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { copyCorpus, query, runOnceIn, sandboxOn, STORES, type Sandbox } from '../helpers.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { USAGE_MIGRATIONS } from '../../pipelines/usage/migrations.js';
import { migrate } from '../../src/state/migrations.js';
import { openStore } from '../../src/state/open.js';
import { firstRowsSql, type StoreKind } from '../../src/state/dialect.js';

/** usage_messages_dedup as version 4 defined it: a window over every message (git 1bcfe82). */
const v4DedupView = (kind: StoreKind) => `CREATE VIEW usage_messages_dedup AS
${firstRowsSql(kind, {
  columns: [
    'message_key', 'session_file', 'owner', 'session_id', 'ts', 'message_id', 'request_id', 'model', 'speed',
    'input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_creation_5m_tokens', 'cache_creation_1h_tokens',
    'cache_read_tokens', 'total_tokens', 'cost_usd', 'pricing_model', 'price_version', 'synthetic', 'long_context', 'copies',
  ],
  select: `
  m.message_key,
  first_value(m.session_file) OVER first_seen AS session_file,
  first_value(m.owner) OVER first_seen AS owner,
  first_value(f.session_id) OVER first_seen AS session_id,
  first_value(m.ts) OVER first_seen AS ts,
  m.message_id, m.request_id, m.model, m.speed,
  m.input_tokens, m.output_tokens, m.cache_creation_tokens, m.cache_creation_5m_tokens,
  m.cache_creation_1h_tokens, m.cache_read_tokens, m.total_tokens,
  m.cost_usd, m.pricing_model, m.price_version, m.synthetic, m.long_context,
  count(*) OVER (PARTITION BY m.message_key) AS copies`,
  from: `FROM usage_messages_priced m
LEFT JOIN usage_files f ON f.session_file = m.session_file
WINDOW first_seen AS (
  PARTITION BY m.message_key ORDER BY m.ts ASC NULLS LAST, m.session_file
  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)`,
  rowNumber: `row_number() OVER (
  PARTITION BY m.message_key ORDER BY m.total_tokens DESC, m.ts ASC NULLS LAST, m.session_file)`,
})}`;

interface Row {
  message_key: string;
  session_file: string;
  owner: string;
  ts: string | null;
  total_tokens: number;
  output_tokens: number;
  /** The file's, from usage_files. */
  session_id: string | null;
}

interface Pick {
  message_key: string;
  session_file: string;
  first_file: string;
  first_owner: string;
  first_ts: string | null;
  first_session_id: string | null;
  copies: number;
  total_tokens: number;
  output_tokens: number;
}

/** Earliest ts first, NULLs last, then the file name (byte order: ASCII names here). */
const byTsThenFile = (a: Row, b: Row) => {
  if (a.ts !== b.ts) {
    if (a.ts === null) return 1;
    if (b.ts === null) return -1;
    return a.ts < b.ts ? -1 : 1;
  }
  return a.session_file < b.session_file ? -1 : a.session_file > b.session_file ? 1 : 0;
};

/** The rule, from scratch. */
export function expectedPicks(rows: readonly Row[]): Pick[] {
  const byKey = new Map<string, Row[]>();
  for (const r of rows) {
    let list = byKey.get(r.message_key);
    if (!list) byKey.set(r.message_key, (list = []));
    list.push(r);
  }
  const out: Pick[] = [];
  for (const [key, copies] of byKey) {
    const winner = [...copies].sort((a, b) => b.total_tokens - a.total_tokens || byTsThenFile(a, b))[0];
    const first = [...copies].sort(byTsThenFile)[0];
    out.push({
      message_key: key,
      session_file: winner.session_file,
      first_file: first.session_file,
      first_owner: first.owner,
      first_ts: first.ts,
      first_session_id: first.session_id,
      copies: copies.length,
      total_tokens: winner.total_tokens,
      output_tokens: winner.output_tokens,
    });
  }
  return out.sort((a, b) => (a.message_key < b.message_key ? -1 : 1));
}

const tsText = (v: unknown) => (v === null ? null : new Date(v as string).toISOString());

const FILES = ['alice/a.jsonl', 'bob/b.jsonl', 'alice/agent-x.jsonl'] as const;
const KEYS = ['m0', 'm1', 'm2', 'm3'] as const;
const TIMES = [null, '2025-07-01T10:00:00.000Z', '2025-07-01T11:00:00.000Z'] as const;

const message = fc.record({ key: fc.constantFrom(...KEYS), output: fc.integer({ min: 1, max: 3 }), ts: fc.constantFrom(...TIMES), sid: fc.boolean() });
const step = fc.oneof(
  fc.record({ op: fc.constant('write' as const), file: fc.constantFrom(...FILES), messages: fc.array(message, { minLength: 0, maxLength: 4 }) }),
  fc.record({ op: fc.constant('append' as const), file: fc.constantFrom(...FILES), messages: fc.array(message, { minLength: 1, maxLength: 3 }) }),
  fc.record({ op: fc.constant('delete' as const), file: fc.constantFrom(...FILES) }),
);

const lineOf = (m: { key: string; output: number; ts: string | null; sid: boolean }) =>
  JSON.stringify({
    type: 'assistant',
    ...(m.ts ? { timestamp: m.ts } : {}),
    ...(m.sid ? { sessionId: 'parent-1' } : {}),
    requestId: `req_${m.key}`,
    message: { id: m.key, role: 'assistant', model: 'claude-sonnet-4-20250514', content: [], usage: { input_tokens: 10, output_tokens: m.output } },
  }) + '\n';

describe.each(STORES)('cross-file picks on %s', (store) => {
  let sb: Sandbox;
  beforeEach(async () => {
    sb = await sandboxOn(store, 'sp-picks-');
  });
  afterEach(() => sb.cleanup());

  const picksNow = async () =>
    (
      await query<Pick>(
        sb.db,
        `SELECT message_key, session_file, first_file, first_owner, first_ts, first_session_id, copies, total_tokens, output_tokens
         FROM usage_message_picks ORDER BY message_key`,
      )
    ).map((p) => ({ ...p, first_ts: tsText(p.first_ts) }));
  const fromScratch = async () =>
    expectedPicks(
      (
        await query<Row>(
          sb.db,
          `SELECT m.message_key, m.session_file, m.owner, m.ts, m.total_tokens, m.output_tokens, f.session_id
           FROM usage_messages m LEFT JOIN usage_files f ON f.session_file = m.session_file`,
        )
      ).map((r) => ({ ...r, ts: tsText(r.ts) })),
    );

  it('an existing database upgrades in place: the dedup view shows the same rows after the migration', async () => {
    copyCorpus(sb);
    // A copy of a session under another owner: every one of its messages is in two files.
    fs.cpSync(sb.file('sniffly'), sb.file('sniffly-copy'), { recursive: true });
    await runOnceIn(sb, [createUsageProcessor()]);
    const rows = () => query(sb.db, 'SELECT * FROM usage_messages_dedup ORDER BY message_key');
    const kind: StoreKind = store;
    // Back to version 4: its view, no picks.
    const db = await openStore(sb.db);
    try {
      await db.transaction(async () => {
        for (const v of ['usage_sessions', 'usage_by_session', 'usage_by_model', 'usage_by_owner', 'usage_monthly', 'usage_weekly', 'usage_daily']) await db.run(`DROP VIEW ${v}`);
        await db.run('DROP VIEW usage_messages_dedup');
        await db.run(v4DedupView(kind));
        await db.run('DROP TABLE usage_message_picks');
        await db.run('DROP TABLE usage_message_touched');
        await db.run('DROP INDEX usage_messages_by_key');
        await db.run(`DELETE FROM schema_version WHERE component = 'usage' AND version IN (5, 6)`);
      });
    } finally {
      await db.close();
    }
    const before = await rows();
    expect(before.length).toBeGreaterThan(100);
    expect(before.some((r) => Number(r.copies) === 2)).toBe(true);
    const again = await openStore(sb.db);
    try {
      expect(await migrate(again, 'usage', USAGE_MIGRATIONS)).toEqual([5, 6]);
    } finally {
      await again.close();
    }
    expect(await rows()).toEqual(before);
  }, 120_000);

  it('equal the rule recomputed from scratch after random commits and retractions across files', async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 5 }), async (steps) => {
        // Each property run starts from an empty root, on the same store: retractions clear it.
        for (const f of FILES) fs.rmSync(sb.file(f), { force: true });
        await runOnceIn(sb, [createUsageProcessor()]);
        round++;
        for (const s of steps) {
          if (s.op === 'delete') fs.rmSync(sb.file(s.file), { force: true });
          else if (s.op === 'write') sb.write(s.file, s.messages.map(lineOf).join('') + `{"type":"user","round":${round}}\n`);
          else sb.append(s.file, s.messages.map(lineOf).join(''));
          await runOnceIn(sb, [createUsageProcessor()]);
          expect(await picksNow()).toEqual(await fromScratch());
        }
        // And the view shows one row per message, from the pick.
        const dedup = await query<{ n: number }>(sb.db, 'SELECT count(*) AS n FROM usage_messages_dedup');
        expect(dedup[0].n).toBe((await picksNow()).length);
      }),
      {
        numRuns: store === 'duckdb' ? 25 : 15,
        examples: [
          // The flat subagent file learns its parent session after its first message is stored.
          [
            [
              { op: 'write', file: 'alice/agent-x.jsonl', messages: [{ key: 'm0', output: 1, ts: TIMES[1], sid: false }] },
              { op: 'append', file: 'alice/agent-x.jsonl', messages: [{ key: 'm1', output: 1, ts: TIMES[2], sid: true }] },
            ],
          ],
        ],
      },
    );
  }, 240_000);
});
