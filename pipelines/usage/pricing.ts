/**
 * Model prices and the cost of one API message. Pure apart from reading the
 * price file once at start-up.
 *
 * The price file has LiteLLM's shape: `{ "<model>": { input_cost_per_token,
 * output_cost_per_token, cache_creation_input_token_cost,
 * cache_read_input_token_cost, *_above_200k_tokens, provider_specific_entry } }`.
 * The bundled table is `pricing.json` next to this file (no network, ever): every
 * plain `claude-*` entry of LiteLLM's `model_prices_and_context_window.json` at commit
 * 00035b69f416be24e2e323c13198d9b7d2d1bdf9, plus four models that table lists only
 * under Bedrock names (`claude-3-5-haiku-20241022`, `claude-3-5-sonnet-20240620`,
 * `claude-3-5-sonnet-20241022`, `claude-3-sonnet-20240229`): 28 entries, vendored
 * byte for byte from test/fixtures/pricing/claude-pricing.json.
 *
 * A table is not baked into rows: it is stored as a price version
 * (price-versions.ts) and the views price every message at read time.
 *
 * Rules (Anthropic list prices):
 * - 5-minute cache writes at `cache_creation_input_token_cost`;
 *   1-hour cache writes at 2x the input price (the table's own
 *   `cache_creation_input_token_cost_above_1hr` is ignored: it is wrong for
 *   `claude-3-haiku-20240307` and `claude-3-opus-20240229`, 6e-06 for both).
 * - A request whose prompt (input + cache creation + cache read) exceeds 200k
 *   tokens is priced at the `*_above_200k_tokens` rates, where the table has
 *   them, for every token category (output included).
 * - `usage.speed == "fast"` multiplies the cost by `provider_specific_entry.fast`
 *   when the entry has one.
 * - A model the table does not know is unpriced (`null`), never $0.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { ConfigError } from '../../src/config/config.js';
import bundled from './pricing.json' with { type: 'json' };

export const LONG_CONTEXT_THRESHOLD = 200_000;
/** The 1-hour cache write rate, as a multiple of the input rate. */
export const CACHE_1H_INPUT_MULTIPLIER = 2;
/** Fallbacks for a custom price file that omits the cache rates. */
const CACHE_5M_INPUT_MULTIPLIER = 1.25;
const CACHE_READ_INPUT_MULTIPLIER = 0.1;

export interface Rates {
  input: number;
  output: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
}

export interface ModelPrice {
  /** The price-table entry that matched. */
  entry: string;
  base: Rates;
  /** Rates for requests whose prompt exceeds 200k tokens (base rates where the table has none). */
  longContext: Rates | null;
  /** Cost multiplier for `speed: "fast"` requests, when the table has one. */
  fast: number | null;
}

export interface TokenCounts {
  input: number;
  output: number;
  /** All cache-creation tokens (5m + 1h). */
  cacheCreation: number;
  /** The 1-hour share of `cacheCreation` (0 when the split is absent). */
  cache1h: number;
  cacheRead: number;
}

const rate = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null);

function parseEntry(name: string, raw: unknown): ModelPrice | null {
  if (raw === null || typeof raw !== 'object') return null;
  const e = raw as Record<string, unknown>;
  const input = rate(e.input_cost_per_token);
  const output = rate(e.output_cost_per_token);
  if (input === null || output === null) return null;
  const base: Rates = {
    input,
    output,
    cacheWrite5m: rate(e.cache_creation_input_token_cost) ?? input * CACHE_5M_INPUT_MULTIPLIER,
    cacheWrite1h: input * CACHE_1H_INPUT_MULTIPLIER,
    cacheRead: rate(e.cache_read_input_token_cost) ?? input * CACHE_READ_INPUT_MULTIPLIER,
  };
  const inAbove = rate(e.input_cost_per_token_above_200k_tokens);
  const outAbove = rate(e.output_cost_per_token_above_200k_tokens);
  const cwAbove = rate(e.cache_creation_input_token_cost_above_200k_tokens);
  const crAbove = rate(e.cache_read_input_token_cost_above_200k_tokens);
  const longContext =
    inAbove === null && outAbove === null && cwAbove === null && crAbove === null
      ? null
      : {
          input: inAbove ?? base.input,
          output: outAbove ?? base.output,
          cacheWrite5m: cwAbove ?? base.cacheWrite5m,
          cacheWrite1h: (inAbove ?? base.input) * CACHE_1H_INPUT_MULTIPLIER,
          cacheRead: crAbove ?? base.cacheRead,
        };
  const pse = e.provider_specific_entry as Record<string, unknown> | undefined;
  const fast = pse && typeof pse === 'object' ? rate(pse.fast) : null;
  return { entry: name, base, longContext, fast };
}

/**
 * A model name as the table would spell it: no provider prefix
 * (`anthropic/`, `bedrock/us.anthropic.`), no Vertex `@` date separator, no
 * Bedrock `-v1:0` revision, no `[1m]` context tag.
 */
export function canonicalModel(model: string): string {
  let s = model.trim().toLowerCase();
  const slash = s.lastIndexOf('/');
  if (slash >= 0) s = s.slice(slash + 1);
  const claude = s.indexOf('claude');
  if (claude > 0 && s[claude - 1] === '.') s = s.slice(claude);
  s = s.replace('@', '-');
  s = s.replace(/\[[^\]]*\]$/, '');
  s = s.replace(/-v\d+(:\d+)?$/, '');
  return s;
}

/** The model name without a trailing `-YYYYMMDD` date. */
export function undatedModel(canonical: string): string {
  return canonical.replace(/-\d{8}$/, '');
}

export class PriceTable {
  private readonly exact = new Map<string, ModelPrice>();
  private readonly canonical = new Map<string, ModelPrice>();
  private readonly undated = new Map<string, ModelPrice>();
  private readonly cache = new Map<string, ModelPrice | null>();

  /**
   * Identifies what the table charges (the parsed rates, not the file's bytes): the same
   * rates in another file, or reformatted, are the same price version.
   */
  readonly fingerprint: string;

  constructor(
    entries: Record<string, unknown>,
    readonly source: string,
  ) {
    // Sorted so the undated alias wins over dated entries, then the latest date: deterministic
    // whatever the file's key order.
    const names = Object.keys(entries).sort((a, b) => {
      const da = undatedModel(canonicalModel(a)) === canonicalModel(a);
      const db = undatedModel(canonicalModel(b)) === canonicalModel(b);
      if (da !== db) return da ? -1 : 1;
      return a < b ? 1 : a > b ? -1 : 0;
    });
    for (const name of names) {
      const p = parseEntry(name, entries[name]);
      if (!p) continue;
      this.exact.set(name, p);
      const c = canonicalModel(name);
      if (!this.canonical.has(c)) this.canonical.set(c, p);
      const u = undatedModel(c);
      if (!this.undated.has(u)) this.undated.set(u, p);
    }
    const rates = [...this.exact.values()].sort((a, b) => (a.entry < b.entry ? -1 : a.entry > b.entry ? 1 : 0));
    this.fingerprint = crypto.createHash('sha1').update(JSON.stringify(rates)).digest('hex');
  }

  /** Every priced entry, by name. */
  entries(): IterableIterator<ModelPrice> {
    return this.exact.values();
  }

  get size(): number {
    return this.exact.size;
  }

  /** The price of a model, matched exactly, then without prefixes, then without date suffixes. */
  lookup(model: string): ModelPrice | null {
    let hit = this.cache.get(model);
    if (hit !== undefined) return hit;
    hit = this.exact.get(model) ?? null;
    if (!hit) {
      const c = canonicalModel(model);
      hit = this.canonical.get(c) ?? this.undated.get(undatedModel(c)) ?? null;
    }
    this.cache.set(model, hit);
    return hit;
  }
}

/** Whether a request is priced at the long-context (above 200k) rates. */
export function isLongContext(t: TokenCounts): boolean {
  return t.input + t.cacheCreation + t.cacheRead > LONG_CONTEXT_THRESHOLD;
}

/**
 * The USD cost of one request: the specification of the rules above. Stored
 * usage is priced by the same arithmetic in SQL at read time (views.ts
 * `MESSAGE_COST`); a property test holds the two equal.
 */
export function costUsd(t: TokenCounts, price: ModelPrice, speed: string | null = null): number {
  const r = price.longContext && isLongContext(t) ? price.longContext : price.base;
  const cache1h = Math.min(t.cache1h, t.cacheCreation);
  const cost =
    t.input * r.input +
    t.output * r.output +
    (t.cacheCreation - cache1h) * r.cacheWrite5m +
    cache1h * r.cacheWrite1h +
    t.cacheRead * r.cacheRead;
  return speed === 'fast' && price.fast !== null ? cost * price.fast : cost;
}

const invalid = (why: string) => new ConfigError(`invalid pricing (--pricing / SESSION_PIPELINE_PRICING): ${why}`);

/** The bundled table, or the user's file (`--pricing` / `SESSION_PIPELINE_PRICING`). */
export function loadPriceTable(file = ''): PriceTable {
  if (!file) return new PriceTable(bundled, 'bundled');
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw invalid(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalid(`${file} is not a JSON object of models`);
  }
  const table = new PriceTable(parsed as Record<string, unknown>, file);
  if (table.size === 0) {
    throw invalid(`${file} has no model with input_cost_per_token and output_cost_per_token`);
  }
  return table;
}
