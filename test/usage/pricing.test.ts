import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalModel, costUsd, isLongContext, loadPriceTable, PriceTable, undatedModel } from '../../pipelines/usage/pricing.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { ConfigError } from '../../src/config/config.js';

const table = loadPriceTable();
const tokens = (t: Partial<{ input: number; output: number; cacheCreation: number; cache1h: number; cacheRead: number }>) => ({
  input: 0,
  output: 0,
  cacheCreation: 0,
  cache1h: 0,
  cacheRead: 0,
  ...t,
});

describe('the bundled table', () => {
  it('is the complete vendored table (test/fixtures/pricing/claude-pricing.json, byte for byte)', () => {
    expect(table.source).toBe('bundled');
    expect(table.size).toBe(28);
    const bundled = fs.readFileSync(new URL('../../pipelines/usage/pricing.json', import.meta.url), 'utf8');
    expect(bundled).toBe(fs.readFileSync(new URL('../fixtures/pricing/claude-pricing.json', import.meta.url), 'utf8'));
  });

  it('prices the 3.x and 3.5 models, 1-hour writes at 2x input whatever the table says', () => {
    for (const m of ['claude-3-5-haiku-20241022', 'claude-3-5-sonnet-20240620', 'claude-3-5-sonnet-20241022', 'claude-3-sonnet-20240229']) {
      expect(table.lookup(m)?.entry, m).toBe(m);
    }
    expect(table.lookup('claude-3-5-sonnet-20241022')!.base).toEqual({ input: 3e-6, output: 15e-6, cacheWrite5m: 3.75e-6, cacheWrite1h: 6e-6, cacheRead: 3e-7 });
    // The table's cache_creation_input_token_cost_above_1hr is 6e-06 for both: wrong, the rule wins.
    expect(table.lookup('claude-3-haiku-20240307')!.base.cacheWrite1h).toBeCloseTo(2 * 2.5e-7, 15);
    expect(table.lookup('claude-3-opus-20240229')!.base.cacheWrite1h).toBeCloseTo(2 * 15e-6, 15);
  });

  it('reads the fast multiplier of Opus 4.6, 4.7 and 4.8', () => {
    expect(table.lookup('claude-opus-4-6')!.fast).toBe(6);
    expect(table.lookup('claude-opus-4-7')!.fast).toBe(6);
    expect(table.lookup('claude-opus-4-8')!.fast).toBe(2);
    expect(table.lookup('claude-sonnet-4-5')!.fast).toBeNull();
  });
});

describe('model matching', () => {
  it('matches exactly, without a date suffix, and with a date the table lacks', () => {
    expect(table.lookup('claude-sonnet-4-20250514')!.entry).toBe('claude-sonnet-4-20250514');
    expect(table.lookup('claude-sonnet-4')!.entry).toBe('claude-sonnet-4-20250514');
    expect(table.lookup('claude-sonnet-4-6-20260101')!.entry).toBe('claude-sonnet-4-6');
    // The undated alias wins over its dated twin.
    expect(table.lookup('claude-opus-4-5-20991231')!.entry).toBe('claude-opus-4-5');
  });

  it('matches through provider prefixes and spellings', () => {
    expect(canonicalModel('anthropic/claude-haiku-4-5')).toBe('claude-haiku-4-5');
    expect(canonicalModel('bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0')).toBe('claude-sonnet-4-5-20250929');
    expect(canonicalModel('claude-opus-4-1@20250805')).toBe('claude-opus-4-1-20250805');
    expect(undatedModel('claude-opus-4-1-20250805')).toBe('claude-opus-4-1');
    expect(table.lookup('us.anthropic.claude-sonnet-4-5-20250929-v1:0')!.entry).toMatch(/^claude-sonnet-4-5/);
    expect(table.lookup('vertex_ai/claude-opus-4-1@20250805')!.base.input).toBe(0.000015);
    expect(table.lookup('anthropic/claude-haiku-4-5-20251001')!.base.output).toBe(0.000005);
  });

  it('does not confuse neighbouring models', () => {
    expect(table.lookup('claude-sonnet-4')!.base.input).toBe(0.000003);
    expect(table.lookup('claude-3-sonnet')!.entry).toBe('claude-3-sonnet-20240229');
    expect(table.lookup('claude-3-5-sonnet')!.entry).toBe('claude-3-5-sonnet-20241022');
    expect(table.lookup('claude-2.1')).toBeNull();
    expect(table.lookup('gpt-4o')).toBeNull();
  });
});

describe('cost', () => {
  const sonnet4 = table.lookup('claude-sonnet-4-20250514')!;

  it('prices input, output, cache writes and reads', () => {
    const c = costUsd(tokens({ input: 1000, output: 100, cacheCreation: 2000, cacheRead: 10_000 }), sonnet4);
    expect(c).toBeCloseTo(1000 * 3e-6 + 100 * 15e-6 + 2000 * 3.75e-6 + 10_000 * 3e-7, 12);
  });

  it('prices 1-hour cache writes at 2x input and 5-minute writes at the cache rate', () => {
    const c = costUsd(tokens({ cacheCreation: 1000, cache1h: 600 }), sonnet4);
    expect(c).toBeCloseTo(400 * 3.75e-6 + 600 * 2 * 3e-6, 12);
    expect(c).not.toBeCloseTo(1000 * 3.75e-6, 9);
  });

  it('uses the above-200k rates for every category once the prompt exceeds 200k tokens', () => {
    const at = tokens({ input: 100_000, cacheCreation: 50_000, cache1h: 10_000, cacheRead: 50_000, output: 1000 });
    expect(isLongContext(at)).toBe(false);
    expect(costUsd(at, sonnet4)).toBeCloseTo(100_000 * 3e-6 + 40_000 * 3.75e-6 + 10_000 * 6e-6 + 50_000 * 3e-7 + 1000 * 15e-6, 12);
    const over = { ...at, cacheRead: 50_001 };
    expect(isLongContext(over)).toBe(true);
    expect(costUsd(over, sonnet4)).toBeCloseTo(
      100_000 * 6e-6 + 40_000 * 7.5e-6 + 10_000 * 2 * 6e-6 + 50_001 * 6e-7 + 1000 * 22.5e-6,
      12,
    );
  });

  it('keeps base rates above 200k for models without a long-context tier', () => {
    const opus = table.lookup('claude-opus-4-1')!;
    expect(opus.longContext).toBeNull();
    expect(costUsd(tokens({ input: 300_000 }), opus)).toBeCloseTo(300_000 * 15e-6, 10);
  });

  it('applies the fast multiplier for speed "fast" where the table has one', () => {
    const opus46 = table.lookup('claude-opus-4-6')!;
    const t = tokens({ input: 1000, output: 1000 });
    expect(costUsd(t, opus46, 'fast')).toBeCloseTo(6 * costUsd(t, opus46), 12);
    expect(costUsd(t, sonnet4, 'fast')).toBe(costUsd(t, sonnet4));
  });
});

describe('a custom price file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-pricing-'));
  const file = path.join(dir, 'prices.json');

  it('replaces the bundled table, with a fingerprint of its own and the same processor version', () => {
    fs.writeFileSync(file, JSON.stringify({ 'my-model': { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6 } }));
    const custom = loadPriceTable(file);
    const base = custom.lookup('my-model')!.base;
    expect(base.input).toBe(1e-6);
    expect(base.output).toBe(2e-6);
    // Missing cache rates default to Anthropic's multiples of the input rate.
    expect(base.cacheWrite5m).toBeCloseTo(1.25e-6, 15);
    expect(base.cacheWrite1h).toBeCloseTo(2e-6, 15);
    expect(base.cacheRead).toBeCloseTo(1e-7, 15);
    expect(custom.lookup('claude-sonnet-4')).toBeNull();
    expect(custom.fingerprint).not.toBe(table.fingerprint);
    // Prices are not extraction rules: another table re-reads nothing.
    expect(createUsageProcessor({ pricing: file }).version).toBe(createUsageProcessor().version);
    // The fingerprint is of the rates, not of the bytes: reformatting is the same version.
    fs.writeFileSync(file, JSON.stringify({ 'my-model': { output_cost_per_token: 2e-6, input_cost_per_token: 1e-6, max_tokens: 9 } }, null, 2));
    expect(loadPriceTable(file).fingerprint).toBe(custom.fingerprint);
  });

  it('fails as a config error naming the flag and the variable', () => {
    fs.writeFileSync(file, '{"nope": {"max_tokens": 1}}');
    expect(() => loadPriceTable(file)).toThrow(ConfigError);
    expect(() => loadPriceTable(path.join(dir, 'missing.json'))).toThrow(/--pricing \/ SESSION_PIPELINE_PRICING/);
  });

  it('is deterministic whatever the key order', () => {
    const a = new PriceTable({ 'x-20250101': { input_cost_per_token: 1, output_cost_per_token: 1 }, 'x-20250601': { input_cost_per_token: 2, output_cost_per_token: 2 } }, 't');
    const b = new PriceTable({ 'x-20250601': { input_cost_per_token: 2, output_cost_per_token: 2 }, 'x-20250101': { input_cost_per_token: 1, output_cost_per_token: 1 } }, 't');
    expect(a.lookup('x')!.entry).toBe('x-20250601');
    expect(b.lookup('x')!.entry).toBe('x-20250601');
    expect(a.fingerprint).toBe(b.fingerprint);
  });
});
