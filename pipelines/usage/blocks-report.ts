/**
 * `report blocks` (and the `blocks` shortcut, `GET /reports/blocks`): the
 * 5-hour billing windows of blocks.ts over deduplicated messages, priced at
 * the active price version. The whole root is one series by default (one
 * account, as on a laptop); `--by-owner` makes one series per owner (a server).
 */
import { int, renderTable, usd } from '../../src/pipeline/table.js';
import type { ReadQuery, ReportDefinition, ReportParam } from '../../src/pipeline/report.js';
import { ReportParamError } from '../../src/pipeline/report.js';
import { ORDER_PARAM, parseWhen, SINCE_PARAM, TimeParamError, TZ_PARAM, UNTIL_PARAM, whenRange } from '../../src/pipeline/report-time.js';
import { activeBlockRanges, blockTokens, HOUR_MS, identifyBlocks, type Block, type BlockMessage, type BlockRange, type HourBucket } from './blocks.js';
import { hasUsage } from './report.js';
import { sourcesOf, type UsageSources } from './sources.js';
import { renderCsv } from './csv.js';
import { epochMsOf, kindOf, tsFromEpochMs } from '../../src/state/dialect.js';
import { num } from '../../src/state/row-values.js';

export interface BlockRow {
  /** Only with --by-owner. */
  owner?: string;
  start: string;
  end: string;
  last_activity: string;
  active: boolean;
  messages: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
  cost_usd: number | null;
  models: string[];
  /** Active blocks only (null otherwise): all tokens per minute over the block's span so far. */
  burn_rate_tokens_per_minute: number | null;
  /** The cost at the block's end, if the burn rate holds. */
  projected_cost_usd: number | null;
  burn_rate_cost_per_hour: number | null;
  projected_total_tokens: number | null;
  total_tokens: number;
  unpriced_models: string[];
}

export interface BlockTotals {
  blocks: number;
  messages: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
  total_tokens: number;
  cost_usd: number | null;
  models: string[];
  unpriced_models: string[];
}

export interface BlocksResult {
  rows: BlockRow[];
  totals: BlockTotals;
}

const micro = (v: number | null): number | null => (v === null ? null : Math.round(v * 1e6) / 1e6);
const iso = (ms: number) => new Date(ms).toISOString();

export function blockRow(b: Block, owner?: string): BlockRow {
  return {
    ...(owner === undefined ? {} : { owner }),
    start: iso(b.start),
    end: iso(b.end),
    last_activity: iso(b.lastActivity),
    active: b.active,
    messages: b.messages,
    input_tokens: b.input,
    output_tokens: b.output,
    cache_creation_tokens: b.cacheCreation,
    cache_read_tokens: b.cacheRead,
    cost_usd: micro(b.cost),
    models: b.models,
    burn_rate_tokens_per_minute: b.burnTokensPerMinute === null ? null : Math.round(b.burnTokensPerMinute * 1000) / 1000,
    projected_cost_usd: micro(b.projectedCost),
    burn_rate_cost_per_hour: micro(b.burnCostPerHour),
    projected_total_tokens: b.projectedTokens,
    total_tokens: blockTokens(b),
    unpriced_models: b.unpricedModels,
  };
}

export function blockTotals(blocks: readonly Block[]): BlockTotals {
  const t: BlockTotals = {
    blocks: blocks.length,
    messages: 0,
    input_tokens: 0,
    output_tokens: 0,
    cache_creation_tokens: 0,
    cache_read_tokens: 0,
    total_tokens: 0,
    cost_usd: null,
    models: [],
    unpriced_models: [],
  };
  const models = new Set<string>();
  const unpriced = new Set<string>();
  let cost: number | null = null;
  for (const b of blocks) {
    t.messages += b.messages;
    t.input_tokens += b.input;
    t.output_tokens += b.output;
    t.cache_creation_tokens += b.cacheCreation;
    t.cache_read_tokens += b.cacheRead;
    if (b.cost !== null) cost = (cost ?? 0) + b.cost;
    for (const m of b.models) models.add(m);
    for (const m of b.unpricedModels) unpriced.add(m);
  }
  t.total_tokens = t.input_tokens + t.output_tokens + t.cache_creation_tokens + t.cache_read_tokens;
  t.cost_usd = blocks.length === 0 ? 0 : micro(cost);
  t.models = [...models].sort();
  t.unpriced_models = [...unpriced].sort();
  return t;
}

export interface BlocksQuery {
  tz: string;
  since?: string;
  until?: string;
  owner?: string;
  byOwner: boolean;
  activeOnly: boolean;
  order: 'asc' | 'desc';
  now: number;
}

/** The filters of a blocks query, as SQL over usage_messages_dedup. */
function filterOf(q: ReadQuery, f: BlocksQuery): { where: string[]; params: (string | number)[] } {
  const kind = kindOf(q);
  const where = ['ts IS NOT NULL'];
  const params: (string | number)[] = [];
  const r = whenRange(f.since, f.until, f.tz);
  if (r.since !== undefined) where.push(`ts >= ${tsFromEpochMs(kind, `CAST($${params.push(r.since)} AS BIGINT)`)}`);
  if (r.until !== undefined) where.push(`ts < ${tsFromEpochMs(kind, `CAST($${params.push(r.until)} AS BIGINT)`)}`);
  if (f.owner !== undefined) where.push(`owner = $${params.push(f.owner)}`);
  return { where, params };
}

const seriesKey = (f: BlocksQuery) => (f.byOwner ? 'owner' : `'' AS owner`);

/**
 * Where each series' active blocks lie (blocks.ts `activeBlockRanges`), from its messages'
 * hour buckets: ~2,000 rows for 90 days, where the messages are 1,000,000 in the dashboard
 * benchmark.
 */
async function activeRanges(q: ReadQuery, f: BlocksQuery, src: UsageSources): Promise<Map<string, BlockRange[]>> {
  const kind = kindOf(q);
  const { where, params } = filterOf(q, f);
  const rows = await q.all<Record<string, unknown>>(
    `SELECT owner, hour, min(t) AS min_t, max(t) AS max_t, min(t) FILTER (WHERE t > hour) AS min_after
     FROM (SELECT owner, t, CAST(floor(t / ${HOUR_MS}.0) AS BIGINT) * ${HOUR_MS} AS hour
           FROM (SELECT ${seriesKey(f)}, ${epochMsOf(kind, 'ts')} AS t FROM ${src.times} d WHERE ${where.join(' AND ')}) m) b
     GROUP BY owner, hour ORDER BY owner, hour`,
    params,
  );
  const buckets = new Map<string, HourBucket[]>();
  for (const r of rows) {
    const owner = String(r.owner);
    let list = buckets.get(owner);
    if (!list) buckets.set(owner, (list = []));
    list.push({ hour: num(r.hour), min: num(r.min_t), max: num(r.max_t), minAfter: r.min_after === null ? null : num(r.min_after) });
  }
  const ranges = new Map<string, BlockRange[]>();
  for (const [owner, list] of buckets) {
    const active = activeBlockRanges(list, f.now);
    if (active.length > 0) ranges.set(owner, active);
  }
  return ranges;
}

/**
 * Messages with a timestamp, in series order: by owner first with --by-owner. With `ranges`,
 * only those in them (each series' active blocks).
 */
async function loadBlockMessages(q: ReadQuery, f: BlocksQuery, src: UsageSources, ranges?: Map<string, BlockRange[]>): Promise<Map<string, BlockMessage[]>> {
  const kind = kindOf(q);
  const { where, params } = filterOf(q, f);
  if (ranges) {
    // On `ts` itself, not its epoch: the bound then reaches the picks' scan (DuckDB's zone maps),
    // before the view prices a row (1,000,000 messages: 400 -> 33 ms). The same rows: a bound is
    // whole milliseconds, and epochMsOf rounds down.
    const at = (ms: number) => tsFromEpochMs(kind, `CAST($${params.push(ms)} AS BIGINT)`);
    const any: string[] = [];
    for (const [owner, list] of ranges) {
      for (const r of list) {
        const parts = [...(f.byOwner ? [`owner = $${params.push(owner)}`] : []), `ts >= ${at(r.from)}`];
        if (r.to !== null) parts.push(`ts < ${at(r.to)}`);
        any.push(`(${parts.join(' AND ')})`);
      }
    }
    if (any.length === 0) return new Map();
    where.push(`(${any.join(' OR ')})`);
  }
  const rows = await q.all<Record<string, unknown>>(
    `SELECT ${seriesKey(f)}, ${epochMsOf(kind, 'ts')} AS t, model, synthetic, input_tokens, output_tokens,
       cache_creation_tokens, cache_read_tokens, cost_usd
     FROM ${src.messages} d WHERE ${where.join(' AND ')}
     ORDER BY owner, t, message_key`,
    params,
  );
  const series = new Map<string, BlockMessage[]>();
  for (const row of rows) {
    const owner = String(row.owner);
    let list = series.get(owner);
    if (!list) series.set(owner, (list = []));
    list.push({
      ts: num(row.t),
      model: row.model === null ? null : String(row.model),
      synthetic: row.synthetic === true,
      input: num(row.input_tokens),
      output: num(row.output_tokens),
      cacheCreation: num(row.cache_creation_tokens),
      cacheRead: num(row.cache_read_tokens),
      cost: row.cost_usd === null || row.cost_usd === undefined ? null : num(row.cost_usd),
    });
  }
  return series;
}

export async function blocksReport(q: ReadQuery, f: BlocksQuery): Promise<BlocksResult> {
  // --active needs only the active blocks' messages, found from hour buckets (activeRanges).
  const src = await sourcesOf(q);
  const series = await loadBlockMessages(q, f, src, f.activeOnly ? await activeRanges(q, f, src) : undefined);
  const all: { owner: string; block: Block }[] = [];
  for (const [owner, messages] of series) for (const block of identifyBlocks(messages, f.now)) all.push({ owner, block });
  const kept = f.activeOnly ? all.filter((x) => x.block.active) : all;
  // Series by owner, each in time order; --order desc reverses time within the whole list.
  kept.sort((a, b) => (f.order === 'desc' ? b.block.start - a.block.start : a.block.start - b.block.start) || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
  return {
    rows: kept.map((x) => blockRow(x.block, f.byOwner ? x.owner : undefined)),
    totals: blockTotals(kept.map((x) => x.block)),
  };
}

export const EMPTY_BLOCKS: BlocksResult = { rows: [], totals: blockTotals([]) };


/** `YYYY-MM-DD HH:MM` in `tz`. */
function local(isoText: string, tz: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
    .formatToParts(new Date(isoText))
    .reduce<Record<string, string>>((o, p) => ((o[p.type] = p.value), o), {});
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

export function renderBlocksTable(r: BlocksResult, tz: string, byOwner: boolean): string {
  const head = [...(byOwner ? ['owner'] : []), `block start (${tz})`, 'last activity', 'models', 'messages', 'input', 'output', 'cache create', 'cache read', 'total tokens', 'cost (USD)'];
  const t: string[][] = [];
  const notes: string[] = [];
  for (const b of r.rows) {
    t.push([
      ...(byOwner ? [b.owner ?? ''] : []),
      local(b.start, tz) + (b.active ? ' (active)' : ''),
      local(b.last_activity, tz),
      b.models.join(', '),
      int(b.messages),
      int(b.input_tokens),
      int(b.output_tokens),
      int(b.cache_creation_tokens),
      int(b.cache_read_tokens),
      int(b.total_tokens),
      usd(b.cost_usd) + (b.cost_usd !== null && b.unpriced_models.length > 0 ? ' *' : ''),
    ]);
    if (b.active) {
      const who = byOwner ? `${b.owner}: ` : '';
      const burn = b.burn_rate_tokens_per_minute === null ? 'no burn rate yet (one instant of activity)' : `burn ${int(Math.round(b.burn_rate_tokens_per_minute))} tokens/min, ${usd(b.burn_rate_cost_per_hour)}/h; at ${local(b.end, tz)}: ${int(b.projected_total_tokens ?? 0)} tokens, ${usd(b.projected_cost_usd)}`;
      notes.push(`active block ${who}${burn}`);
    }
  }
  const tot = r.totals;
  t.push([...(byOwner ? [''] : []), `total (${tot.blocks} blocks)`, '', tot.models.join(', '), int(tot.messages), int(tot.input_tokens), int(tot.output_tokens), int(tot.cache_creation_tokens), int(tot.cache_read_tokens), int(tot.total_tokens), usd(tot.cost_usd) + (tot.cost_usd !== null && tot.unpriced_models.length > 0 ? ' *' : '')]);
  if (tot.unpriced_models.length > 0) notes.push(`* partial: unpriced models ${tot.unpriced_models.join(', ')} (their tokens are counted)`);
  return `${renderTable(head, t, head.map((h, i) => (i < head.length - 7 ? 'left' : 'right')))}\n${notes.map((n) => n + '\n').join('')}`;
}

const BLOCK_FIELDS = [
  'owner',
  'start',
  'end',
  'last_activity',
  'active',
  'messages',
  'input_tokens',
  'output_tokens',
  'cache_creation_tokens',
  'cache_read_tokens',
  'total_tokens',
  'cost_usd',
  'models',
  'burn_rate_tokens_per_minute',
  'burn_rate_cost_per_hour',
  'projected_total_tokens',
  'projected_cost_usd',
  'unpriced_models',
] as const satisfies readonly (keyof BlockRow)[];

const NOW_PARAM: ReportParam = {
  name: 'now',
  valueName: 'when',
  description: 'judge active blocks at this instant instead of the clock (for replaying a moment)',
  default: 'now',
  parse: (v, now, earlier) => {
    if (v === 'now') return new Date(now).toISOString();
    try {
      return parseWhen('--now', v, now, earlier.tz ?? 'UTC');
    } catch (err) {
      if (err instanceof TimeParamError) throw new ReportParamError(err.message);
      throw err;
    }
  },
};

export const blocksReportDef: ReportDefinition<BlocksResult> = {
  name: 'blocks',
  description: "5-hour billing windows as ccusage counts them, with the active block's burn rate and projection",
  params: [
    TZ_PARAM,
    SINCE_PARAM,
    UNTIL_PARAM,
    { name: 'owner', valueName: 'owner', description: 'only this owner (first path segment under the root)' },
    { name: 'by-owner', flag: true, description: 'one series of blocks per owner (a server) instead of one for the whole root (a laptop)' },
    { name: 'active', short: 'a', flag: true, description: 'only the active block(s)' },
    ORDER_PARAM,
    NOW_PARAM,
  ],
  jsonShape:
    '{"rows": [{"start", "end", "last_activity", "active", "messages", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "cost_usd", "models", "burn_rate_tokens_per_minute", "projected_cost_usd", ...}], "totals": {...}}',
  async run(q, p) {
    if (p.owner !== undefined && p['by-owner'] === 'true') throw new ReportParamError('--owner and --by-owner are exclusive');
    if (!(await hasUsage(q))) return { result: EMPTY_BLOCKS, notice: 'the usage processor has not run on this database' };
    const now = Date.parse(p.now ?? new Date().toISOString());
    return {
      result: await blocksReport(q, {
        tz: p.tz ?? 'UTC',
        since: p.since,
        until: p.until,
        owner: p.owner,
        byOwner: p['by-owner'] === 'true',
        activeOnly: p.active === 'true',
        order: p.order === 'desc' ? 'desc' : 'asc',
        now,
      }),
    };
  },
  table: (r, p) => renderBlocksTable(r, p.tz ?? 'UTC', p['by-owner'] === 'true'),
  csv: (r) => renderCsv(BLOCK_FIELDS, r.rows),
};
