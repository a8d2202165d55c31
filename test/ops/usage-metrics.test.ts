/**
 * `/metrics` usage counters, named as Claude Code's OpenTelemetry export
 * appears in Prometheus, against a real daemon on the real corpus: they equal
 * the report totals (per owner and per model, tokens and cost), follow an
 * append after its commit, and drop when a retraction takes rows back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyCorpus, runCli, sandbox, waitFor } from '../helpers.js';
import { startDaemon, stop, type Running } from './daemon.js';
import { assistant } from '../usage/support.js';

interface Sample {
  labels: Record<string, string>;
  value: number;
}

function parse(text: string, name: string): Sample[] {
  const out: Sample[] = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith(name + '{')) continue;
    const m = /^[^{]+\{(.*)\} (\S+)$/.exec(l)!;
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    out.push({ labels, value: Number(m[2]) });
  }
  return out;
}

const sum = (s: Sample[], where: Record<string, string> = {}) =>
  s.filter((x) => Object.entries(where).every(([k, v]) => x.labels[k] === v)).reduce((n, x) => n + x.value, 0);

describe('usage counters on /metrics (real daemon)', () => {
  const sb = sandbox('sp-usage-metrics-');
  let d: Running | null = null;
  let base = '';
  const scrape = async () => (await fetch(`${base}/metrics`)).text();
  const report = async (by: string) => {
    const r = await runCli(['report', 'usage', '--by', by, '--json', '--db', sb.db, '--admin-port', String(d!.port)]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { rows: Record<string, any>[]; totals: Record<string, any> };
  };

  beforeAll(async () => {
    copyCorpus(sb);
    d = await startDaemon(sb, ['--processors', 'usage', '--quiet-ms', '20', '--max-wait-ms', '200', '--rescan-interval-ms', '500', '--log-level', 'info']);
    base = `http://127.0.0.1:${d.port}`;
    await waitFor(async () => {
      const h = await (await fetch(`${base}/health`)).json();
      return h.initialScan === 'done' && h.processors.usage.lagFiles === 0;
    }, 60_000);
  }, 90_000);

  afterAll(async () => {
    await stop(d);
    sb.cleanup();
  });

  it('equal the report totals, per owner and per model, tokens and cost', async () => {
    const text = await scrape();
    expect(text).toMatch(/# TYPE claude_code_token_usage_tokens_total counter/);
    expect(text).toMatch(/# TYPE claude_code_cost_usage_USD_total counter/);
    const tokens = parse(text, 'claude_code_token_usage_tokens_total');
    const cost = parse(text, 'claude_code_cost_usage_USD_total');
    const byOwner = await report('owner');
    expect(byOwner.totals.messages).toBe(304);
    for (const [type, field] of [['input', 'input_tokens'], ['output', 'output_tokens'], ['cacheRead', 'cache_read_tokens'], ['cacheCreation', 'cache_creation_tokens']]) {
      expect(sum(tokens, { type }), type).toBe(byOwner.totals[field]);
      for (const row of byOwner.rows) expect(sum(tokens, { type, owner: row.key }), `${type} ${row.key}`).toBe(row[field]);
    }
    expect(Math.round(sum(cost) * 1e6) / 1e6).toBeCloseTo(byOwner.totals.cost_usd, 6);
    for (const row of byOwner.rows) expect(sum(cost, { owner: row.key })).toBeCloseTo(row.cost_usd, 6);
    const byModel = await report('model');
    for (const row of byModel.rows) {
      expect(sum(tokens, { type: 'output', model: row.key })).toBe(row.output_tokens);
      expect(sum(cost, { model: row.key })).toBeCloseTo(row.cost_usd, 6);
    }
    // Labels: 4 token types per (model, owner) seen.
    const pairs = new Set(tokens.map((s) => `${s.labels.model}|${s.labels.owner}`));
    expect(tokens.length).toBe(pairs.size * 4);
  });

  it('follow an append once it is committed, and drop when a retraction takes rows back', async () => {
    const before = parse(await scrape(), 'claude_code_token_usage_tokens_total');
    const usage = { input_tokens: 1234, output_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    sb.append('metrics/new.jsonl', assistant({ id: 'mx', req: 'rx', ts: '2025-10-01T10:00:00Z', usage }));
    await waitFor(async () => sum(parse(await scrape(), 'claude_code_token_usage_tokens_total'), { type: 'input', owner: 'metrics' }) === 1234, 30_000);
    const after = parse(await scrape(), 'claude_code_token_usage_tokens_total');
    expect(sum(after, { type: 'input' })).toBe(sum(before, { type: 'input' }) + 1234);
    // Rewritten smaller (a truncation): the file is retracted and reprocessed, and the counter goes down.
    sb.write('metrics/new.jsonl', assistant({ id: 'my', req: 'ry', ts: '2025-10-01T11:00:00Z', usage: { ...usage, input_tokens: 4 } }).slice(0, 10) + '\n');
    await waitFor(async () => sum(parse(await scrape(), 'claude_code_token_usage_tokens_total'), { type: 'input', owner: 'metrics' }) === 0, 30_000);
    expect(sum(parse(await scrape(), 'claude_code_token_usage_tokens_total'), { type: 'input' })).toBe(sum(before, { type: 'input' }));
  }, 90_000);
});
