/**
 * Turning a framed line into a processor input, or into a recorded bad line.
 * Pure. Every failure keeps the offset and length, so a bad line is skipped
 * exactly (never the file) and can be reported precisely.
 */
import { isUtf8 } from 'node:buffer';
import type { Frame } from './framing.js';
import type { SessionLine } from './line.js';

export type BadLineKind = 'invalid_json' | 'invalid_utf8' | 'not_object' | 'oversize';

export interface BadLine {
  offset: number;
  length: number;
  kind: BadLineKind;
  detail: string;
}

export type Parsed = { ok: true; line: SessionLine } | { ok: false; bad: BadLine };

export function parseFrame(frame: Frame): Parsed {
  if (frame.kind === 'oversize') {
    return {
      ok: false,
      bad: { offset: frame.offset, length: frame.length, kind: 'oversize', detail: `line of ${frame.length} bytes` },
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
    return { ok: false, bad: { offset, length, kind: 'invalid_utf8', detail: 'line is not valid UTF-8' } };
  }
  const text = bytes.toString('utf8', start, end);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    if (text.trim() === '') {
      return { ok: false, bad: { offset, length, kind: 'invalid_json', detail: 'blank line' } };
    }
    return { ok: false, bad: { offset, length, kind: 'invalid_json', detail: jsonErrorDetail(err) } };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      ok: false,
      bad: { offset, length, kind: 'not_object', detail: `JSON ${Array.isArray(value) ? 'array' : typeof value}` },
    };
  }
  return { ok: true, line: { offset, length, value: value as Record<string, unknown> } };
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
