/**
 * The cross-file dedup kept as picks, folded off the commit path (pipelines/usage/picks.ts), and
 * the rollup of their sums (pipelines/usage/rollup.ts).
 * After any sequence of writes, appends, rewrites (retractions), deletions and folds, committed
 * by real runs on either store over files that share message keys and tool-use ids,
 * `usage_messages_dedup` and `usage_events_dedup` must show exactly the rows of the definition
 * they replaced: a window over every row (git 1bcfe82, written out here as it was, so the
 * test does not check the new code against itself). And after each step, every grouped usage
 * report read from the rollup must equal the same report summed per message, and usage_sessions
 * (and the dashboard's session list) must equal the sessions summed here, in JS, from
 * usage_messages_dedup's rows.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { copyCorpus, openPipeline, query, runOnceIn, sandboxOn, STORES, waitFor, type Sandbox } from '../helpers.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { USAGE_MIGRATIONS } from '../../pipelines/usage/migrations.js';
import { fold } from '../../pipelines/usage/fold.js';
import { migrate } from '../../src/state/migrations.js';
import { runOnce } from '../../src/pipeline/once.js';
import { openStore } from '../../src/state/open.js';
import type { StoreKind } from '../../src/state/dialect.js';
import { USAGE_GROUPS, usageBreakdownQuery, usageQuery, type ReportFilter } from '../../pipelines/usage/views.js';
import { sessionList } from '../../pipelines/usage/sessions.js';
import { settledSources, sourcesOf } from '../../pipelines/usage/sources.js';
import { SYNTHETIC_MODEL } from '../../pipelines/usage/extract.js';
import { micro } from '../../src/state/row-values.js';

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
// Two in one 15-minute bucket; one past midnight in Asia/Kolkata (+05:30).
const TIMES = [null, '2025-07-01T10:00:00.000Z', '2025-07-01T10:07:00.000Z', '2025-07-01T11:00:00.000Z', '2025-07-01T19:20:00.000Z'] as const;
// Priced, priced, unpriced, synthetic (costs 0, listed nowhere).
const MODELS = ['claude-sonnet-4-20250514', 'claude-opus-4-1-20250805', 'not-a-model-x', SYNTHETIC_MODEL] as const;

const message = fc.record({
  key: fc.constantFrom(...KEYS),
  model: fc.constantFrom(...MODELS),
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
        model: m.model,
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
  // No filter: the owner rollup (owner, model) and the time one (day, week, month); an owner and
  // a range: the per-session one; a range and a model: the time one.
  const FILTERS: ReportFilter[] = [
    { tz: 'UTC' },
    { tz: 'Asia/Kolkata', since: '2025-07-01', owner: 'alice', model: MODELS[0] },
    { tz: 'America/New_York', until: '2025-07-01', model: MODELS[2] },
  ];
  /**
   * The rollup's reports equal the per-message ones; usage_sessions and the session list equal
   * the sessions summed in JS. `step`: after a step, two groups under one filter (each query
   * plans in 20-50 ms on DuckDB; every group and filter cost the property 3x its time); without,
   * every group under every filter.
   */
  const rollupAgrees = async (step?: number) => {
    const db = await openStore(sb.db, { readOnly: true });
    try {
      const settled = (await sourcesOf(db)).settled;
      const groups = step === undefined ? USAGE_GROUPS : [USAGE_GROUPS[step % 6], USAGE_GROUPS[(step + 3) % 6]];
      for (const f of step === undefined ? FILTERS : [FILTERS[step % FILTERS.length]]) {
        for (const by of groups) {
          for (const q of [usageQuery, usageBreakdownQuery]) {
            const [a, b] = [q(by, f, kind, true), q(by, f, kind, false)];
            const want = await db.all(b.sql, b.params);
            expect(await db.all(a.sql, a.params), `${q.name} --by ${by} ${JSON.stringify(f)}`).toEqual(want);
            // With no key noted, the folded tables (sources.ts) give the same rows, both ways.
            if (settled) {
              for (const c of [q(by, f, kind, true, settledSources), q(by, f, kind, false, settledSources)]) {
                expect(await db.all(c.sql, c.params), `${q.name} --by ${by} ${JSON.stringify(f)} from the tables`).toEqual(want);
              }
            }
          }
        }
      }
      // Sessions from the dedup view's rows, in JS.
      const want = new Map<string, { messages: number; output: number; cost: number | null; models: Set<string>; unpriced: Set<string> }>();
      for (const m of await db.all<Record<string, unknown>>('SELECT owner, session_id, model, synthetic, output_tokens, cost_usd FROM usage_messages_dedup')) {
        const key = `${m.owner}/${m.session_id}.jsonl`;
        const s = want.get(key) ?? { messages: 0, output: 0, cost: null, models: new Set(), unpriced: new Set() };
        want.set(key, s);
        s.messages++;
        s.output += Number(m.output_tokens);
        if (m.cost_usd !== null) s.cost = (s.cost ?? 0) + Number(m.cost_usd);
        else s.unpriced.add(String(m.model ?? '(unknown)'));
        if (!m.synthetic && m.model !== null) s.models.add(String(m.model));
      }
      const got = await db.all<Record<string, unknown>>('SELECT * FROM usage_sessions ORDER BY session');
      for (const r of got) {
        const w = want.get(String(r.session)) ?? { messages: 0, output: 0, cost: 0, models: new Set(), unpriced: new Set() };
        expect({ messages: Number(r.messages), output: Number(r.output_tokens), cost: micro(r.cost_usd), models: r.models, unpriced: r.unpriced_models }, String(r.session)).toEqual({
          messages: w.messages,
          output: w.output,
          cost: w.messages === 0 ? 0 : micro(w.cost),
          models: [...w.models].sort(),
          unpriced: [...w.unpriced].sort(),
        });
      }
      const sessionsWithMessages = got.filter((r) => Number(r.messages) > 0).length;
      expect(sessionsWithMessages).toBe([...want.keys()].filter((k) => got.some((r) => r.session === k)).length);
      // The dashboard's list: the view's rows, its lists built for the page alone.
      const list = await sessionList(db, { tz: 'UTC', sort: 'cost_usd', desc: true, limit: 1000, offset: 0 });
      const view = await db.all<Record<string, unknown>>('SELECT session, models, messages, cost_usd FROM usage_sessions ORDER BY cost_usd DESC NULLS LAST, session');
      expect(list.rows.map((r) => [r.session, r.models, r.messages, r.cost_usd])).toEqual(view.map((r) => [r.session, r.models, Number(r.messages), micro(r.cost_usd)]));
      const withModel = await sessionList(db, { tz: 'UTC', model: MODELS[1], sort: 'session', desc: false, limit: 1000, offset: 0 });
      expect(withModel.rows.map((r) => r.session)).toEqual(view.filter((r) => (r.models as string[]).includes(MODELS[1])).map((r) => r.session).sort());
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
        for (const [i, s] of steps.entries()) {
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
          await rollupAgrees(round + i);
        }
        // Folded, the views read the picks alone: one per message and per event.
        await folded();
        const v = await views();
        expect(v).toEqual(await windows());
        await rollupAgrees();
        expect(await count('usage_message_picks')).toBe(v.messages.length);
        expect(await count('usage_event_picks')).toBe(v.events.length);
      }),
      {
        numRuns: store === 'duckdb' ? 25 : 12,
        examples: [
          // Folded, then the flat subagent file learns its parent session: its folded pick names the old one.
          [
            [
              { op: 'write', file: 'alice/agent-x.jsonl', messages: [{ key: 'm0', model: MODELS[0], output: 1, ts: TIMES[1], sid: false, use: 'toolu_0', result: undefined }] },
              { op: 'fold', rebuild: false },
              { op: 'append', file: 'alice/agent-x.jsonl', messages: [{ key: 'm1', model: MODELS[2], output: 1, ts: TIMES[3], sid: true, use: undefined, result: undefined }] },
            ],
          ],
          // A folded event's error arrives later, in another file; then that file goes.
          [
            [
              { op: 'write', file: 'alice/a.jsonl', messages: [{ key: 'm0', model: MODELS[0], output: 1, ts: TIMES[1], sid: false, use: 'toolu_1', result: undefined }] },
              { op: 'fold', rebuild: false },
              { op: 'write', file: 'bob/b.jsonl', messages: [{ key: 'm2', model: MODELS[3], output: 1, ts: TIMES[4], sid: false, use: undefined, result: { id: 'toolu_1', error: true } }] },
              { op: 'fold', rebuild: false },
              { op: 'delete', file: 'bob/b.jsonl' },
            ],
          ],
        ],
      },
    );
  }, 400_000);

  it('the daemon folds the keys commits noted once commits pause', async () => {
    sb.write('alice/a.jsonl', lineOf({ key: 'm0', model: MODELS[0], output: 2, ts: TIMES[1], sid: false, use: 'toolu_0', result: { id: 'toolu_0', error: true } }));
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

  it('an existing database upgrades in place: the dedup views show the same rows after migrations 7 and 8', async () => {
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
        for (const v of ['usage_sessions', 'usage_by_session', 'usage_by_model', 'usage_by_owner', 'usage_monthly', 'usage_weekly', 'usage_daily', 'usage_rollup_current', 'usage_rollup_time_current', 'usage_rollup_owner_current', 'usage_rollup_session_current']) await db.run(`DROP VIEW ${v}`);
        await db.run('DROP VIEW usage_events_dedup');
        await db.run('DROP VIEW usage_messages_dedup');
        await db.run(`CREATE VIEW usage_messages_dedup AS ${windowMessages(kind)}`);
        await db.run(`CREATE VIEW usage_events_dedup AS ${windowEvents(kind)}`);
        for (const t of ['usage_message_picks', 'usage_event_picks', 'usage_dirty_keys', 'usage_rollup', 'usage_rollup_delta', 'usage_rollup_time', 'usage_rollup_time_delta', 'usage_rollup_owner', 'usage_rollup_owner_delta', 'usage_rollup_session', 'usage_rollup_session_delta']) await db.run(`DROP TABLE ${t}`);
        await db.run(`DELETE FROM schema_version WHERE component = 'usage' AND version >= 7`);
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
      expect(await migrate(again, 'usage', USAGE_MIGRATIONS)).toEqual([7, 8]);
    } finally {
      await again.close();
    }
    expect(await count('usage_dirty_keys')).toBe(0);
    expect(await count('usage_message_picks')).toBe(before.messages.length);
    expect(await views()).toEqual(before);
    // Migration 8 summed the picks into the rollup.
    const again2 = await openStore(sb.db);
    try {
      for (const t of ['usage_rollup', 'usage_rollup_time', 'usage_rollup_owner', 'usage_rollup_session']) {
        const [r] = await again2.all<{ n: bigint | number }>(`SELECT sum(n) AS n FROM ${t}`);
        expect(Number(r.n)).toBe(before.messages.length);
      }
    } finally {
      await again2.close();
    }
  }, 120_000);
});
