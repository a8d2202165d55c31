/**
 * `--secrets-rules`, declared once and shared: the secrets processor detects
 * with these rules and usage redacts the names and paths it keeps with the
 * same ones, so a credential shape the user taught the tool is kept out of
 * every table, not only found. Both declare this one Setting object
 * (registration admits one object under several processors, nothing else).
 */
import { createHash } from 'node:crypto';
import { setting, settingSchemas } from '../../../src/config/config.js';
import type { SecretRule } from './rules.js';

export const SECRETS_RULES_SETTING = setting({
  flag: '--secrets-rules <file>',
  env: 'SESSION_PIPELINE_SECRETS_RULES',
  schema: settingSchemas.optionalPath,
  default: () => '',
  describe: 'extra credential rules (JSON file): the secrets processor finds them, usage redacts them',
});

/**
 * A processor version that changes with the user's rules: `base` alone for the built-in rules,
 * else `base * 1e6 + a digest of the rules` (what they produce changes with them, so every
 * file is processed again under the new rules).
 */
export function versionWithRules(base: number, userRules: readonly SecretRule[], more: readonly string[] = []): number {
  const parts = [...(userRules.length > 0 ? [JSON.stringify(userRules)] : []), ...more];
  if (parts.length === 0) return base;
  const h = createHash('sha256').update(parts.join('\u0000')).digest().readUInt32BE(0) % 1_000_000;
  return base * 1_000_000 + h;
}
