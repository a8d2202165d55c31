/**
 * The usage processor's rules, each on a small hand-written transcript:
 * late tool_results, retraction by rewrite, one message in two files,
 * unpriced models, the 1-hour cache split, the 200k tier, subagent joins,
 * <synthetic> lines, report filters and the price-file flag.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { query, runCli, runOnceIn, sandbox, type Sandbox } from '../helpers.js';
import { type Db } from '../../src/state/db.js';
import { openStore } from '../../src/state/open.js';
import { createUsageProcessor, type UsageOptions } from '../../pipelines/usage/index.js';
import { eventsReport, usageReport } from '../../pipelines/usage/report.js';
import type { EventGroup, ReportFilter, UsageGroup } from '../../pipelines/usage/views.js';
import { assistant, toolResult, toolUse, user, type Usage } from './support.js';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox('sp-usage-');
});
afterEach(() => sb.cleanup());

const run = (opts: UsageOptions = {}) => runOnceIn(sb, [createUsageProcessor(opts)]);

async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openStore(sb.db);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}
const usage = (by: UsageGroup, f: Partial<ReportFilter> = {}) => withDb((db) => usageReport(db, by, { tz: 'UTC', ...f }));
const events = (by: EventGroup, f: Partial<ReportFilter> = {}) => withDb((db) => eventsReport(db, by, { tz: 'UTC', ...f }));
const u = (input: number, output: number, extra: Usage = {}): Usage => ({
  input_tokens: input,
  output_tokens: output,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
  ...extra,
});

describe('tool_result after its tool_use', () => {
  it('sets is_error from a result that arrives in a later chunk and a later run', async () => {
    const f = 'o/s.jsonl';
    sb.write(f, assistant({ id: 'm1', req: 'r1', ts: '2025-07-01T10:00:00Z', usage: u(10, 5), content: [toolUse('toolu_1', 'Bash')] }));
    const result = user({ ts: '2025-07-01T10:00:05Z', content: [toolResult('toolu_1', true)] });
    sb.append(f, result.slice(0, 40)); // a partial line: not processed yet
    await run();
    const before = await query(sb.db, 'SELECT event_id, is_error FROM usage_events_dedup');
    expect(before).toEqual([{ event_id: 'toolu_1', is_error: null }]);

    sb.append(f, result.slice(40));
    await run();
    expect(await query(sb.db, 'SELECT event_id, is_error FROM usage_events_dedup')).toEqual([{ event_id: 'toolu_1', is_error: true }]);
    expect((await events('tool')).rows).toEqual([{ key: 'Bash', events: 1, errors: 1, sessions: 1 }]);
    // Reprocessing never duplicates: a third pass over an unchanged file changes nothing.
    await run();
    expect(await query(sb.db, 'SELECT count(*) AS n FROM usage_events')).toEqual([{ n: 1 }]);
  });
});

describe('one message in two files', () => {
  const shared = (ts: string, output: number) =>
    assistant({ id: 'msg_shared', req: 'req_shared', ts, usage: u(100, output), content: [toolUse('toolu_s', 'Read')] });

  beforeEach(() => {
    // The original session, and a resumed one under another owner that replays the message later.
    sb.write('alice/orig.jsonl', shared('2025-07-01T10:00:00Z', 50) + assistant({ id: 'm_a', req: 'r_a', ts: '2025-07-01T10:01:00Z', usage: u(1, 2) }));
    sb.write(
      'bob/resumed.jsonl',
      shared('2025-07-02T09:00:00Z', 50) + assistant({ id: 'm_b', req: 'r_b', ts: '2025-07-02T09:01:00Z', usage: u(3, 4) }),
    );
  });

  it('counts once in every total, attributed to the file where it appeared first', async () => {
    await run();
    const byFile = await query(sb.db, 'SELECT session_file, messages FROM usage_by_file ORDER BY 1');
    expect(byFile).toEqual([
      { session_file: 'alice/orig.jsonl', messages: 2 },
      { session_file: 'bob/resumed.jsonl', messages: 2 },
    ]);
    const day = await usage('day');
    expect(day.totals).toMatchObject({ messages: 3, input_tokens: 104, output_tokens: 56 });
    expect(day.rows.map((r) => [r.key, r.messages])).toEqual([
      ['2025-07-01', 2],
      ['2025-07-02', 1],
    ]);
    expect((await usage('owner')).rows.map((r) => [r.key, r.messages])).toEqual([
      ['alice', 2],
      ['bob', 1],
    ]);
    expect((await usage('model')).totals.messages).toBe(3);
    expect((await usage('session')).rows.map((r) => [r.key, r.messages])).toEqual([
      ['alice/orig.jsonl', 2],
      ['bob/resumed.jsonl', 1],
    ]);
    // Its tool call counts once too.
    expect((await events('tool')).totals).toMatchObject({ events: 1, sessions: 1 });
  });

  it('keeps the other copy counted when one file is rewritten (retracted)', async () => {
    await run();
    // alice's file is rewritten without the shared message: a retraction, then a reprocess.
    sb.write('alice/orig.jsonl', assistant({ id: 'm_new', req: 'r_new', ts: '2025-07-03T08:00:00Z', usage: u(7, 8) }));
    const s = await run();
    expect(s.processors.usage.rewritten).toBe(1);
    expect(await query(sb.db, `SELECT message_key FROM usage_messages WHERE session_file = 'alice/orig.jsonl'`)).toEqual([
      { message_key: 'm_new:r_new' },
    ]);
    const day = await usage('day');
    expect(day.totals).toMatchObject({ messages: 3, input_tokens: 100 + 3 + 7 });
    expect(day.rows.map((r) => [r.key, r.messages])).toEqual([
      ['2025-07-02', 2],
      ['2025-07-03', 1],
    ]);
    expect((await usage('owner')).rows.map((r) => [r.key, r.messages])).toEqual([
      ['alice', 1],
      ['bob', 2],
    ]);
    expect(await query(sb.db, 'SELECT event_id, session_file FROM usage_events_dedup')).toEqual([
      { event_id: 'toolu_s', session_file: 'bob/resumed.jsonl' },
    ]);
  });
});

describe('streamed messages', () => {
  it('keeps the line with the largest total per key, also when the key spans runs', async () => {
    const line = (output: number, id = 'msg_1') => assistant({ id, req: 'req_1', ts: '2025-07-01T10:00:00Z', usage: u(4, output) });
    sb.write('o/s.jsonl', line(1) + line(5));
    await run();
    sb.append('o/s.jsonl', line(300) + line(300) + line(2));
    await run();
    expect(await query(sb.db, 'SELECT message_key, output_tokens, line_offset FROM usage_messages')).toEqual([
      { message_key: 'msg_1:req_1', output_tokens: 300, line_offset: line(1).length * 2 },
    ]);
  });

  it('keys by message.id alone when requestId is absent, and counts nothing without usage', async () => {
    sb.write(
      'o/s.jsonl',
      assistant({ id: 'gw_1', ts: '2025-07-01T10:00:00Z', usage: u(1, 1) }) +
        assistant({ id: 'gw_1', ts: '2025-07-01T10:00:01Z', usage: u(1, 9) }) +
        assistant({ id: 'no_usage', ts: '2025-07-01T10:00:02Z' }),
    );
    await run();
    expect(await query(sb.db, 'SELECT message_key, output_tokens FROM usage_messages')).toEqual([{ message_key: 'gw_1', output_tokens: 9 }]);
  });
});

describe('cost', () => {
  it('reports an unpriced model as unpriced, with its tokens, never at $0', async () => {
    sb.write(
      'o/s.jsonl',
      assistant({ id: 'm1', req: 'r1', ts: '2025-07-01T10:00:00Z', model: 'mystery-model-9', usage: u(1000, 100) }) +
        assistant({ id: 'm2', req: 'r2', ts: '2025-07-01T10:00:01Z', model: 'claude-sonnet-4-20250514', usage: u(1000, 100) }),
    );
    await run();
    const byModel = await usage('model');
    expect(byModel.rows).toEqual([
      {
        key: 'claude-sonnet-4-20250514',
        messages: 1,
        input_tokens: 1000,
        output_tokens: 100,
        cache_creation_tokens: 0,
        cache_read_tokens: 0,
        total_tokens: 1100,
        cost_usd: 0.0045,
        unpriced_models: [],
        models: ['claude-sonnet-4-20250514'],
      },
      {
        key: 'mystery-model-9',
        messages: 1,
        input_tokens: 1000,
        output_tokens: 100,
        cache_creation_tokens: 0,
        cache_read_tokens: 0,
        total_tokens: 1100,
        cost_usd: null,
        unpriced_models: ['mystery-model-9'],
        models: ['mystery-model-9'],
      },
    ]);
    expect(byModel.totals).toMatchObject({ messages: 2, input_tokens: 2000, cost_usd: 0.0045, unpriced_models: ['mystery-model-9'] });
    const [session] = await query(sb.db, 'SELECT cost_usd, unpriced_models FROM usage_sessions');
    expect(session).toEqual({ cost_usd: 0.0045, unpriced_models: ['mystery-model-9'] });
  });

  it('splits cache writes into 5-minute and 1-hour, the 1-hour ones at 2x input', async () => {
    sb.write(
      'o/s.jsonl',
      assistant({
        id: 'm1',
        req: 'r1',
        ts: '2025-07-01T10:00:00Z',
        model: 'claude-sonnet-4-5-20250929',
        usage: u(0, 0, { cache_creation_input_tokens: 10_000, cache_creation: { ephemeral_5m_input_tokens: 4000, ephemeral_1h_input_tokens: 6000 } }),
      }),
    );
    await run();
    const [row] = await query<{ cache_creation_5m_tokens: number; cache_creation_1h_tokens: number; cost_usd: number }>(
      sb.db,
      'SELECT cache_creation_tokens, cache_creation_5m_tokens, cache_creation_1h_tokens, cost_usd FROM usage_messages_priced',
    );
    expect(row).toMatchObject({ cache_creation_tokens: 10_000, cache_creation_5m_tokens: 4000, cache_creation_1h_tokens: 6000 });
    expect(row.cost_usd).toBeCloseTo(4000 * 3.75e-6 + 6000 * 6e-6, 12);
  });

  it('prices every category at the above-200k rates when the prompt exceeds 200k tokens', async () => {
    const big = u(150_000, 2000, { cache_creation_input_tokens: 30_000, cache_read_input_tokens: 20_001 });
    const small = u(150_000, 2000, { cache_creation_input_tokens: 30_000, cache_read_input_tokens: 20_000 });
    sb.write(
      'o/s.jsonl',
      assistant({ id: 'big', req: 'r1', ts: '2025-07-01T10:00:00Z', model: 'claude-sonnet-4-5', usage: big }) +
        assistant({ id: 'small', req: 'r2', ts: '2025-07-01T10:00:01Z', model: 'claude-sonnet-4-5', usage: small }),
    );
    await run();
    const cost = Object.fromEntries(
      (await query<{ message_id: string; cost_usd: number }>(sb.db, 'SELECT message_id, cost_usd FROM usage_messages_priced')).map((r) => [r.message_id, r.cost_usd]),
    );
    expect(cost.big).toBeCloseTo(150_000 * 6e-6 + 2000 * 22.5e-6 + 30_000 * 7.5e-6 + 20_001 * 6e-7, 10);
    expect(cost.small).toBeCloseTo(150_000 * 3e-6 + 2000 * 15e-6 + 30_000 * 3.75e-6 + 20_000 * 3e-7, 10);
  });

  it('keeps <synthetic> lines out of model breakdowns and costs', async () => {
    sb.write(
      'o/s.jsonl',
      assistant({ id: 'syn', req: 'r0', ts: '2025-07-01T10:00:00Z', model: '<synthetic>', usage: u(0, 0) }) +
        assistant({ id: 'm1', req: 'r1', ts: '2025-07-01T10:00:01Z', usage: u(10, 10) }),
    );
    await run();
    const byModel = await usage('model');
    expect(byModel.rows.map((r) => r.key)).toEqual(['claude-sonnet-4-20250514']);
    expect(byModel.totals.unpriced_models).toEqual([]);
    expect((await usage('day')).totals).toMatchObject({ messages: 2, unpriced_models: [] });
    expect(await query(sb.db, 'SELECT models FROM usage_sessions')).toEqual([{ models: ['claude-sonnet-4-20250514'] }]);
  });

  it('uses a price file given by flag or variable, and reprices everything, reading nothing, when it changes', async () => {
    const prices = path.join(sb.dir, 'prices.json');
    fs.writeFileSync(prices, JSON.stringify({ 'claude-sonnet-4-20250514': { input_cost_per_token: 0.001, output_cost_per_token: 0.002 } }));
    sb.write('o/s.jsonl', assistant({ id: 'm1', req: 'r1', ts: '2025-07-01T10:00:00Z', usage: u(10, 10) }));
    const custom = await runCli(['run', '--once', '--json', '--root', sb.root, '--db', sb.db, '--processors', 'usage'], {
      SESSION_PIPELINE_PRICING: prices,
    });
    expect(custom.code, custom.stderr).toBe(0);
    expect((await usage('day')).totals.cost_usd).toBeCloseTo(10 * 0.001 + 10 * 0.002, 9);
    // Back to the bundled table: a price version, not a processor version: nothing is re-read.
    const s = await run();
    expect(s.processors.usage).toMatchObject({ rewritten: 0, unchanged: 1, bytes_read: 0 });
    expect((await usage('day')).totals.cost_usd).toBeCloseTo(10 * 3e-6 + 10 * 15e-6, 9);
    const bad = await runCli(['run', '--once', '--root', sb.root, '--db', sb.db, '--processors', 'usage', '--pricing', path.join(sb.dir, 'nope.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid pricing \(--pricing \/ SESSION_PIPELINE_PRICING\)/);
  }, 120_000);
});

describe('sessions', () => {
  it('joins 2.0 flat and 2.1 nested subagent files to their parent session', async () => {
    sb.write(
      'o/parent.jsonl',
      user({ ts: '2025-07-01T10:00:00Z', content: 'go', sessionId: 'parent', extra: { gitBranch: 'feature' } }) +
        assistant({ id: 'p1', req: 'r1', ts: '2025-07-01T10:00:01Z', usage: u(10, 1), content: [toolUse('toolu_t', 'Task', { subagent_type: 'Explore' })] }),
    );
    sb.write('o/agent-flat.jsonl', assistant({ id: 'a1', req: 'r2', ts: '2025-07-01T10:00:02Z', usage: u(20, 2), sessionId: 'parent' }));
    sb.write('o/parent/subagents/agent-nested.jsonl', assistant({ id: 'a2', req: 'r3', ts: '2025-07-01T10:05:00Z', usage: u(30, 3), sessionId: 'parent' }));
    await run();
    const sessions = await query(sb.db, 'SELECT session, files, messages, input_tokens, tool_calls, first_ts, last_ts, git_branch, cwd, cc_version FROM usage_sessions');
    expect(sessions).toEqual([
      {
        session: 'o/parent.jsonl',
        files: 3,
        messages: 3,
        input_tokens: 60,
        tool_calls: 1,
        first_ts: new Date('2025-07-01T10:00:00Z'),
        last_ts: new Date('2025-07-01T10:05:00Z'),
        git_branch: 'feature',
        cwd: '/work/project',
        cc_version: '2.0.28',
      },
    ]);
    expect((await usage('session')).rows.map((r) => [r.key, r.messages])).toEqual([['o/parent.jsonl', 3]]);
    expect((await events('subagent')).rows).toEqual([{ key: 'Explore', events: 1, errors: 0, sessions: 1 }]);
  });

  it('keeps the summary current as the file grows', async () => {
    sb.write('o/s.jsonl', user({ ts: '2025-07-01T10:00:00Z', content: 'hi', extra: { version: '2.0.1' } }));
    await run();
    sb.append('o/s.jsonl', assistant({ id: 'm1', req: 'r1', ts: '2025-07-01T11:00:00Z', usage: u(5, 5), extra: { version: '2.0.2' } }));
    await run();
    expect(await query(sb.db, 'SELECT messages, total_tokens, first_ts, last_ts, cc_version FROM usage_sessions')).toEqual([
      { messages: 1, total_tokens: 10, first_ts: new Date('2025-07-01T10:00:00Z'), last_ts: new Date('2025-07-01T11:00:00Z'), cc_version: '2.0.2' },
    ]);
  });
});

describe('invocation events', () => {
  it('reports tools, skills, MCP calls, subagents and slash commands', async () => {
    sb.write(
      'o/s.jsonl',
      user({ ts: '2025-07-01T10:00:00Z', uuid: 'u1', content: '<command-message>review</command-message><command-name>/review</command-name>' }) +
        assistant({
          id: 'm1',
          req: 'r1',
          ts: '2025-07-01T10:00:01Z',
          usage: u(1, 1),
          content: [
            toolUse('t1', 'Skill', { skill: 'pdf' }),
            toolUse('t2', 'mcp__github__create_issue', { title: 'x' }),
            toolUse('t3', 'mcp__github__create_issue', { title: 'y' }),
            toolUse('t4', 'Agent', { subagent_type: 'code-reviewer' }),
            toolUse('t5', 'Bash', { command: 'ls' }),
          ],
        }) +
        user({ ts: '2025-07-01T10:00:02Z', content: [toolResult('t2', false), toolResult('t3', true), toolResult('t5', true)] }),
    );
    await run();
    expect((await events('skill')).rows).toEqual([{ key: 'pdf', events: 1, errors: 0, sessions: 1 }]);
    expect((await events('mcp')).rows).toEqual([{ key: 'github/create_issue', events: 2, errors: 1, sessions: 1 }]);
    expect((await events('subagent')).rows.map((r) => r.key)).toEqual(['code-reviewer']);
    expect((await events('command')).rows).toEqual([{ key: '/review', events: 1, errors: 0, sessions: 1 }]);
    const tools = await events('tool');
    expect(tools.rows.map((r) => [r.key, r.events, r.errors])).toEqual([
      ['mcp__github__create_issue', 2, 1],
      ['Agent', 1, 0],
      ['Bash', 1, 1],
      ['Skill', 1, 0],
    ]);
    expect(tools.totals).toEqual({ key: 'total', events: 5, errors: 2, sessions: 1 });
  });
});

describe('report filters', () => {
  it('buckets by --tz and filters by --since, --until and --owner', async () => {
    // 23:30 UTC on June 30 is already July 1 in Prague (UTC+2).
    sb.write('alice/a.jsonl', assistant({ id: 'm1', req: 'r1', ts: '2025-06-30T23:30:00Z', usage: u(1, 0) }));
    sb.write('bob/b.jsonl', assistant({ id: 'm2', req: 'r2', ts: '2025-07-08T12:00:00Z', usage: u(2, 0) }));
    await run();
    expect((await usage('day')).rows.map((r) => r.key)).toEqual(['2025-06-30', '2025-07-08']);
    expect((await usage('day', { tz: 'Europe/Prague' })).rows.map((r) => r.key)).toEqual(['2025-07-01', '2025-07-08']);
    expect((await usage('month', { tz: 'Europe/Prague' })).rows.map((r) => [r.key, r.messages])).toEqual([['2025-07', 2]]);
    expect((await usage('week')).rows.map((r) => r.key)).toEqual(['2025-06-30', '2025-07-07']);
    expect((await usage('day', { since: '2025-07-01' })).totals.messages).toBe(1);
    expect((await usage('day', { since: '2025-07-01', tz: 'Europe/Prague' })).totals.messages).toBe(2);
    expect((await usage('day', { until: '2025-07-01' })).totals.input_tokens).toBe(1);
    expect((await usage('owner', { owner: 'bob' })).rows.map((r) => r.key)).toEqual(['bob']);
  });

  it('takes ccusage conventions: shortcuts, short flags, --timezone, the machine zone, --order, --breakdown', async () => {
    sb.write('alice/a.jsonl', assistant({ id: 'm1', req: 'r1', ts: '2025-06-30T23:30:00Z', usage: u(1, 0) }));
    sb.write(
      'bob/b.jsonl',
      assistant({ id: 'm2', req: 'r2', ts: '2025-07-08T12:00:00Z', usage: u(2, 0) }) +
        assistant({ id: 'm3', req: 'r3', ts: '2025-07-08T12:01:00Z', model: 'claude-opus-4-1', usage: u(3, 0) }),
    );
    await run();
    const json = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
      const r = await runCli([...args, '--db', sb.db], env);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    const keys = (r: { rows: { key: string }[] }) => r.rows.map((row) => row.key);
    // The machine's zone by default (TZ), not UTC: 23:30Z is July 1 in Prague.
    expect(keys(await json(['daily', '-j'], { TZ: 'Europe/Prague' }))).toEqual(['2025-07-01', '2025-07-08']);
    expect(keys(await json(['daily', '-j', '--timezone', 'UTC'], { TZ: 'Europe/Prague' }))[0]).toBe('2025-06-30');
    expect(keys(await json(['daily', '-j', '-z', 'UTC', '-o', 'desc']))).toEqual(['2025-07-08', '2025-06-30']);
    expect((await json(['daily', '-j', '-z', 'UTC', '-s', '20250701', '-u', '2025-07-08'])).totals.messages).toBe(2);
    expect(keys(await json(['monthly', '-j', '-z', 'UTC']))).toEqual(['2025-06', '2025-07']);
    expect(keys(await json(['weekly', '-j', '-z', 'UTC']))).toEqual(['2025-06-30', '2025-07-07']);
    expect(keys(await json(['session', '-j']))).toEqual(['alice/a.jsonl', 'bob/b.jsonl']);
    const broken = await json(['report', 'usage', '--by', 'owner', '--breakdown', '--json']);
    expect(broken.rows[1]).toMatchObject({ key: 'bob', total_tokens: 5, models: ['claude-opus-4-1', 'claude-sonnet-4-20250514'] });
    expect(broken.rows[1].breakdown.map((b: { model: string; input_tokens: number }) => [b.model, b.input_tokens])).toEqual([
      ['claude-opus-4-1', 3],
      ['claude-sonnet-4-20250514', 2],
    ]);
    expect(broken.totals.breakdown.map((b: { model: string }) => b.model)).toEqual(['claude-opus-4-1', 'claude-sonnet-4-20250514']);
    const table = await runCli(['daily', '--breakdown', '-z', 'UTC', '--db', sb.db]);
    expect(table.stdout).toMatch(/models .* total tokens/);
    expect(table.stdout).toMatch(/└ claude-opus-4-1/);
  }, 300_000); // eleven CLI processes

  it('prints CSV and a table with totals', async () => {
    sb.write('o/s.jsonl', assistant({ id: 'm1', req: 'r1', ts: '2025-07-01T10:00:00Z', usage: u(1, 2), model: 'odd,"model"' }));
    await run();
    const csv = await runCli(['report', 'usage', '--by', 'model', '--csv', '--db', sb.db]);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout).toBe(
      'key,messages,input_tokens,output_tokens,cache_creation_tokens,cache_read_tokens,total_tokens,cost_usd,models,unpriced_models\n' +
        '"odd,""model""",1,1,2,0,0,3,,"odd,""model""","odd,""model"""\n',
    );
    const table = await runCli(['report', 'usage', '--db', sb.db]);
    expect(table.stdout).toMatch(/2025-07-01 .* unpriced/);
    expect(table.stdout).toMatch(/total/);
  }, 120_000);

  it('rejects bad flags, and says when the processor never ran', async () => {
    sb.write('o/s.jsonl', assistant({ id: 'm1', req: 'r1', ts: '2025-07-01T10:00:00Z', usage: u(1, 2) }));
    const empty = path.join(sb.dir, 'lines-only.duckdb');
    await runOnceIn({ ...sb, db: empty }, undefined);
    expect((await runCli(['report', 'usage', '--since', 'last tuesday', '--db', empty])).code).toBe(2);
    expect((await runCli(['report', 'usage', '--tz', 'Mars/Olympus', '--db', empty])).code).toBe(2);
    expect((await runCli(['report', 'usage', '--db', path.join(sb.dir, 'none.duckdb')])).code).toBe(4);
    const none = await runCli(['report', 'events', '--json', '--db', empty]);
    expect(none.code).toBe(0);
    expect(JSON.parse(none.stdout)).toEqual({ rows: [], totals: { key: 'total', events: 0, errors: 0, sessions: 0 } });
    expect(none.stderr).toMatch(/usage processor has not run/);
  }, 120_000);
});
