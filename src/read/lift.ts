/**
 * Lifting: parse a line without the long string values no processor reads.
 * Pure: bytes in, a smaller JSON text out.
 *
 * Decoding and JSON.parse of the whole line were 7.4 of a worker's 12.7 busy
 * seconds on `run --once --processors usage` (3,000 files, 738 MB: parseFrame
 * 4.5 s, Buffer toString 2.9 s), and most of those bytes are tool output
 * (`tool_result` content, `toolUseResult` copies of files) that `usage` and
 * `lines` never look at. So when every processor of a run declares which
 * string values it reads (`Processor.reads`), the reader scans the line's
 * bytes once, replaces each long string value that is not read by `""`, and
 * JSON.parses what is left.
 *
 * Exact by construction:
 * - An elided string is checked to be a valid JSON string lexeme (no raw
 *   control character, only valid escapes); anything else gives the line
 *   back for the full parse. Replacing a valid string lexeme by another keeps
 *   the token sequence, so the reduced text parses iff the line does (and
 *   the caller parses the whole line again for the error of a bad one).
 * - Only values are elided, never keys, and only when their innermost key is
 *   known, is not a kept key, and contains no backslash (an escaped key could
 *   spell a kept one); a value holding a `\u` escape or a marker (which the
 *   escape could spell) is kept. A processor therefore sees every value it
 *   declared exactly as JSON.parse gives it; what it did not declare may be `""`.
 * - Invalid UTF-8 is the caller's check, on the whole line, before this.
 */

/** What the processors of a run read of a line's string values (the union of their `Processor.reads`). */
export interface LiftSpec {
  /** String values whose innermost key is one of these are kept whatever their length. */
  keys: readonly string[];
  /** A string value containing one of these (as raw bytes) is kept whatever its key. */
  markers: readonly string[];
}

/** Strings shorter than this (raw bytes between the quotes) are always kept: eliding them saves less than the check costs. */
export const LIFT_MIN_BYTES = 64;
/** Values nested deeper than this are kept (their keys are not tracked). */
const MAX_DEPTH = 64;

export interface CompiledLift {
  keys: ReadonlySet<string>;
  markers: readonly Buffer[];
}

/** A marker must read the same raw as decoded: JSON may escape `"`, `\\`, `/` and control characters. */
const UNSAFE_MARKER = /["\\/\u0000-\u001f]/;

export function compileLift(spec: LiftSpec): CompiledLift {
  for (const m of spec.markers) {
    if (UNSAFE_MARKER.test(m)) throw new Error(`lift marker ${JSON.stringify(m)}: a marker cannot hold " \\ / or a control character (JSON may escape them)`);
  }
  return { keys: new Set(spec.keys), markers: spec.markers.filter((m) => m.length > 0).map((m) => Buffer.from(m, 'utf8')) };
}

/** The union of what several processors read; null when one reads everything (declares nothing). */
export function unionLift(specs: readonly (LiftSpec | undefined)[]): LiftSpec | null {
  if (specs.length === 0 || specs.some((s) => s === undefined)) return null;
  const keys = new Set<string>();
  const markers = new Set<string>();
  for (const s of specs as LiftSpec[]) {
    for (const k of s.keys) keys.add(k);
    for (const m of s.markers) markers.add(m);
  }
  return { keys: [...keys].sort(), markers: [...markers].sort() };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Bytes that may follow a backslash in a JSON string: " \ / b f n r t (u is handled apart). */
const SIMPLE_ESCAPE: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const c of '"\\/bfnrt') t[c.charCodeAt(0)] = 1;
  return t;
})();
const HEX: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (const c of '0123456789abcdefABCDEF') t[c.charCodeAt(0)] = 1;
  return t;
})();

// Per-thread scratch, reused across lines: the reduced text is built here, then decoded once.
let scratch = Buffer.allocUnsafe(64 << 10);
const containerIsObject = new Uint8Array(MAX_DEPTH + 1);
const keyStart = new Int32Array(MAX_DEPTH + 1);
const keyEnd = new Int32Array(MAX_DEPTH + 1);

/**
 * The JSON text of `bytes[start, end)` with the long string values no
 * processor reads replaced by `""`, or null when nothing was elided or the
 * line is not well-formed as far as this scan sees (parse the whole line then).
 */
export function liftText(bytes: Buffer, start: number, end: number, lift: CompiledLift): string | null {
  let depth = 0;
  // In an object, after `{` or `,`: the next string is a key.
  let expectKey = false;
  // Key of the innermost object member at each depth (-1: none or not trackable).
  keyStart[0] = -1;
  let out = 0; // bytes written to scratch
  let seg = start; // first byte not yet copied
  let elided = false;
  // Next occurrence of each marker at or after the current position (-2: not searched yet, -1: none left).
  const markerAt = lift.markers.length > 0 ? new Array<number>(lift.markers.length).fill(-2) : null;

  const first = (bytes.byteOffset + start + 3) & ~3;
  wordsAt = first - bytes.byteOffset;
  words = new Uint32Array(bytes.buffer, first, Math.max(0, (bytes.byteOffset + end - first) >> 2));
  let i = start;
  while (i < end) {
    const c = bytes[i];
    if (c === QUOTE) {
      const j = scanString(bytes, i + 1, end);
      if (j < 0) return null; // unterminated
      const valid = (scanFlags & BAD) === 0;
      const unicode = (scanFlags & UNICODE) !== 0;
      // bytes[j] is the closing quote; the content is (i, j).
      if (expectKey) {
        if (depth <= MAX_DEPTH) {
          keyStart[depth] = (scanFlags & ESCAPED) !== 0 ? -1 : i + 1;
          keyEnd[depth] = j;
        }
      } else if (j - i - 1 >= LIFT_MIN_BYTES && depth <= MAX_DEPTH) {
        if (!valid) return null; // not a JSON string: the full parse says why
        if (!unicode && mayElide(bytes, i + 1, j, depth, lift, markerAt)) {
          const n = i - seg;
          ensure(out + n + 2);
          scratch.set(bytes.subarray(seg, i), out);
          out += n;
          scratch[out++] = QUOTE;
          scratch[out++] = QUOTE;
          seg = j + 1;
          elided = true;
        }
      }
      i = j + 1;
      continue;
    }
    switch (c) {
      case 0x7b: // {
        depth++;
        if (depth <= MAX_DEPTH) {
          containerIsObject[depth] = 1;
          keyStart[depth] = -1;
        }
        expectKey = true;
        break;
      case 0x5b: // [
        depth++;
        if (depth <= MAX_DEPTH) {
          containerIsObject[depth] = 0;
          // Array items keep their parent's key (the innermost key, as `locate` renders them).
          keyStart[depth] = keyStart[depth - 1];
          keyEnd[depth] = keyEnd[depth - 1];
        }
        expectKey = false;
        break;
      case 0x7d: // }
      case 0x5d: // ]
        if (depth === 0) return null;
        depth--;
        expectKey = false;
        break;
      case 0x2c: // ,
        expectKey = depth > 0 && depth <= MAX_DEPTH && containerIsObject[depth] === 1;
        break;
      case 0x3a: // :
        expectKey = false;
        break;
    }
    i++;
  }
  if (!elided) return null;
  const n = end - seg;
  ensure(out + n);
  scratch.set(bytes.subarray(seg, end), out);
  out += n;
  return scratch.toString('utf8', 0, out);
}

function mayElide(bytes: Buffer, from: number, to: number, depth: number, lift: CompiledLift, markerAt: number[] | null): boolean {
  const ks = keyStart[depth];
  if (ks < 0) return false;
  if (lift.keys.size > 0 && lift.keys.has(bytes.toString('utf8', ks, keyEnd[depth]))) return false;
  if (markerAt !== null) {
    for (let m = 0; m < markerAt.length; m++) {
      let at = markerAt[m];
      if (at === -1) continue;
      if (at < from) {
        at = bytes.indexOf(lift.markers[m], from);
        markerAt[m] = at;
        if (at === -1) continue;
      }
      if (at + lift.markers[m].length <= to) return false;
    }
  }
  return true;
}

/** Byte classes inside a string: 0 plain, 1 quote, 2 backslash, 3 control character. */
const IN_STRING: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let b = 0; b < 0x20; b++) t[b] = 3;
  t[QUOTE] = 1;
  t[BACKSLASH] = 2;
  return t;
})();
const BAD = 1;
const UNICODE = 2;
const ESCAPED = 4;
/** What the last scanString saw (BAD, UNICODE, ESCAPED): a module variable, so the hot loop allocates nothing. */
let scanFlags = 0;
/** The current line's bytes as aligned 32-bit words (see scanString); set by liftText. */
let words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
/** `bytes` index of `words[0]`'s first byte. */
let wordsAt = 0;

/**
 * The index of the quote closing a string whose content starts at `from`, or -1 when the line
 * ends first; sets scanFlags (BAD: a control character or a bad escape). Four bytes at a time:
 * a word with no quote, backslash or control character (the SWAR zero-byte tests) is skipped
 * whole, the others go byte by byte. Measured on 83 MB of generated transcript lines, in one
 * run each: a byte loop with three compares per byte made liftText 0.9x the time of decoding and
 * JSON.parse of the whole lines (517-549 vs 576-599 ms wall); a table lookup per byte still
 * spent 300 ms CPU on the loop alone; with the word test liftText takes 225-330 ms CPU against
 * 436-488 ms for the full decode and parse (the reduced text's parse then adds about 1/8).
 */
function scanString(bytes: Buffer, from: number, end: number): number {
  let flags = 0;
  let j = from;
  const w = words;
  const kEnd = Math.min(w.length, Math.max(0, (end - wordsAt) >> 2));
  for (;;) {
    // Byte by byte up to the next word boundary (or through a word that has something).
    const stop = Math.min(end, j < wordsAt ? wordsAt : wordsAt + (((j - wordsAt) >> 2) + 1) * 4);
    while (j < stop) {
      const k = IN_STRING[bytes[j]];
      if (k === 0) {
        j++;
        continue;
      }
      if (k === 1) {
        scanFlags = flags;
        return j;
      }
      if (k === 3) {
        flags |= BAD;
        j++;
        continue;
      }
      j = escape(bytes, j, end);
      flags |= escFlags;
    }
    if (j >= end) break;
    if (((j - wordsAt) & 3) !== 0) continue; // an escape ended mid-word
    // Whole words with nothing in them.
    let k = (j - wordsAt) >> 2;
    while (k < kEnd) {
      const x = w[k] | 0;
      const q = x ^ 0x22222222;
      const b = x ^ 0x5c5c5c5c;
      // `| 0` keeps the arithmetic in int32 (a subtraction that overflows would go to doubles).
      if (((((q - 0x01010101) | 0) & ~q) | (((b - 0x01010101) | 0) & ~b) | (((x - 0x20202020) | 0) & ~x)) & 0x80808080) break;
      k++;
    }
    j = wordsAt + (k << 2);
    if (j >= end) break;
  }
  scanFlags = flags;
  return -1;
}

let escFlags = 0;
/** Skip the escape whose backslash is at `j`; returns the index after it and sets escFlags. */
function escape(bytes: Buffer, j: number, end: number): number {
  let f = ESCAPED;
  if (j + 1 >= end) {
    escFlags = f | BAD;
    return end;
  }
  const e = bytes[j + 1];
  if (e === 0x75) {
    f |= UNICODE;
    if (j + 5 >= end || !(HEX[bytes[j + 2]] && HEX[bytes[j + 3]] && HEX[bytes[j + 4]] && HEX[bytes[j + 5]])) f |= BAD;
    escFlags = f;
    return j + 6;
  }
  if (SIMPLE_ESCAPE[e] === 0) f |= BAD;
  escFlags = f;
  return j + 2;
}

function ensure(n: number): void {
  if (n <= scratch.length) return;
  const next = Buffer.allocUnsafe(Math.max(n, scratch.length * 2));
  scratch.copy(next);
  scratch = next;
}
