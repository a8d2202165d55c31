/**
 * The keyword pre-filter of the secret rules (as gitleaks does): which of a
 * rule set's keywords occur in a text, ASCII case-insensitively. Pure.
 *
 * One pass over the text's UTF-16 code units, looking up each pair of
 * adjacent (ASCII-lowercased) characters in a table of the keywords' first
 * two characters; only a pair that starts a keyword is compared further.
 * Measured on 42 M characters of generated transcript text (20,000 texts, the
 * ones `locate` finds in 300 files), alternating in one run on a loaded
 * machine: the previous zero-width `(?=(kw1|kw2|...))` regex scan 1.09-1.80 s,
 * this scan 0.55-0.93 s, a bare loop summing the char codes 0.28 s. (A plain
 * alternation took 0.6x the zero-width scan; `toLowerCase` + `indexOf` per
 * keyword 2.5x.)
 *
 * Case-insensitive like a non-unicode `i` regex: ASCII letters fold, and no
 * other character ever equals an ASCII one, so keywords must be ASCII (a rule
 * set with other keywords uses the regex scan, see detect.ts).
 */

/** `A`-`Z` to `a`-`z`; other ASCII as is; 0 for non-ASCII (never part of a keyword). */
const FOLD = new Uint8Array(0x10000);
for (let c = 1; c < 128; c++) FOLD[c] = c >= 0x41 && c <= 0x5a ? c + 0x20 : c;

export const isAsciiKeyword = (k: string): boolean => k.length > 0 && /^[\x01-\x7f]+$/.test(k);

export class KeywordScanner {
  /** By the first two characters `(c0 << 7) | c1`: 1 + an index into `lists`, or 0 when no keyword starts so. */
  private readonly head = new Uint16Array(1 << 14);
  private readonly lists: number[][] = [];
  /** One-character keywords by character (rare: each occurrence of the character is a hit). */
  private readonly single: number[] = [];
  private readonly codes: Uint8Array[];

  /**
   * For the keywords in `positionsOf`, every position where one starts, from the last scan
   * (ascending); empty for the others.
   */
  readonly at: number[][];
  private readonly wantAt: Uint8Array;

  /**
   * @param keywords lowercase ASCII keywords (see isAsciiKeyword)
   * @param positionsOf indices of keywords whose every start position `scan` records in `at`
   *   (they must be two characters or more); for the others it stops at the first.
   */
  constructor(
    readonly keywords: readonly string[],
    positionsOf: Iterable<number> = [],
  ) {
    this.at = keywords.map(() => []);
    this.wantAt = new Uint8Array(keywords.length);
    for (const k of positionsOf) {
      if (keywords[k].length < 2) throw new Error(`keyword scanner: positions of a one-character keyword: ${JSON.stringify(keywords[k])}`);
      this.wantAt[k] = 1;
    }
    this.codes = keywords.map((k) => Uint8Array.from(k, (ch) => FOLD[ch.charCodeAt(0)]));
    keywords.forEach((k, i) => {
      if (!isAsciiKeyword(k)) throw new Error(`keyword scanner: not an ASCII keyword: ${JSON.stringify(k)}`);
      const c = this.codes[i];
      if (c.length === 1) {
        this.single.push(i);
        return;
      }
      const key = (c[0] << 7) | c[1];
      if (this.head[key] === 0) this.head[key] = this.lists.push([]);
      this.lists[this.head[key] - 1].push(i);
    });
  }

  /** For each keyword, whether `text` contains it; null when it contains none. */
  scan(text: string): Uint8Array | null {
    const n = text.length;
    if (n === 0) return null;
    let found: Uint8Array | null = null;
    const wantAt = this.wantAt;
    const at = this.at;
    // Most texts hold none of them: truncating only what holds positions keeps this off the profile.
    for (let k = 0; k < wantAt.length; k++) if (wantAt[k] === 1 && at[k].length !== 0) at[k].length = 0;
    for (const k of this.single) if (this.indexOf(text, k)) (found ??= new Uint8Array(this.keywords.length))[k] = 1;
    const head = this.head;
    let prev = FOLD[text.charCodeAt(0)];
    for (let i = 1; i < n; i++) {
      const cur = FOLD[text.charCodeAt(i)];
      // A non-ASCII prev folds to 0, and no keyword starts with 0: head[cur] is always 0.
      const h = head[(prev << 7) | cur];
      if (h !== 0) {
        const list = this.lists[h - 1];
        for (let j = 0; j < list.length; j++) {
          const k = list[j];
          if (found !== null && found[k] === 1 && wantAt[k] === 0) continue;
          if (this.matchesAt(text, i - 1, k)) {
            (found ??= new Uint8Array(this.keywords.length))[k] = 1;
            if (wantAt[k] === 1) at[k].push(i - 1);
          }
        }
      }
      prev = cur;
    }
    return found;
  }

  private indexOf(text: string, k: number): boolean {
    const c = this.codes[k][0];
    for (let i = 0; i < text.length; i++) if (FOLD[text.charCodeAt(i)] === c) return true;
    return false;
  }

  private matchesAt(text: string, at: number, k: number): boolean {
    const code = this.codes[k];
    if (at + code.length > text.length) return false;
    for (let j = 2; j < code.length; j++) if (FOLD[text.charCodeAt(at + j)] !== code[j]) return false;
    return true;
  }
}
