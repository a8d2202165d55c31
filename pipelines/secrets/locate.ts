/**
 * Where text lives in a transcript line, and what kind of text it is. Pure.
 *
 * - `user_text`: what the user typed (a string `message.content`, `text`
 *   blocks of a user message, a queued prompt).
 * - `assistant_text`: `text` and `thinking` blocks of an assistant message.
 * - `tool_input`: a `tool_use` block's `input`, rendered one `key: value` per
 *   string leaf, so values keep their real line breaks and their key as context.
 * - `tool_result`: a `tool_result` block's content, and the line's
 *   `toolUseResult` (the structured result Claude Code keeps next to it,
 *   which often holds the raw file a tool read or wrote).
 *
 * Images, thinking signatures and base64 payloads are skipped. Identifiers,
 * usage and metadata fields are not text and are not scanned.
 */

/** `malformed_line`: the raw text of a line that is not a JSON object (the processor scans it whole). */
export type Location = 'user_text' | 'tool_input' | 'tool_result' | 'assistant_text' | 'malformed_line';

export interface Located {
  location: Location;
  text: string;
}

/** Keys whose values are binary payloads or opaque signatures, never typed or read text. */
const SKIP_KEYS = new Set(['base64', 'signature']);

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

export function locate(value: Json): Located[] {
  const out: Located[] = [];
  const push = (location: Location, text: unknown) => {
    if (typeof text === 'string' && text.length > 0) out.push({ location, text });
  };
  const type = value.type;
  const message = value.message;
  if (isObj(message)) {
    const role = message.role === 'assistant' || type === 'assistant' ? 'assistant' : 'user';
    const content = message.content;
    if (typeof content === 'string') push(role === 'assistant' ? 'assistant_text' : 'user_text', content);
    else if (Array.isArray(content)) for (const block of content) locateBlock(block, role, push);
  } else if (type === 'queue-operation') {
    push('user_text', value.content);
  }
  if (value.toolUseResult !== undefined && value.toolUseResult !== null) {
    // Mostly a copy of the tool_result (Bash stdout); skip values already located, keep the
    // rest (the raw file a tool read, the original of an edited file).
    const already = new Set(out.filter((l) => l.location === 'tool_result').map((l) => l.text));
    if (typeof value.toolUseResult === 'string') {
      if (!already.has(value.toolUseResult)) push('tool_result', value.toolUseResult);
    } else {
      const text = renderLeaves(value.toolUseResult, already);
      if (text) push('tool_result', text);
    }
  }
  return out;
}

function locateBlock(block: unknown, role: 'user' | 'assistant', push: (l: Location, t: unknown) => void): void {
  if (typeof block === 'string') {
    push(role === 'assistant' ? 'assistant_text' : 'user_text', block);
    return;
  }
  if (!isObj(block)) return;
  switch (block.type) {
    case 'text':
      push(role === 'assistant' ? 'assistant_text' : 'user_text', block.text);
      return;
    case 'thinking':
      push('assistant_text', block.thinking);
      return;
    case 'tool_use':
    case 'server_tool_use':
      if (block.input !== undefined) push('tool_input', renderLeaves(block.input));
      return;
    case 'tool_result':
      toolResultContent(block.content, push);
      return;
    case 'image':
    case 'redacted_thinking':
    case 'document':
      return;
    default:
      // web_search_tool_result and future result blocks: their content is tool output.
      if (typeof block.type === 'string' && block.type.endsWith('_result')) toolResultContent(block.content, push);
  }
}

function toolResultContent(content: unknown, push: (l: Location, t: unknown) => void): void {
  if (typeof content === 'string') push('tool_result', content);
  else if (Array.isArray(content)) {
    for (const c of content) {
      if (typeof c === 'string') push('tool_result', c);
      else if (isObj(c) && c.type === 'text') push('tool_result', c.text);
      else if (isObj(c) && c.type !== 'image') {
        const t = renderLeaves(c);
        if (t) push('tool_result', t);
      }
    }
  }
}

/**
 * Every string leaf of a JSON value as `key: value` lines (the innermost key;
 * array items keep their parent's key), except those in `skip`. Numbers and
 * booleans are not text.
 */
export function renderLeaves(v: unknown, skip?: ReadonlySet<string>): string {
  // An explicit stack, not recursion: depth is whatever JSON.parse accepted (a value 10,000 levels
  // deep is a valid line), and a secret at the bottom is still a secret. Children are pushed in
  // reverse, so leaves come out in document order, as a recursive walk would give them.
  const parts: string[] = [];
  const values: unknown[] = [v];
  const keysOf: string[] = [''];
  while (values.length > 0) {
    const x = values.pop();
    const key = keysOf.pop()!;
    if (typeof x === 'string') {
      if (x.length > 0 && !skip?.has(x)) parts.push(key ? `${key}: ${x}` : x);
      continue;
    }
    if (x === null || typeof x !== 'object') continue;
    if (Array.isArray(x)) {
      for (let i = x.length - 1; i >= 0; i--) {
        values.push(x[i]);
        keysOf.push(key);
      }
      continue;
    }
    const o = x as Json;
    if (o.type === 'image') continue;
    const keys = Object.keys(o);
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i];
      if (SKIP_KEYS.has(k)) continue;
      values.push(o[k]);
      keysOf.push(k);
    }
  }
  return parts.join('\n');
}
