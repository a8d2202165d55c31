/**
 * `usage`: tokens, cost and invocation events per API message, per session.
 *
 * Incremental: a batch is the newly completed lines of one file. Everything
 * written is an absolute value, so any split of a file into batches (and any
 * crash between them) ends in the same rows:
 * - `usage_messages`: per (file, message key) the line with the largest token
 *   total (first on ties). A key split across batches is merged by the
 *   table's ON CONFLICT ... WHERE excluded.total_tokens > total_tokens.
 * - `usage_events` / `usage_tool_results`: keyed by stable ids; a tool_result
 *   that comes later is joined in the views, never written onto the event.
 * - `usage_files`: the file's session and header facts, from carry state.
 *
 * - `usage_price_models`: each model, mapped to its price entry under the
 *   active price version, staged until a batch meeting it commits.
 * - `usage_dirty_keys`: the keys a batch touched, whose cross-file picks the
 *   next fold recomputes (picks.ts, `upkeep`).
 *
 * No cost is stored: rows hold raw tokens, and the views price them at read
 * time from the active price version, which `init` stores and activates
 * (price-versions.ts). `version` is the extraction rules only, so a new price
 * table reads no transcript (see docs/usage.md).
 */
import { defineProcessor, type Processor, type ProcessorTx, type SessionLine } from '../../src/pipeline/processor.js';
import { setting, settingSchemas } from '../../src/config/config.js';
import type { SessionFileRef } from '../../src/discover/session-path.js';
import {
  collectEvents,
  positionalId,
  replaces,
  SYNTHETIC_MODEL,
  usageOf,
  type InvocationEvent,
  type MessageUsage,
  type ToolResult,
  COMMAND_MARKER,
} from './extract.js';
import { isLongContext, loadPriceTable, type PriceTable } from './pricing.js';
import { DIRTY, EVENTS, FILE_TABLES, FILES, MESSAGES, PRICE_MODELS, TABLES, TOOL_RESULTS } from './tables.js';
import { NOTE_FILE_KEYS } from './picks.js';
import { fold, FOLD_IDLE_MS, FOLD_MAX_WAIT_MS } from './fold.js';
import { USAGE_MIGRATIONS } from './migrations.js';
import { ALL_USAGE_REPORTS } from './view-reports.js';
import { USAGE_METRICS } from './metrics.js';
import { EXPORTED } from './views.js';
import { activatePrices } from './price-versions.js';
import { redactor, type Redact } from './redact.js';
import { SECRETS_RULES_SETTING, versionWithRules } from '../shared/credentials/setting.js';

/**
 * Bump when the rows this code writes change meaning (the extraction rules). Prices are not
 * part of it. 2: cost moved from the rows to read time (version 1 was 1_000_000 + the price
 * table's hash). 3: credentials in user-typed fields (skill, subagent, command and MCP names,
 * cwd, git branch) are redacted before they are stored.
 */
export const USAGE_CODE_VERSION = 3;

/**
 * The string values usage reads (Processor.reads): the line fields `processBatch` keeps, and
 * what extract.ts reads of a message (ids, model, speed, block types, tool names and ids, the
 * Skill/Task input fields that name an event). A slash command is found in user text by its
 * marker, so text without one may come elided. The tool output that makes up most bytes
 * (tool_result content, toolUseResult) is never read: a usage-only backfill of 738 MB spent
 * 7.4 of a worker's 12.7 s decoding and parsing it. Keep this list in step with both files.
 */
export const USAGE_READS = {
  keys: [
    // line
    'timestamp', 'cwd', 'gitBranch', 'version', 'sessionId', 'uuid', 'requestId', 'type',
    // message and usage
    'id', 'model', 'speed',
    // content blocks: tool_use, tool_result
    'name', 'tool_use_id',
    // tool_use input naming the event (toolEvent)
    'skill', 'command', 'subagent_type',
  ],
  markers: [COMMAND_MARKER],
};

export interface UsageCarry {
  /** The parent session id read from the lines (2.0 flat `agent-*.jsonl`). */
  sid?: string;
  /** Epoch ms of the first and last timestamped lines. */
  first?: number;
  last?: number;
  cwd?: string;
  branch?: string;
  ver?: string;
  lines: number;
}

export interface UsageOptions {
  /** A price file in LiteLLM's shape; '' or absent for the bundled table. */
  pricing?: string;
  /** `--secrets-rules`: the user's credential rules, redacted like the built-in ones ('' or absent: built-in only). */
  secretsRules?: string;
}

const parseTs = (s: string | null): number | null => {
  if (s === null) return null;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : t;
};
const nonEmpty = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

interface Best {
  u: MessageUsage;
  key: string;
  offset: number;
  ts: string | null;
}

/** The price table a processor runs with, and its price version once `init` stored it. */
interface Pricing {
  table: PriceTable;
  version: number | null;
  /**
   * Models whose price mapping under `version` is committed: the rest are staged with each
   * batch that meets them until one of those commits. Staging every batch's models cost a
   * live commit a table more (3.2 ms of CPU per commit of 80 units, bench:commit-cost); a worker
   * twin, never called back, stages them every batch.
   */
  committed: Set<string>;
}

export function createUsageProcessor(
  opts: UsageOptions = {},
  /** The active price version when already known (a worker thread's twin, see `remote`). */
  priceVersion: number | null = null,
): Processor<UsageCarry> {
  const pricing: Pricing = { table: loadPriceTable(opts.pricing ?? ''), version: priceVersion, committed: new Set() };
  // The secrets processor's rules, the user's included: what it finds, usage does not keep.
  const redact = redactor(opts.secretsRules ?? '');
  return {
    name: 'usage',
    version: versionWithRules(USAGE_CODE_VERSION, redact.userRules),
    migrations: USAGE_MIGRATIONS,
    tables: TABLES,
    reports: ALL_USAGE_REPORTS,
    metrics: USAGE_METRICS,
    reads: USAGE_READS,
    async init({ db }) {
      pricing.version = (await activatePrices(db, pricing.table)).version;
      // activatePrices mapped every stored model under this version.
      const mapped = await db.all<{ model: string }>(`SELECT model FROM ${PRICE_MODELS.name} WHERE price_version = $1`, [pricing.version]);
      pricing.committed = new Set(mapped.map((r) => r.model));
    },
    // A batch of bad lines only changes nothing here (they are recorded by the runner).
    process(batch, tx) {
      if (batch.lines.length > 0) processBatch(pricing, redact, batch.file, batch.lines, batch.carry, tx);
    },
    retract(sessionFile, tx) {
      // Before the delete: the picks of the file's keys are stale until the next fold (picks.ts).
      tx.run(NOTE_FILE_KEYS, [sessionFile]);
      for (const t of FILE_TABLES) tx.run(`DELETE FROM ${t.name} WHERE session_file = $1`, [sessionFile]);
    },
    // The cross-file picks of the keys commits noted, and their rollups, recomputed off the commit path (fold.ts).
    upkeep: { idleMs: FOLD_IDLE_MS, maxWaitMs: FOLD_MAX_WAIT_MS, run: (db) => fold(db).then(() => undefined) },
    // The price version init() activated travels with the recipe (the twin has no database).
    remote: () => ({ module: import.meta.url, factory: 'usageFromRecipe', options: { opts, version: pricing.version } satisfies UsageRecipe }),
  };
}

interface UsageRecipe {
  opts: UsageOptions;
  version: number | null;
}

/** The worker-thread twin (see Processor.remote). */
export function usageFromRecipe(r: UsageRecipe): Processor<UsageCarry> {
  return createUsageProcessor(r.opts, r.version);
}

export const USAGE_SETTINGS = {
  pricing: setting({
    flag: '--pricing <file>',
    env: 'SESSION_PIPELINE_PRICING',
    schema: settingSchemas.optionalPath,
    default: () => '',
    describe: 'your own model price file (LiteLLM JSON shape); default: the bundled table',
  }),
  secretsRules: SECRETS_RULES_SETTING,
};

export default defineProcessor({
  name: 'usage',
  settings: USAGE_SETTINGS,
  reports: ALL_USAGE_REPORTS,
  exports: EXPORTED,
  create: (s) => createUsageProcessor({ pricing: s.pricing, secretsRules: s.secretsRules }),
});

function processBatch(
  pricing: Pricing,
  redact: Redact,
  file: SessionFileRef,
  lines: readonly SessionLine[],
  prev: UsageCarry | undefined,
  tx: ProcessorTx,
): void {
  const sf = file.sessionFile;
  const owner = file.owner;
  const carry: UsageCarry = prev ? { ...prev } : { lines: 0 };
  const flatAgent = file.kind === 'subagent' && file.parentSessionId === undefined;
  const best = new Map<string, Best>();
  const events: InvocationEvent[] = [];
  const results: ToolResult[] = [];
  // Each key once per batch: a tool_use and its result name the same id, and a repeated key
  // makes the load pick one row per key (a window) where distinct keys move as they are.
  const dirty = new Set<string>();
  let firstTs: string | null = null;
  let lastTs: string | null = null;
  let items = 0;

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const v = line.value;
    const rawTs = v.timestamp;
    const ts = typeof rawTs === 'string' ? rawTs : null;
    if (ts !== null) {
      firstTs ??= ts;
      lastTs = ts;
    }
    // Typed by the user (a path, a branch name), so redacted before it is kept, carry included.
    const cwd = nonEmpty(v.cwd);
    if (cwd !== undefined) carry.cwd = redact.text(cwd);
    const branch = nonEmpty(v.gitBranch);
    if (branch !== undefined) carry.branch = redact.text(branch);
    carry.ver = nonEmpty(v.version) ?? carry.ver;
    if (flatAgent && carry.sid === undefined) carry.sid = nonEmpty(v.sessionId);

    const message = v.message;
    if (message === null || typeof message !== 'object') continue;

    const u = usageOf(v);
    if (u !== null) {
      const key = u.key ?? positionalId(sf, line.offset);
      if (replaces(u, best.get(key)?.u)) best.set(key, { u, key, offset: line.offset, ts });
    }

    collectEvents(v, sf, line.offset, events, results);
    if (events.length > 0) {
      const at = parseTs(ts);
      for (const e of events) {
        // Skill, subagent, command and MCP names come from what the user or the model typed.
        tx.insert(EVENTS.name, [sf, e.id, owner, at, e.kind, redact.text(e.name), redact.nullable(e.tool), redact.nullable(e.mcpServer), redact.nullable(e.mcpTool), line.offset]);
        dirty.add(e.id);
      }
      items += events.length;
      events.length = 0;
    }
    if (results.length > 0) {
      for (const r of results) {
        tx.insert(TOOL_RESULTS.name, [sf, r.toolUseId, r.isError]);
        // An event's is_error comes from the results of its id in any file.
        dirty.add(r.toolUseId);
      }
      results.length = 0;
    }
  }

  if (pricing.version === null) throw new Error('usage: init() has not stored the price version');
  const models = new Set<string>();
  for (const b of best.values()) {
    const u = b.u;
    // <synthetic> lines are Claude Code's own, not API calls: kept, at no cost, never "unpriced".
    const synthetic = u.model === SYNTHETIC_MODEL;
    if (!synthetic && u.model !== null) models.add(u.model);
    tx.insert(MESSAGES.name, [
      sf,
      b.key,
      owner,
      u.messageId,
      u.requestId,
      parseTs(b.ts),
      u.model,
      u.speed,
      u.input,
      u.output,
      u.cacheCreation,
      u.cache5m,
      u.cache1h,
      u.cacheRead,
      u.total,
      synthetic,
      b.offset,
      isLongContext(u),
    ]);
    dirty.add(b.key);
  }
  items += best.size;
  for (const k of dirty) tx.insert(DIRTY.name, [k]);
  for (const m of models) {
    if (pricing.committed.has(m)) continue;
    tx.insert(PRICE_MODELS.name, [pricing.version, m, pricing.table.lookup(m)?.entry ?? null]);
    tx.afterCommit(() => pricing.committed.add(m));
  }

  const first = parseTs(firstTs);
  const last = parseTs(lastTs);
  if (carry.first === undefined && first !== null) carry.first = first;
  // The last timestamped line in file order, as `first` is the first: a max over batches made
  // last_ts depend on where batches were cut when timestamps go back (a clean run and an
  // incremental one disagreed).
  if (last !== null) carry.last = last;
  carry.lines += lines.length;
  tx.setCarry(carry);
  const sessionId = file.parentSessionId ?? (flatAgent ? carry.sid : undefined) ?? file.sessionId;
  const before = prev && (file.parentSessionId ?? (flatAgent ? prev.sid : undefined) ?? file.sessionId);
  // The picks of the file's earlier rows carry its session id (picks.ts): note their keys.
  if (before !== undefined && before !== sessionId) tx.run(NOTE_FILE_KEYS, [sf]);
  tx.insert(FILES.name, [
    sf,
    owner,
    sessionId,
    file.kind === 'subagent',
    carry.first ?? null,
    carry.last ?? null,
    carry.cwd ?? null,
    carry.branch ?? null,
    carry.ver ?? null,
    carry.lines,
  ]);
  tx.countItems(items);
}
