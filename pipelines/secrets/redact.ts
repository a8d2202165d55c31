/**
 * What is kept of a secret: a redacted excerpt and a keyed fingerprint.
 * Neither lets anyone recover the secret; the fingerprint lets the same
 * secret be recognised across files (and only with the key).
 */
import { createHmac } from 'node:crypto';

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
