/**
 * The cross-file dedup kept as picks, folded off the commit path (pipelines/usage/picks.ts).
 * After any sequence of writes, appends, rewrites (retractions), deletions and folds, committed
 * by real runs on either store over files that share message keys and tool-use ids,
 * `usage_messages_dedup` and `usage_events_dedup` must show exactly the rows of the definition
 * they replaced: a window over every row (git 1bcfe82, written out here as it was, so the
 * test does not check the new code against itself).
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { copyCorpus, openPipeline, query, runOnceIn, sandboxOn, STORES, waitFor, type Sandbox } from '../helpers.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { USAGE_MIGRATIONS } from '../../pipelines/usage/migrations.js';
import { fold } from '../../pipelines/usage/picks.js';
import { migrate } from '../../src/state/migrations.js';
import { runOnce } from '../../src/pipeline/once.js';
import { openStore } from '../../src/state/open.js';
import type { StoreKind } from '../../src/state/dialect.js';

/** usage_messages_dedup as versions 1-6 defined it: a window over every message. */
const windowMessages = (kind: StoreKind) => {
  const select = `
  m.message_key,
  first_value(m.session_file) OVER first_seen AS session_file,
  first_value(m.owner) OVER first_seen AS owner,
  first_value(f.session_id) OVER first_seen AS session_id,
  first_value(m.ts) OVER first_seen AS ts,
  m.message_id, m.request_id, m.model, m.speed,
  m.input_tokens, m.output_tokens, m.cache_creation_tokens, m.cache_creation_5m_tokens,
  m.cache_creation_1h_tokens, m.cache_read_tokens, m.total_tokens,
  m.cost_usd, m.pricing_model, m.price_version, m.synthetic, m.long_context,
  count(*) OVER (PARTITION BY m.message_key) AS copies`;
  const from = `FROM usage_messages_priced m
LEFT JOIN usage_files f ON f.session_file = m.session_file
WINDOW first_seen AS (
  PARTITION BY m.message_key ORDER BY m.ts ASC NULLS LAST, m.session_file
  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)`;
  const rn = `row_number() OVER (PARTITION BY m.message_key ORDER BY m.total_tokens DESC, m.ts ASC NULLS LAST, m.session_file)`;
  const cols = `message_key, session_file, owner, session_id, ts, message_id, request_id, model, speed,
    input_tokens, output_tokens, cache_creation_tokens, cache_creation_5m_tokens, cache_creation_1h_tokens,
    cache_read_tokens, total_tokens, cost_usd, pricing_model, price_version, synthetic, long_context, copies`;
  return kind === 'postgres'
    ? `SELECT ${cols} FROM (SELECT ${select}, ${rn} AS pick ${from}) d WHERE pick = 1`
    : `SELECT ${select} ${from} QUALIFY ${rn} = 1`;
};

/** usage_events_dedup as versions 1-6 defined it. */
const windowEvents = (kind: StoreKind) => {
  const select = `e.event_id, e.session_file, e.owner, f.session_id, e.ts, e.kind, e.name, e.tool, e.mcp_server, e.mcp_tool,
  CASE WHEN e.kind = 'command' THEN NULL ELSE r.is_error END AS is_error`;
  const from = `FROM usage_events e
LEFT JOIN usage_files f ON f.session_file = e.session_file
LEFT JOIN (SELECT tool_use_id, bool_or(is_error) AS is_error FROM usage_tool_results GROUP BY tool_use_id) r
  ON r.tool_use_id = e.event_id`;
  const rn = 'row_number() OVER (PARTITION BY e.event_id ORDER BY e.ts ASC NULLS LAST, e.session_file)';
  const cols = 'event_id, session_file, owner, session_id, ts, kind, name, tool, mcp_server, mcp_tool, is_error';
  return kind === 'postgres'
    ? `SELECT ${cols} FROM (SELECT ${select}, ${rn} AS pick ${from}) d WHERE pick = 1`
    : `SELECT ${select} ${from} QUALIFY ${rn} = 1`;
};

const FILES = ['alice/a.jsonl', 'bob/b.jsonl', 'alice/agent-x.jsonl'] as const;
const KEYS = ['m0', 'm1', 'm2', 'm3'] as const;
const TOOLS = ['toolu_0', 'toolu_1', 'toolu_2'] as const;
const TIMES = [null, '2025-07-01T10:00:00.000Z', '2025-07-01T11:00:00.000Z'] as const;

const message = fc.record({
  key: fc.constantFrom(...KEYS),
  output: fc.integer({ min: 1, max: 3 }),
  ts: fc.constantFrom(...TIMES),
  sid: fc.boolean(),
  // A tool call in the message, and maybe a result (in this file) of any tool id, an error or not.
  use: fc.option(fc.constantFrom(...TOOLS), { nil: undefined }),
  result: fc.option(fc.record({ id: fc.constantFrom(...TOOLS), error: fc.boolean() }), { nil: undefined }),
});
type Message = typeof message extends fc.Arbitrary<infer T> ? T : never;
const step = fc.oneof(
  fc.record({ op: fc.constant('write' as const), file: fc.constantFrom(...FILES), messages: fc.array(message, { minLength: 0, maxLength: 4 }) }),
  fc.record({ op: fc.constant('append' as const), file: fc.constantFrom(...FILES), messages: fc.array(message, { minLength: 1, maxLength: 3 }) }),
  fc.record({ op: fc.constant('delete' as const), file: fc.constantFrom(...FILES) }),
  // A fold of the noted keys, or a full recompute (what a fold of many keys does).
  fc.record({ op: fc.constant('fold' as const), rebuild: fc.boolean() }),
);

const lineOf = (m: Message) => {
  const ts = m.ts ? { timestamp: m.ts } : {};
  const sid = m.sid ? { sessionId: 'parent-1' } : {};
  let out =
    JSON.stringify({
      type: 'assistant',
      ...ts,
      ...sid,
      requestId: `req_${m.key}`,
      message: {
        id: m.key,
        role: 'assistant',
        model: 'claude-sonnet-4-20250514',
        content: m.use ? [{ type: 'tool_use', id: m.use, name: 'Bash', input: {} }] : [],
        usage: { input_tokens: 10, output_tokens: m.output },
      },
    }) + '\n';
  if (m.result) {
    out += JSON.stringify({ type: 'user', ...ts, message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: m.result.id, is_error: m.result.error }] } }) + '\n';
  }
  return out;
};

describe.each(STORES)('cross-file picks on %s', (store) => {
  let sb: Sandbox;
  beforeEach(async () => {
    sb = await sandboxOn(store, 'sp-picks-');
  });
  afterEach(() => sb.cleanup());

  const kind: StoreKind = store;
  const views = async () => ({
    messages: await query(sb.db, 'SELECT * FROM usage_messages_dedup ORDER BY message_key'),
    events: await query(sb.db, 'SELECT * FROM usage_events_dedup ORDER BY event_id'),
  });
  const windows = async () => ({
    messages: await query(sb.db, `SELECT * FROM (${windowMessages(kind)}) w ORDER BY message_key`),
    events: await query(sb.db, `SELECT * FROM (${windowEvents(kind)}) w ORDER BY event_id`),
  });
  const folded = async (rebuild = false) => {
    const db = await openStore(sb.db);
    try {
      return await fold(db, rebuild ? 0 : Number.POSITIVE_INFINITY);
    } finally {
      await db.close();
    }
  };
  // Commits without the fold run --once ends with: the views between folds.
  const usageUnfolded = () => ({ ...createUsageProcessor(), upkeep: undefined });
  const count = async (table: string) => (await query<{ n: number }>(sb.db, `SELECT count(*) AS n FROM ${table}`))[0].n;

  it('equal the window over every row after random commits, retractions and folds across files', async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (steps) => {
        // Each property run starts from an empty root, on the same store: retractions clear it.
        for (const f of FILES) fs.rmSync(sb.file(f), { force: true });
        await runOnceIn(sb, [usageUnfolded()]);
        round++;
        for (const s of steps) {
          if (s.op === 'fold') {
            await folded(s.rebuild);
            expect(await count('usage_dirty_keys')).toBe(0);
          } else {
            if (s.op === 'delete') fs.rmSync(sb.file(s.file), { force: true });
            else if (s.op === 'write') sb.write(s.file, s.messages.map(lineOf).join('') + `{"type":"user","round":${round}}\n`);
            else sb.append(s.file, s.messages.map(lineOf).join(''));
            await runOnceIn(sb, [usageUnfolded()]);
          }
          expect(await views()).toEqual(await windows());
        }
        // Folded, the views read the picks alone: one per message and per event.
        await folded();
        const v = await views();
        expect(v).toEqual(await windows());
        expect(await count('usage_message_picks')).toBe(v.messages.length);
        expect(await count('usage_event_picks')).toBe(v.events.length);
      }),
      {
        numRuns: store === 'duckdb' ? 25 : 12,
        examples: [
          // Folded, then the flat subagent file learns its parent session: its folded pick names the old one.
          [
            [
              { op: 'write', file: 'alice/agent-x.jsonl', messages: [{ key: 'm0', output: 1, ts: TIMES[1], sid: false, use: 'toolu_0', result: undefined }] },
              { op: 'fold', rebuild: false },
              { op: 'append', file: 'alice/agent-x.jsonl', messages: [{ key: 'm1', output: 1, ts: TIMES[2], sid: true, use: undefined, result: undefined }] },
            ],
          ],
          // A folded event's error arrives later, in another file; then that file goes.
          [
            [
              { op: 'write', file: 'alice/a.jsonl', messages: [{ key: 'm0', output: 1, ts: TIMES[1], sid: false, use: 'toolu_1', result: undefined }] },
              { op: 'fold', rebuild: false },
              { op: 'write', file: 'bob/b.jsonl', messages: [{ key: 'm2', output: 1, ts: TIMES[2], sid: false, use: undefined, result: { id: 'toolu_1', error: true } }] },
              { op: 'fold', rebuild: false },
              { op: 'delete', file: 'bob/b.jsonl' },
            ],
          ],
        ],
      },
    );
  }, 400_000);

  it('the daemon folds the keys commits noted once commits pause', async () => {
    sb.write('alice/a.jsonl', lineOf({ key: 'm0', output: 2, ts: TIMES[1], sid: false, use: 'toolu_0', result: { id: 'toolu_0', error: true } }));
    // Idle after 1 s instead of 2 s.
    const usage = { ...createUsageProcessor(), upkeep: { idleMs: 1000, maxWaitMs: 60_000, run: (db: Parameters<typeof fold>[0]) => fold(db).then(() => undefined) } };
    const p = await openPipeline(sb, [usage]);
    try {
      const dirty = async () => Number((await p.db.all<{ n: bigint | number }>('SELECT count(*) AS n FROM usage_dirty_keys'))[0].n);
      p.startUpkeep(50);
      // Commits as the daemon makes them (run --once's closing fold left out).
      const once = p.upkeep.bind(p);
      p.upkeep = async () => undefined;
      await runOnce(p);
      p.upkeep = once;
      expect(await dirty()).toBeGreaterThan(0);
      await waitFor(async () => (await dirty()) === 0, 10_000);
      const picks = await p.db.all<{ n: bigint | number }>('SELECT count(*) AS n FROM usage_message_picks');
      expect(Number(picks[0].n)).toBe(1);
    } finally {
      await p.close();
    }
    expect(await views()).toEqual(await windows());
  }, 60_000);

  it('an existing database upgrades in place: the dedup views show the same rows after migration 7', async () => {
    copyCorpus(sb);
    // A copy of a session under another owner: every one of its messages and events is in two files.
    fs.cpSync(sb.file('sniffly'), sb.file('sniffly-copy'), { recursive: true });
    await runOnceIn(sb, [createUsageProcessor()]);
    // run --once ends with a fold: nothing is left noted.
    expect(await count('usage_dirty_keys')).toBe(0);
    // Back to version 6 (the reverted picks' versions included): the window views, no new tables.
    const db = await openStore(sb.db);
    try {
      await db.transaction(async () => {
        for (const v of ['usage_sessions', 'usage_by_session', 'usage_by_model', 'usage_by_owner', 'usage_monthly', 'usage_weekly', 'usage_daily']) await db.run(`DROP VIEW ${v}`);
        await db.run('DROP VIEW usage_events_dedup');
        await db.run('DROP VIEW usage_messages_dedup');
        await db.run(`CREATE VIEW usage_messages_dedup AS ${windowMessages(kind)}`);
        await db.run(`CREATE VIEW usage_events_dedup AS ${windowEvents(kind)}`);
        for (const t of ['usage_message_picks', 'usage_event_picks', 'usage_dirty_keys']) await db.run(`DROP TABLE ${t}`);
        await db.run(`DELETE FROM schema_version WHERE component = 'usage' AND version = 7`);
      });
    } finally {
      await db.close();
    }
    const before = await views();
    expect(before.messages.length).toBeGreaterThan(100);
    expect(before.messages.some((r) => Number(r.copies) === 2)).toBe(true);
    expect(before.events.length).toBeGreaterThan(50);
    const again = await openStore(sb.db);
    try {
      expect(await migrate(again, 'usage', USAGE_MIGRATIONS)).toEqual([7]);
    } finally {
      await again.close();
    }
    expect(await count('usage_dirty_keys')).toBe(0);
    expect(await count('usage_message_picks')).toBe(before.messages.length);
    expect(await views()).toEqual(before);
  }, 120_000);
});
