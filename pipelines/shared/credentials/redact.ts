/**
 * What is kept of a secret: a redacted excerpt and a keyed fingerprint (the
 * `secrets` processor's findings), or nothing at all (`redactText`, for text
 * stored for another purpose). Neither lets anyone recover the secret; the
 * fingerprint lets the same secret be recognised across files (and only with
 * the key).
 */
import { createHmac } from 'node:crypto';
import { detect, type RuleSet } from './detect.js';

/** Hex characters kept of the HMAC-SHA256 (128 bits). */
export const FINGERPRINT_HEX = 32;

/**
 * At most the first 4 and last 2 characters, fewer for short secrets so that
 * never more than 3/8 of it is shown: 16+ chars `abcd…yz`, 8 chars `ab…z`,
 * 6 chars `a…`, under 4 chars `…`.
 */
export function excerpt(secret: string): string {
  const chars = Array.from(secret);
  const n = chars.length;
  const head = Math.min(4, Math.floor(n / 4));
  const tail = Math.min(2, Math.floor(n / 8));
  return chars.slice(0, head).join('') + '…' + (tail > 0 ? chars.slice(n - tail).join('') : '');
}

/** HMAC-SHA256(key, secret), hex, truncated. */
export function fingerprint(key: Buffer, secret: string): string {
  return createHmac('sha256', key).update(secret, 'utf8').digest('hex').slice(0, FINGERPRINT_HEX);
}

/** What replaces a credential in text that is stored for another purpose (a skill name, a path). */
export const redactionMark = (rule: string): string => `[redacted:${rule}]`;

/**
 * `text` with every credential the rules find replaced by `[redacted:<rule>]`.
 * For values stored for another purpose (usage keeps skill and command names,
 * `cwd`, `gitBranch`): nothing of the secret is kept, not even an excerpt.
 * Text without a rule keyword returns as is, after one keyword scan.
 */
export function redactText(text: string, set: RuleSet): string {
  const matches = detect(text, set);
  if (matches.length === 0) return text;
  matches.sort((a, b) => a.start - b.start);
  let out = '';
  let at = 0;
  for (const m of matches) {
    out += text.slice(at, m.start) + redactionMark(m.rule);
    at = m.end;
  }
  return out + text.slice(at);
}
