/**
 * What one parsed transcript line says about usage. Pure: no I/O, no clock.
 *
 * Claude Code writes one line per content block of an API message and repeats
 * `message.usage` on each; in 1.0.x the early lines carry partial
 * `output_tokens`. A message is identified by `message.id` + `requestId`
 * (`message.id` alone when a gateway omits `requestId`), and for each key the
 * line with the largest token total counts, once (the first such line on ties).
 */

export const SYNTHETIC_MODEL = '<synthetic>';

export interface MessageUsage {
  /** Null when the line has neither `message.id` nor `uuid`: the caller keys it by position. */
  key: string | null;
  messageId: string | null;
  requestId: string | null;
  model: string | null;
  speed: string | null;
  input: number;
  output: number;
  /** All cache-creation tokens; `cache5m + cache1h`. */
  cacheCreation: number;
  cache5m: number;
  cache1h: number;
  cacheRead: number;
  /** input + output + cacheCreation + cacheRead: the dedup rule's measure. */
  total: number;
}

const count = (v: unknown): number => (typeof v === 'number' && v > 0 && v < Number.MAX_SAFE_INTEGER ? Math.trunc(v) : 0);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/**
 * The message key of a line, or null when it has neither `message.id` nor a
 * line `uuid`. (A line with usage but no message id is keyed by its uuid, so
 * a replayed copy still dedups; the caller keys a line with neither by position.)
 */
export function messageKey(line: Record<string, unknown>, message: Record<string, unknown>): string | null {
  const id = str(message.id);
  if (id !== null) {
    const req = str(line.requestId);
    return req === null ? id : `${id}:${req}`;
  }
  const uuid = str(line.uuid);
  return uuid === null ? null : `uuid:${uuid}`;
}

/** The usage a line carries, or null when it has no `message.usage`. */
export function usageOf(line: Record<string, unknown>): MessageUsage | null {
  const message = line.message;
  if (message === null || typeof message !== 'object') return null;
  const m = message as Record<string, unknown>;
  const u = m.usage;
  if (u === null || typeof u !== 'object' || Array.isArray(u)) return null;
  const usage = u as Record<string, unknown>;
  const input = count(usage.input_tokens);
  const output = count(usage.output_tokens);
  const cacheRead = count(usage.cache_read_input_tokens);
  let cacheCreation = count(usage.cache_creation_input_tokens);
  let cache1h = 0;
  const split = usage.cache_creation;
  if (split !== null && typeof split === 'object') {
    const s = split as Record<string, unknown>;
    const c5 = count(s.ephemeral_5m_input_tokens);
    cache1h = count(s.ephemeral_1h_input_tokens);
    // The aggregate field is authoritative; the split only apportions it.
    if (cacheCreation === 0) cacheCreation = c5 + cache1h;
    if (cache1h > cacheCreation) cache1h = cacheCreation;
  }
  return {
    key: messageKey(line, m),
    messageId: str(m.id),
    requestId: str(line.requestId),
    model: str(m.model),
    speed: str(usage.speed),
    input,
    output,
    cacheCreation,
    cache5m: cacheCreation - cache1h,
    cache1h,
    cacheRead,
    total: input + output + cacheCreation + cacheRead,
  };
}

/** The dedup rule: does `next` replace `current` for the same key? (Largest total; the first on ties.) */
export function replaces(next: MessageUsage, current: MessageUsage | undefined): boolean {
  return current === undefined || next.total > current.total;
}

export type EventKind = 'tool' | 'skill' | 'subagent' | 'mcp' | 'command';

export interface InvocationEvent {
  /** Stable: the tool_use id, `cmd:<line uuid>`, or a positional id from the caller. */
  id: string;
  kind: EventKind;
  /** The group this event reports under: tool name, skill, subagent type, `server/tool`, or `/command`. */
  name: string;
  /** The tool name (null for slash commands). */
  tool: string | null;
  mcpServer: string | null;
  mcpTool: string | null;
}

export interface ToolResult {
  toolUseId: string;
  isError: boolean;
}

/** Classify one tool_use block. */
export function toolEvent(id: string, tool: string, input: unknown): InvocationEvent {
  const args = input !== null && typeof input === 'object' ? (input as Record<string, unknown>) : {};
  if (tool === 'Skill') {
    const skill = str(args.skill) ?? str(args.command) ?? str(args.name) ?? '(unknown)';
    return { id, kind: 'skill', name: skill, tool, mcpServer: null, mcpTool: null };
  }
  if (tool === 'Task' || tool === 'Agent') {
    return { id, kind: 'subagent', name: str(args.subagent_type) ?? '(unspecified)', tool, mcpServer: null, mcpTool: null };
  }
  if (tool.startsWith('mcp__')) {
    const sep = tool.indexOf('__', 5);
    const server = sep > 5 ? tool.slice(5, sep) : tool.slice(5);
    const name = sep > 5 ? tool.slice(sep + 2) : '';
    return { id, kind: 'mcp', name: `${server}/${name}`, tool, mcpServer: server, mcpTool: name };
  }
  return { id, kind: 'tool', name: tool, tool, mcpServer: null, mcpTool: null };
}

const COMMAND_OPEN = '<command-name>';
/** What marks user text naming a slash command: text without it names none (see USAGE_READS). */
export const COMMAND_MARKER = COMMAND_OPEN;
const COMMAND_CLOSE = '</command-name>';

/** The slash command named in user text (`<command-name>/name</command-name>`), with its leading `/`. */
export function commandName(text: string): string | null {
  const start = text.indexOf(COMMAND_OPEN);
  if (start < 0) return null;
  const from = start + COMMAND_OPEN.length;
  const end = text.indexOf(COMMAND_CLOSE, from);
  if (end < 0) return null;
  const name = text.slice(from, end).trim();
  if (name === '') return null;
  return name.startsWith('/') ? name : `/${name}`;
}

/** An id for an item that carries none: unique per file and line. */
export const positionalId = (sessionFile: string, offset: number): string => `${sessionFile}@${offset}`;

/**
 * Invocation events and tool results of one line, appended to `events` and
 * `results`. `sessionFile` and `offset` make ids for blocks that carry none.
 */
export function collectEvents(
  line: Record<string, unknown>,
  sessionFile: string,
  offset: number,
  events: InvocationEvent[],
  results: ToolResult[],
): void {
  const message = line.message;
  if (message === null || typeof message !== 'object') return;
  const content = (message as Record<string, unknown>).content;
  const isUser = line.type === 'user';
  if (typeof content === 'string') {
    if (isUser) pushCommand(line, content, sessionFile, offset, events);
    return;
  }
  if (!Array.isArray(content)) return;
  for (let i = 0; i < content.length; i++) {
    const block = content[i] as Record<string, unknown> | null;
    if (block === null || typeof block !== 'object') continue;
    const type = block.type;
    if (type === 'tool_use') {
      const tool = str(block.name);
      if (tool === null) continue;
      events.push(toolEvent(str(block.id) ?? `${positionalId(sessionFile, offset)}:${i}`, tool, block.input));
    } else if (type === 'tool_result') {
      const id = str(block.tool_use_id);
      if (id !== null) results.push({ toolUseId: id, isError: block.is_error === true });
    } else if (type === 'text' && isUser && typeof block.text === 'string') {
      pushCommand(line, block.text, sessionFile, offset, events);
    }
  }
}

function pushCommand(
  line: Record<string, unknown>,
  text: string,
  sessionFile: string,
  offset: number,
  events: InvocationEvent[],
): void {
  const name = commandName(text);
  if (name === null) return;
  const uuid = str(line.uuid);
  events.push({
    id: `cmd:${uuid ?? positionalId(sessionFile, offset)}`,
    kind: 'command',
    name,
    tool: null,
    mcpServer: null,
    mcpTool: null,
  });
}
