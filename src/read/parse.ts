/**
 * Turning a framed line into a processor input, or into a recorded bad line.
 * Pure. Every failure keeps the offset, length and line number, so a bad line
 * is skipped exactly (never the file) and can be reported precisely. A bad
 * line keeps its text too (not an oversize one: it was never buffered), for
 * processors that must see every byte (secrets); it is never stored or logged.
 */
import { isUtf8 } from 'node:buffer';
import type { Frame } from './framing.js';
import type { SessionLine } from './line.js';
import { liftText, type CompiledLift } from './lift.js';

export type BadLineKind = 'invalid_json' | 'invalid_utf8' | 'not_object' | 'oversize';

export interface BadLine {
  offset: number;
  length: number;
  /** 1-based physical line number in the file. */
  line: number;
  kind: BadLineKind;
  /** Why, never the content (stored in session_bad_lines and logged). */
  detail: string;
  /**
   * The line's text without its newline (invalid UTF-8 decoded with U+FFFD), for
   * processors that scan raw text; absent for `oversize` lines. Never store or log it.
   */
  text?: string;
}

export type Parsed = { ok: true; line: SessionLine } | { ok: false; bad: BadLine };

/** Bytes a JSON value can begin with: { [ " - 0-9 t f n. */
const MAY_START_JSON: boolean[] = (() => {
  const t: boolean[] = new Array(256).fill(false);
  for (const c of '{["-0123456789tfn') t[c.charCodeAt(0)] = true;
  return t;
})();

/**
 * `line`: the frame's 1-based line number in the file. `lift`: what the processors read of
 * string values (lift.ts); long values they do not read come as `""`. Null: the whole line.
 */
export function parseFrame(frame: Frame, line: number, lift: CompiledLift | null = null): Parsed {
  if (frame.kind === 'oversize') {
    return {
      ok: false,
      bad: { offset: frame.offset, length: frame.length, line, kind: 'oversize', detail: `line of ${frame.length} bytes` },
    };
  }
  const { bytes, offset } = frame;
  const length = bytes.length;
  // Strip the newline and a Windows CR before it.
  let end = length - 1;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  // A UTF-8 byte order mark opens files written by some Windows tools; JSON.parse refuses it,
  // which cost such a file its first line. Only at offset 0: anywhere else it is content.
  const start = offset === 0 && end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  if (!isUtf8(bytes.subarray(start, end))) {
    return { ok: false, bad: { offset, length, line, kind: 'invalid_utf8', detail: 'line is not valid UTF-8', text: bytes.toString('utf8', start, end) } };
  }
  // A line that cannot begin a JSON value is refused without JSON.parse: its exception (a stack
  // trace each) made 1M lines of `x` cost several times what 1M good lines cost.
  let first = start;
  while (first < end && (bytes[first] === 0x20 || bytes[first] === 0x09 || bytes[first] === 0x0d)) first++;
  if (first === end) return { ok: false, bad: { offset, length, line, kind: 'invalid_json', detail: 'blank line' } };
  if (!MAY_START_JSON[bytes[first]]) {
    const text = bytes.toString('utf8', start, end);
    return { ok: false, bad: { offset, length, line, kind: 'invalid_json', detail: 'not JSON: no JSON value begins with this byte', text } };
  }
  // Lifted (lift.ts): the reduced text parses iff the line does, so only a good object is taken
  // from it; anything else is parsed whole below, for the same error and the full text.
  const reduced = lift === null ? null : liftText(bytes, first, end, lift);
  if (reduced !== null) {
    const v = tryParse(reduced);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return { ok: true, line: { offset, length, line, value: v as Record<string, unknown> } };
  }
  const text = bytes.toString('utf8', start, end);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    if (text.trim() === '') {
      return { ok: false, bad: { offset, length, line, kind: 'invalid_json', detail: 'blank line' } };
    }
    return { ok: false, bad: { offset, length, line, kind: 'invalid_json', detail: jsonErrorDetail(err), text } };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ok: false,
      bad: { offset, length, line, kind: 'not_object', detail: `JSON ${Array.isArray(value) ? 'array' : typeof value}`, text },
    };
  }
  return { ok: true, line: { offset, length, line, value: value as Record<string, unknown> } };
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * V8 quotes the bad input around the error in its message (`Unexpected token
 * 'g', ..."content": ghp_abcdef"... is not valid JSON`). Transcripts hold secrets and this
 * detail is stored and logged, so keep the reason, never the content.
 */
export function jsonErrorDetail(err: unknown): string {
  return String((err as Error)?.message ?? err)
    .replace(/, (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, ' (not valid JSON)')
    .slice(0, 200);
}
