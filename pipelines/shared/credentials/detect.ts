/**
 * Detection: text in, matches out. Pure (no I/O, no logging).
 *
 * Most text has no secret, so a rule set first runs one case-insensitive scan
 * for every rule's keywords (keywords.ts); text without any keyword skips all rules, and a
 * rule runs only on text holding one of its keywords. A match's `secret` is never logged or stored by callers: only its
 * redacted excerpt and keyed fingerprint (see redact.ts).
 */
import { compileAllow, isAnchored, type SecretRule } from './rules.js';
import { KeywordScanner, isAsciiKeyword } from './keywords.js';

export interface CompiledRule {
  id: string;
  re: RegExp;
  keywords: string[] | null;
  /** Indices of `keywords` in the rule set's keyword list. */
  keywordIds: number[] | null;
  /**
   * Every match starts where a keyword starts (rules.ts isAnchored): `re` as a sticky regex, tried
   * only at the keyword positions the scan found. Null: `re` scans the whole text.
   */
  sticky: RegExp | null;
  entropy: number;
  minLength: number;
  minCharClasses: number;
  allow: RegExp[];
}

export interface RuleSet {
  rules: CompiledRule[];
  /** Every rule's keywords, deduplicated. */
  keywords: string[];
  /** Which keywords a text holds (keywords.ts); null when a keyword is not ASCII or no rule has one. */
  scanner: KeywordScanner | null;
  /**
   * The fallback for non-ASCII keywords: finds every position where a keyword
   * starts (zero-width, global, case-insensitive), so overlapping keywords are
   * all seen.
   */
  keywordScan: RegExp | null;
  /** Whether some rule has no keywords (then text must always be scanned). */
  alwaysScan: boolean;
}

export interface SecretMatch {
  rule: string;
  /** Span of the secret within the text (code units). */
  start: number;
  end: number;
  /** The normalised secret. Callers must not store or log it. */
  secret: string;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `anchor: false` scans every rule across the whole text (the reference the anchored rules are tested against). */
export function compileRules(rules: readonly SecretRule[], { anchor = true }: { anchor?: boolean } = {}): RuleSet {
  const lower = rules.map((r) => (r.keywords && r.keywords.length > 0 ? r.keywords.map((k) => k.toLowerCase()) : null));
  const keywords = [...new Set(lower.flatMap((k) => k ?? []))].sort((a, b) => b.length - a.length);
  const index = new Map(keywords.map((k, i) => [k, i]));
  const ascii = keywords.every(isAsciiKeyword);
  // Anchoring needs the scanner's positions (ASCII keywords).
  const anchored = rules.map((r) => anchor && ascii && isAnchored(r));
  const flagsOf = (r: SecretRule) => (r.flags ?? '').replace(/[gdy]/g, '');
  const compiled = rules.map(
    (r, i): CompiledRule => ({
      id: r.id,
      re: new RegExp(r.pattern, `${flagsOf(r)}gd`),
      sticky: anchored[i] ? new RegExp(r.pattern, `${flagsOf(r)}yd`) : null,
      keywords: lower[i],
      keywordIds: lower[i]?.map((k) => index.get(k)!) ?? null,
      entropy: r.entropy ?? 0,
      minLength: r.minLength ?? 1,
      minCharClasses: r.minCharClasses ?? 1,
      allow: (r.allow ?? []).map(compileAllow),
    }),
  );
  const positionsOf = new Set(compiled.flatMap((c) => (c.sticky ? c.keywordIds! : [])));
  return {
    rules: compiled,
    keywords,
    scanner: keywords.length > 0 && ascii ? new KeywordScanner(keywords, positionsOf) : null,
    keywordScan: keywords.length > 0 && !ascii ? new RegExp(`(?=(${keywords.map(escapeRe).join('|')}))`, 'gi') : null,
    alwaysScan: compiled.some((r) => r.keywords === null),
  };
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let n = 0;
  for (const c of counts.values()) n += c;
  let h = 0;
  for (const c of counts.values()) {
    const p = c / n;
    h -= p * Math.log2(p);
  }
  return h;
}

/** How many of: lowercase, uppercase, digit, other. */
export function charClasses(s: string): number {
  let lower = 0;
  let upper = 0;
  let digit = 0;
  let other = 0;
  for (const ch of s) {
    if (ch >= 'a' && ch <= 'z') lower = 1;
    else if (ch >= 'A' && ch <= 'Z') upper = 1;
    else if (ch >= '0' && ch <= '9') digit = 1;
    else other = 1;
  }
  return lower + upper + digit + other;
}

/**
 * The canonical form of a secret, for fingerprints and excerpts: escaped and
 * real line breaks, `Read`-tool line-number prefixes and whitespace removed,
 * so a key block is the same secret in a file, a JSON string or a tool result.
 */
export function normalizeSecret(s: string): string {
  if (!/[\s\\→]/.test(s)) return s;
  return s
    .replace(/\\r\\n|\\n|\\r/g, '\n')
    .replace(/^[ \t]*\d+(?:→|\t)/gm, '')
    .replace(/\s+/g, '');
}

/** Every secret in `text`, in rule order, with later overlapping matches dropped. */
export function detect(text: string, set: RuleSet): SecretMatch[] {
  if (text.length === 0) return [];
  const hits = set.scanner ? set.scanner.scan(text) : set.keywordScan ? regexScan(text, set) : null;
  if (hits === null && !set.alwaysScan) return [];
  const out: SecretMatch[] = [];
  for (const rule of set.rules) {
    if (rule.keywordIds !== null) {
      if (hits === null || !rule.keywordIds.some((k) => hits[k] === 1)) continue;
    }
    for (const m of rule.sticky ? anchoredMatches(text, rule, set.scanner!) : matchAll(text, rule.re)) {
      const span = m.indices?.groups?.secret ?? (m.groups && 'secret' in m.groups ? undefined : m.indices?.[0]);
      if (!span) continue;
      const [start, end] = span;
      if (end <= start) continue;
      if (out.some((o) => start < o.end && o.start < end)) continue;
      const secret = normalizeSecret(text.slice(start, end));
      if (!accept(rule, secret)) continue;
      out.push({ rule: rule.id, start, end, secret });
    }
  }
  return out;
}

function matchAll(text: string, re: RegExp): IterableIterator<RegExpMatchArray> {
  re.lastIndex = 0;
  return text.matchAll(re);
}

/**
 * What `text.matchAll(rule.re)` gives, for a rule whose matches start where its keywords start:
 * the sticky regex tried at each keyword position left to right, skipping those inside the
 * previous match (matchAll's next search starts at a match's end; after an empty match, one on).
 */
function* anchoredMatches(text: string, rule: CompiledRule, scanner: KeywordScanner): Generator<RegExpExecArray> {
  const ids = rule.keywordIds!;
  let at: number[] = scanner.at[ids[0]];
  if (ids.length > 1) {
    at = ids.flatMap((k) => scanner.at[k]);
    at.sort((a, b) => a - b);
  }
  const re = rule.sticky!;
  let from = 0;
  for (const p of at) {
    if (p < from) continue;
    re.lastIndex = p;
    const m = re.exec(text);
    if (m === null) continue;
    from = m[0].length === 0 ? p + 1 : p + m[0].length;
    yield m;
  }
}

/**
 * The keywords present, by a zero-width regex scan. At one position the
 * longest keyword is reported, so every keyword that is part of one found is
 * present too.
 */
function regexScan(text: string, set: RuleSet): Uint8Array | null {
  const seen = new Set<string>();
  for (const m of text.matchAll(set.keywordScan!)) seen.add(m[1].toLowerCase());
  if (seen.size === 0) return null;
  const found = new Uint8Array(set.keywords.length);
  set.keywords.forEach((k, i) => {
    for (const h of seen) if (h.includes(k)) found[i] = 1;
  });
  return found;
}

function accept(rule: CompiledRule, secret: string): boolean {
  if (secret.length < rule.minLength) return false;
  if (rule.minCharClasses > 1 && charClasses(secret) < rule.minCharClasses) return false;
  if (rule.entropy > 0 && shannonEntropy(secret) < rule.entropy) return false;
  for (const a of rule.allow) if (a.test(secret)) return false;
  return true;
}
