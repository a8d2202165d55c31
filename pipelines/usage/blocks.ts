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
const HOUR_MS = 3_600_000;

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
