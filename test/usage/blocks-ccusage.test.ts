/**
 * `blocks --json` against ccusage 20.0.24's `blocks --json` (the pinned native
 * binary, run as a child process on the same transcripts): block starts, ends,
 * last activity, messages and the four token counts equal, and cost to 6
 * decimals, on the real corpus and on a generated one with gaps on the 5-hour
 * edges, several projects, streamed lines and a session resumed in another file.
 * On the real corpus `daily --json` is compared too (tokens, cost to 6 decimals).
 *
 * Deliberate differences (docs/usage.md): ccusage's gap blocks are left out;
 * and ccusage skips transcript lines written as JSON with spaces after the
 * colons (the hand-made claude-code-log files), which this pipeline counts, so
 * the real-corpus comparison runs on a copy with those lines re-serialized
 * compactly, and a second check shows ccusage missing exactly their messages.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CORPUS, runCli, runOnceIn, sandbox, sandboxOn, STORES, type Sandbox, type StoreName } from '../helpers.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { prng } from './support.js';
import { ccusageJson, dailyRow, haveCcusage, writeCompactCorpus } from './ccusage.js';

interface CcBlock {
  startTime: string;
  endTime: string;
  actualEndTime: string | null;
  isGap: boolean;
  isActive: boolean;
  entries: number;
  costUSD: number;
  tokenCounts: { inputTokens: number; outputTokens: number; cacheCreationInputTokens: number; cacheReadInputTokens: number };
  burnRate: { tokensPerMinute: number; costPerHour: number } | null;
}

/** ccusage's blocks, without its gap blocks. */
async function ccusageBlocks(root: string, configDir: string): Promise<CcBlock[]> {
  return ((await ccusageJson(root, configDir, ['blocks'])).blocks as CcBlock[]).filter((b) => !b.isGap);
}

async function ourBlocks(sb: Sandbox) {
  const r = await runCli(['blocks', '--json', '-z', 'UTC', '--db', sb.db]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { rows: Record<string, unknown>[]; totals: Record<string, number> };
}

const comparable = (b: CcBlock) => ({
  start: b.startTime,
  end: b.endTime,
  last_activity: b.actualEndTime,
  active: b.isActive,
  messages: b.entries,
  input_tokens: b.tokenCounts.inputTokens,
  output_tokens: b.tokenCounts.outputTokens,
  cache_creation_tokens: b.tokenCounts.cacheCreationInputTokens,
  cache_read_tokens: b.tokenCounts.cacheReadInputTokens,
  cost_usd: Math.round(b.costUSD * 1e6) / 1e6,
});
const ours = (r: Record<string, unknown>) => {
  const { start, end, last_activity, active, messages, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd } = r;
  return { start, end, last_activity, active, messages, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd };
};

const boxes: Sandbox[] = [];
afterAll(async () => {
  for (const b of boxes) await b.cleanup();
});

/** A sandbox on `store`, cleaned up after the file. */
async function box(store: StoreName, prefix: string): Promise<Sandbox> {
  const sb = await sandboxOn(store, prefix);
  boxes.push(sb);
  return sb;
}

describe.skipIf(!haveCcusage).each(STORES)('blocks equal ccusage 20 blocks --json (%s store)', (store) => {
  it('on the real corpus (lines re-serialized compactly, as ccusage reads them)', async () => {
    const sb = await box(store, 'sp-blocks-real-');
    const respaced = writeCompactCorpus(sb);
    expect(respaced).toBeGreaterThan(0);
    await runOnceIn(sb, [createUsageProcessor()]);
    const cc = await ccusageBlocks(sb.root, path.join(sb.dir, 'claude'));
    const mine = await ourBlocks(sb);
    expect(cc.length).toBe(5);
    expect(mine.rows.map(ours)).toEqual(cc.map(comparable));

    // And `daily` (read-time prices): per day, tokens equal and cost to 6 decimals.
    const ccDaily = (await ccusageJson(sb.root, path.join(sb.dir, 'claude'), ['daily', '-z', 'UTC'])).daily as Record<string, any>[];
    const r = await runCli(['daily', '--json', '-z', 'UTC', '--db', sb.db]);
    const daily = JSON.parse(r.stdout).rows as Record<string, any>[];
    expect(ccDaily.length).toBe(5);
    expect(daily.map(dailyRow)).toEqual(ccDaily.map(dailyRow));
  }, 180_000);

  it.skipIf(store !== 'duckdb')('and ccusage, on the corpus as it is, misses exactly the messages written with spaced JSON', async () => {
    const sb = sandbox('sp-blocks-raw-');
    boxes.push(sb);
    fs.cpSync(CORPUS, sb.root, { recursive: true });
    const cc = await ccusageBlocks(sb.root, path.join(sb.dir, 'claude'));
    // claude-code-log's edge_cases (3 of its 4: the 4th is shared with todowrite_examples),
    // representative_messages (5) and session_b (1) are written with ", " and ": ".
    const spaced = 3 + 5 + 1;
    expect(cc.reduce((n, b) => n + b.entries, 0)).toBe(304 - spaced);
  }, 180_000);

  it('on a generated corpus: gaps on the 5-hour edges, projects, streamed lines, a resumed session', async () => {
    const sb = await box(store, 'sp-blocks-gen-');
    const rnd = prng(20261201);
    const H = 3_600_000;
    const models = ['claude-sonnet-4-20250514', 'claude-opus-4-1-20250805', 'claude-3-5-haiku-20241022', 'claude-sonnet-4-5-20250929'];
    const line = (o: { id: string; ts: number; model: string; input: number; output: number; cc: number; cr: number; sid: string }) =>
      JSON.stringify({
        type: 'assistant',
        timestamp: new Date(o.ts).toISOString(),
        requestId: `req_${o.id}`,
        sessionId: o.sid,
        version: '2.0.28',
        cwd: '/work/p',
        uuid: `u_${o.id}_${o.output}`,
        message: {
          id: `msg_${o.id}`,
          type: 'message',
          role: 'assistant',
          model: o.model,
          content: [{ type: 'text', text: 'ok' }],
          usage: { input_tokens: o.input, output_tokens: o.output, cache_creation_input_tokens: o.cc, cache_read_input_tokens: o.cr },
        },
      });
    // One account's activity: a timeline with gaps of every kind, spread over sessions of 3 projects.
    let t = Date.parse('2025-03-01T08:13:27.123Z');
    const gaps = [0, 60_000, 5 * H, 5 * H + 1, 5 * H - 1, 4 * H + 59 * 60_000, 30 * H, 2 * H, 3 * H, 1000];
    const files = new Map<string, string[]>();
    let n = 0;
    // The window's own edge: a block started on the hour, then a message exactly 5 h later (stays, by
    // ccusage's strict "more than 5 h"), and again with one 5 h + 1 ms later (a new block).
    const onTheHour = (k: number) => Math.ceil(t / H) * H + 30 * H + k;
    const edges = new Map<number, number>([
      [gaps.length * 4 + 1, 0],
      [gaps.length * 4 + 3, -1],
    ]);
    for (let i = 0; i < 400; i++) {
      const edge = edges.get(i);
      if (edge !== undefined) t = onTheHour(0);
      else if (edges.has(i - 1)) t += 5 * H + (edges.get(i - 1) === 0 ? 0 : 1);
      else t += i < gaps.length * 4 ? gaps[i % gaps.length] : Math.floor(rnd() * (rnd() < 0.1 ? 12 * H : 40 * 60_000));
      const project = `-work-p${Math.floor(rnd() * 3)}`;
      const session = `${project}/s${Math.floor(i / 40)}.jsonl`;
      const id = `g${n++}`;
      const m = { id, ts: t, model: models[Math.floor(rnd() * models.length)], input: 1 + Math.floor(rnd() * 50), output: 0, cc: Math.floor(rnd() * 5000), cr: Math.floor(rnd() * 90_000), sid: `s${Math.floor(i / 40)}` };
      const out = 10 + Math.floor(rnd() * 2000);
      const list = files.get(session) ?? [];
      // Streamed: the same message on several lines, output growing; the last line is the full one.
      if (rnd() < 0.3) list.push(line({ ...m, output: Math.floor(out / 3) }));
      list.push(line({ ...m, output: out }));
      files.set(session, list);
      // A session resumed in another file replays some messages (same id, same tokens).
      if (rnd() < 0.1) {
        const resumed = `${project}/resumed-${Math.floor(i / 40)}.jsonl`;
        files.set(resumed, [...(files.get(resumed) ?? []), line({ ...m, output: out })]);
      }
    }
    for (const [f, lines] of files) sb.write(f, lines.join('\n') + '\n');
    await runOnceIn(sb, [createUsageProcessor()]);
    const cc = await ccusageBlocks(sb.root, path.join(sb.dir, 'claude'));
    const mine = await ourBlocks(sb);
    expect(cc.length).toBeGreaterThan(20);
    expect(mine.rows.map(ours)).toEqual(cc.map(comparable));
    expect(mine.totals.messages).toBe(n);
  }, 180_000);

  it('on an active block: the same block, tokens and burn rate', async () => {
    const sb = await box(store, 'sp-blocks-live-');
    const now = Date.now();
    const at = (minAgo: number, id: string, input: number) =>
      JSON.stringify({
        type: 'assistant',
        timestamp: new Date(now - minAgo * 60_000).toISOString(),
        requestId: `r_${id}`,
        sessionId: 's',
        version: '2.0.28',
        cwd: '/w',
        uuid: `u_${id}`,
        message: { id: `m_${id}`, type: 'message', role: 'assistant', model: 'claude-sonnet-4-20250514', content: [], usage: { input_tokens: input, output_tokens: 100, cache_creation_input_tokens: 1000, cache_read_input_tokens: 5000 } },
      });
    // Two messages a few minutes apart, the last one just now: the block is active for both tools.
    const minute = new Date(now).getUTCMinutes();
    const spread = Math.max(1, Math.min(minute, 40));
    sb.write('-w/s.jsonl', [at(spread, 'a', 10), at(0.5, 'b', 20)].join('\n') + '\n');
    await runOnceIn(sb, [createUsageProcessor()]);
    const cc = await ccusageBlocks(sb.root, path.join(sb.dir, 'claude'));
    const mine = await ourBlocks(sb);
    expect(cc).toHaveLength(1);
    expect(mine.rows.map(ours)).toEqual(cc.map(comparable));
    expect(mine.rows[0].active).toBe(true);
    expect(mine.rows[0].burn_rate_tokens_per_minute as number).toBeCloseTo(cc[0].burnRate!.tokensPerMinute, 2);
    expect(mine.rows[0].burn_rate_cost_per_hour as number).toBeCloseTo(cc[0].burnRate!.costPerHour, 5);
  }, 180_000);
});
