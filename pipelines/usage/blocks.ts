/**
 * 5-hour billing windows ("blocks"), as ccusage 20 defines them. Pure: the
 * messages and the clock are arguments.
 *
 * Messages in time order. A block starts at the UTC hour of its first message
 * (floored) and lasts 5 h. A message more than 5 h after its block's start,
 * or more than 5 h after the previous message, starts a new block (strictly
 * more: a message exactly 5 h after the start stays in the block, as in
 * ccusage's `identifySessionBlocks`). A block is active while the clock is
 * before its end and less than 5 h after its last message.
 *
 * The burn rate of an active block is over the span from its first to its last
 * message: all tokens (input, output, cache creation and reads) per minute and
 * cost per hour; the projection extends that rate to the block's end. Both are
 * null for a block whose messages share one instant (no span to measure).
 *
 * ccusage also emits "gap" blocks, empty spans between activity; they hold no
 * usage, so they are left out here (docs/usage.md).
 */

export const BLOCK_MS = 5 * 3_600_000;
export const HOUR_MS = 3_600_000;

export interface BlockMessage {
  /** Epoch ms. */
  ts: number;
  model: string | null;
  synthetic: boolean;
  input: number;
  output: number;
  cacheCreation: number;
  cacheRead: number;
  /** USD at the active price version; null when the model is unpriced. */
  cost: number | null;
}

export interface Block {
  start: number;
  end: number;
  lastActivity: number;
  active: boolean;
  messages: number;
  input: number;
  output: number;
  cacheCreation: number;
  cacheRead: number;
  /** Over priced messages; null when every message is unpriced. */
  cost: number | null;
  /** Models in first-use order (no <synthetic>), as ccusage lists them. */
  models: string[];
  unpricedModels: string[];
  /** Active blocks with a span only. */
  burnTokensPerMinute: number | null;
  burnCostPerHour: number | null;
  projectedTokens: number | null;
  projectedCost: number | null;
}

export const blockTokens = (b: Pick<Block, 'input' | 'output' | 'cacheCreation' | 'cacheRead'>) => b.input + b.output + b.cacheCreation + b.cacheRead;

/** The blocks of `messages` (sorted by `ts`), judged active against `now`. */
export function identifyBlocks(messages: readonly BlockMessage[], now: number, blockMs = BLOCK_MS): Block[] {
  const blocks: Block[] = [];
  let start = 0;
  let from = 0;
  for (let i = 0; i < messages.length; i++) {
    const t = messages[i].ts;
    if (i > 0 && t >= messages[i - 1].ts) {
      if (t - start <= blockMs && t - messages[i - 1].ts <= blockMs) continue;
    } else if (i > 0) {
      throw new Error('identifyBlocks: messages must be sorted by ts');
    }
    if (i > from) blocks.push(makeBlock(messages, from, i, start, now, blockMs));
    start = Math.floor(t / HOUR_MS) * HOUR_MS;
    from = i;
  }
  if (messages.length > from) blocks.push(makeBlock(messages, from, messages.length, start, now, blockMs));
  return blocks;
}

function makeBlock(messages: readonly BlockMessage[], from: number, to: number, start: number, now: number, blockMs: number): Block {
  const end = start + blockMs;
  const first = messages[from].ts;
  const last = messages[to - 1].ts;
  const b: Block = {
    start,
    end,
    lastActivity: last,
    active: now - last < blockMs && now < end,
    messages: to - from,
    input: 0,
    output: 0,
    cacheCreation: 0,
    cacheRead: 0,
    cost: null,
    models: [],
    unpricedModels: [],
    burnTokensPerMinute: null,
    burnCostPerHour: null,
    projectedTokens: null,
    projectedCost: null,
  };
  const models = new Set<string>();
  const unpriced = new Set<string>();
  for (let i = from; i < to; i++) {
    const m = messages[i];
    b.input += m.input;
    b.output += m.output;
    b.cacheCreation += m.cacheCreation;
    b.cacheRead += m.cacheRead;
    if (m.cost !== null) b.cost = (b.cost ?? 0) + m.cost;
    else if (!m.synthetic) unpriced.add(m.model ?? '(unknown)');
    if (!m.synthetic && m.model !== null) models.add(m.model);
  }
  b.models = [...models];
  b.unpricedModels = [...unpriced].sort();
  const minutes = (last - first) / 60_000;
  if (b.active && minutes > 0) {
    const tokens = blockTokens(b);
    b.burnTokensPerMinute = tokens / minutes;
    b.burnCostPerHour = b.cost === null ? null : (b.cost / minutes) * 60;
    const remaining = Math.max(0, (end - now) / 60_000);
    b.projectedTokens = Math.round(tokens + b.burnTokensPerMinute * remaining);
    b.projectedCost = b.cost === null || b.burnCostPerHour === null ? null : b.cost + (b.burnCostPerHour / 60) * remaining;
  }
  return b;
}

/** One UTC hour of a series' messages, enough to find where blocks start without the messages. */
export interface HourBucket {
  /** Epoch ms of the hour (floored). */
  hour: number;
  /** The earliest and latest message of the hour (epoch ms). */
  min: number;
  max: number;
  /** The earliest message strictly after the hour's first instant, or null (all at `hour` exactly). */
  minAfter: number | null;
}

/** Messages from `from` (epoch ms) up to, not including, `to` (null: no end): one block's. */
export interface BlockRange {
  from: number;
  to: number | null;
}

/**
 * The message ranges of the blocks `identifyBlocks` would judge active, from hour buckets
 * (sorted by hour, non-empty) instead of every message: `report blocks --active` (the
 * dashboard's overview) loaded all 1,000,000 messages of the dashboard benchmark into JS
 * for this, 9.3 s offline; the buckets of 90 days are ~2,000 rows.
 *
 * It walks the rule of `identifyBlocks`: a new block starts at a message more than `blockMs`
 * after the previous one (only between buckets: within an hour messages are < 1 h apart), or
 * more than `blockMs` after the block's start. The start is an hour, so with `blockMs` a
 * whole number of hours (>= 1) that happens only in the hour `start + blockMs`, at its first
 * message after the hour's first instant (`minAfter`: one exactly at the boundary stays), or
 * at the first message of any later hour.
 */
export function activeBlockRanges(buckets: readonly HourBucket[], now: number, blockMs = BLOCK_MS): BlockRange[] {
  const blocks: { start: number; first: number; last: number }[] = [];
  let cur: { start: number; first: number; last: number } | null = null;
  const open = (start: number, first: number, last: number) => {
    cur = { start, first, last };
    blocks.push(cur);
  };
  for (const b of buckets) {
    if (cur === null || b.min - (cur as { last: number }).last > blockMs) {
      open(b.hour, b.min, b.max);
      continue;
    }
    const c: { start: number; first: number; last: number } = cur;
    const end = c.start + blockMs;
    if (b.hour < end) c.last = b.max;
    else if (b.hour > end) open(b.hour, b.min, b.max);
    else if (b.minAfter === null) c.last = b.max; // every message of the hour exactly at the boundary: it stays
    else {
      if (b.min < b.minAfter) c.last = b.min; // those exactly at the boundary stay in the old block
      open(b.hour, b.minAfter, b.max);
    }
  }
  const ranges: BlockRange[] = [];
  for (let i = 0; i < blocks.length; i++) {
    const k = blocks[i];
    if (now - k.last < blockMs && now < k.start + blockMs) ranges.push({ from: k.first, to: i + 1 < blocks.length ? blocks[i + 1].first : null });
  }
  return ranges;
}

/** The hour buckets of messages sorted by `ts` (the SQL of blocks-report.ts computes the same; tests compare). */
export function hourBuckets(messages: readonly Pick<BlockMessage, 'ts'>[]): HourBucket[] {
  const out: HourBucket[] = [];
  for (const { ts } of messages) {
    const hour = Math.floor(ts / HOUR_MS) * HOUR_MS;
    const last = out[out.length - 1];
    if (!last || last.hour !== hour) out.push({ hour, min: ts, max: ts, minAfter: ts > hour ? ts : null });
    else {
      last.max = ts;
      if (ts > hour && last.minAfter === null) last.minAfter = ts;
    }
  }
  return out;
}
