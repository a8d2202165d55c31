/**
 * Usage counters on `/metrics`, named as Claude Code's own OpenTelemetry
 * export appears in Prometheus (`claude_code.token.usage` with unit `tokens`,
 * `claude_code.cost.usage` with unit `USD`), so Grafana dashboards made for
 * Claude Code telemetry work on this data, history included:
 *
 * - `claude_code_token_usage_tokens_total{type="input|output|cacheRead|cacheCreation", model, owner}`
 * - `claude_code_cost_usage_USD_total{model, owner}`
 *
 * Computed from committed, deduplicated rows (`usage_messages_dedup`, each API
 * message once across files, attributed to its first file's owner), cost at the
 * active price version: the same figures as `report usage`. Cardinality: one
 * series per (model, owner) seen, times 4 token types; an unpriced model has
 * token series and no cost series (never $0).
 */
import type { MetricSample, ProcessorMetrics } from '../../src/pipeline/metric.js';
import { kindOf } from '../../src/state/dialect.js';
import { num } from '../../src/state/row-values.js';
import { costSum } from './cost-sql.js';

export const TOKENS_METRIC = 'claude_code_token_usage_tokens_total';
export const COST_METRIC = 'claude_code_cost_usage_USD_total';

/** Claude Code's `type` label values, by our column. */
const TOKEN_TYPES = [
  ['input', 'input_tokens'],
  ['output', 'output_tokens'],
  ['cacheRead', 'cache_read_tokens'],
  ['cacheCreation', 'cache_creation_tokens'],
] as const;

export const USAGE_METRICS: ProcessorMetrics = {
  families: [
    { name: TOKENS_METRIC, type: 'counter', labelNames: ['type', 'model', 'owner'], help: 'Tokens used, per type, model and owner (committed, deduplicated messages; Claude Code OTel claude_code.token.usage)' },
    { name: COST_METRIC, type: 'counter', labelNames: ['model', 'owner'], help: 'Cost in USD at the active price version, per model and owner (Claude Code OTel claude_code.cost.usage); unpriced models have no series' },
  ],
  async read(q) {
    const rows = await q.all<Record<string, unknown>>(
      `SELECT coalesce(model, '(unknown)') AS model, owner,
         sum(input_tokens)::BIGINT AS input_tokens, sum(output_tokens)::BIGINT AS output_tokens,
         sum(cache_read_tokens)::BIGINT AS cache_read_tokens, sum(cache_creation_tokens)::BIGINT AS cache_creation_tokens,
         ${costSum(kindOf(q))} AS cost_usd
       FROM usage_messages_dedup GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    const tokens: MetricSample[] = [];
    const cost: MetricSample[] = [];
    for (const r of rows) {
      const model = String(r.model);
      const owner = String(r.owner);
      for (const [type, col] of TOKEN_TYPES) tokens.push({ labels: { type, model, owner }, value: num(r[col]) });
      if (r.cost_usd !== null && r.cost_usd !== undefined) cost.push({ labels: { model, owner }, value: num(r.cost_usd) });
    }
    return new Map([
      [TOKENS_METRIC, tokens],
      [COST_METRIC, cost],
    ]);
  },
};
