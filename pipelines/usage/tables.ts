/**
 * The usage processor's output tables. Every row is an absolute value that
 * reprocessing reproduces exactly, so loads merge with `ON CONFLICT` and
 * never add: a commit may stage one key twice, and the committer keeps one.
 */
import type { OutputTable } from '../../src/pipeline/processor.js';

/**
 * One row per (file, API message): the line with the largest token total in that file.
 * Raw tokens only, with what pricing needs (the 5-minute / 1-hour cache split,
 * `long_context` for a prompt over 200k tokens, `speed`): cost is computed at read
 * time from the active price version, so a new price table never re-reads a file.
 */
export const MESSAGES: OutputTable = {
  name: 'usage_messages',
  columns: [
    { name: 'session_file', type: 'VARCHAR' },
    { name: 'message_key', type: 'VARCHAR' },
    { name: 'owner', type: 'VARCHAR' },
    { name: 'message_id', type: 'VARCHAR' },
    { name: 'request_id', type: 'VARCHAR' },
    { name: 'ts', type: 'TIMESTAMP' },
    { name: 'model', type: 'VARCHAR' },
    { name: 'speed', type: 'VARCHAR' },
    { name: 'input_tokens', type: 'BIGINT' },
    { name: 'output_tokens', type: 'BIGINT' },
    { name: 'cache_creation_tokens', type: 'BIGINT' },
    { name: 'cache_creation_5m_tokens', type: 'BIGINT' },
    { name: 'cache_creation_1h_tokens', type: 'BIGINT' },
    { name: 'cache_read_tokens', type: 'BIGINT' },
    { name: 'total_tokens', type: 'BIGINT' },
    { name: 'synthetic', type: 'BOOLEAN' },
    { name: 'line_offset', type: 'BIGINT' },
    // Last: migration 2 added it to databases of version 1, where it can only go at the end.
    { name: 'long_context', type: 'BOOLEAN' },
  ],
  key: ['session_file', 'message_key'],
  prefer: 'total_tokens DESC, _seq ASC',
  onConflict: `DO UPDATE SET ts = excluded.ts, model = excluded.model, speed = excluded.speed,
    message_id = excluded.message_id, request_id = excluded.request_id,
    input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
    cache_creation_tokens = excluded.cache_creation_tokens,
    cache_creation_5m_tokens = excluded.cache_creation_5m_tokens,
    cache_creation_1h_tokens = excluded.cache_creation_1h_tokens,
    cache_read_tokens = excluded.cache_read_tokens, total_tokens = excluded.total_tokens,
    synthetic = excluded.synthetic, line_offset = excluded.line_offset, long_context = excluded.long_context
    WHERE excluded.total_tokens > usage_messages.total_tokens`,
};

/** One row per invocation: tool_use (classified as tool / skill / subagent / mcp) or slash command. */
export const EVENTS: OutputTable = {
  name: 'usage_events',
  columns: [
    { name: 'session_file', type: 'VARCHAR' },
    { name: 'event_id', type: 'VARCHAR' },
    { name: 'owner', type: 'VARCHAR' },
    { name: 'ts', type: 'TIMESTAMP' },
    { name: 'kind', type: 'VARCHAR' },
    { name: 'name', type: 'VARCHAR' },
    { name: 'tool', type: 'VARCHAR' },
    { name: 'mcp_server', type: 'VARCHAR' },
    { name: 'mcp_tool', type: 'VARCHAR' },
    { name: 'line_offset', type: 'BIGINT' },
  ],
  key: ['session_file', 'event_id'],
  prefer: '_seq ASC',
  onConflict: 'DO NOTHING',
};

/** One row per tool_result: joined to its tool_use in views, so a late result never updates an event row. */
export const TOOL_RESULTS: OutputTable = {
  name: 'usage_tool_results',
  columns: [
    { name: 'session_file', type: 'VARCHAR' },
    { name: 'tool_use_id', type: 'VARCHAR' },
    { name: 'is_error', type: 'BOOLEAN' },
  ],
  key: ['session_file', 'tool_use_id'],
  prefer: 'is_error DESC, _seq ASC',
  onConflict: 'DO UPDATE SET is_error = true WHERE excluded.is_error',
};

/** One row per file: its session and header facts, rewritten with absolute values from carry state. */
export const FILES: OutputTable = {
  name: 'usage_files',
  columns: [
    { name: 'session_file', type: 'VARCHAR' },
    { name: 'owner', type: 'VARCHAR' },
    { name: 'session_id', type: 'VARCHAR' },
    { name: 'subagent', type: 'BOOLEAN' },
    { name: 'first_ts', type: 'TIMESTAMP' },
    { name: 'last_ts', type: 'TIMESTAMP' },
    { name: 'cwd', type: 'VARCHAR' },
    { name: 'git_branch', type: 'VARCHAR' },
    { name: 'cc_version', type: 'VARCHAR' },
    { name: 'lines', type: 'BIGINT' },
  ],
  key: ['session_file'],
  // Absolute values: a new row replaces the old one (DELETE + INSERT is cheaper than ON CONFLICT in DuckDB).
  replace: {},
};

/**
 * Which price-table entry prices a model name under a price version (NULL: unpriced).
 * Not per file: the processor stages the models of every batch (a few rows), and a new
 * price version maps every model already stored (price-versions.ts), so the views'
 * join finds each model however old its rows are.
 */
export const PRICE_MODELS: OutputTable = {
  name: 'usage_price_models',
  columns: [
    { name: 'price_version', type: 'INTEGER' },
    { name: 'model', type: 'VARCHAR' },
    { name: 'entry', type: 'VARCHAR' },
  ],
  key: ['price_version', 'model'],
  prefer: '_seq ASC',
  onConflict: 'DO NOTHING',
};

/**
 * The message keys, event ids and tool-use ids whose cross-file picks may be stale (picks.ts):
 * each commit stages one row per message, event and tool result it stages; a fold forgets them.
 */
export const DIRTY: OutputTable = {
  name: 'usage_dirty_keys',
  columns: [{ name: 'key', type: 'VARCHAR' }],
  key: ['key'],
  prefer: '_seq ASC',
  onConflict: 'DO NOTHING',
  // A daemon stopped between folds leaves keys here that a run --once (which folds) does not.
  pending: true,
};

/** The tables that hold rows of one session file: what a retraction deletes. */
export const FILE_TABLES: readonly OutputTable[] = [MESSAGES, EVENTS, TOOL_RESULTS, FILES];
export const TABLES: readonly OutputTable[] = [...FILE_TABLES, PRICE_MODELS, DIRTY];
