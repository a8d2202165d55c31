/**
 * Credentials in text, shared by processors: the rule table (`rules.ts`),
 * detection (`detect.ts`) and what is kept of a match (`redact.ts`). The
 * `secrets` processor records where credentials are; `usage` redacts them
 * from the names and paths it stores. Below both processors: it imports
 * neither.
 */
import { BUILT_IN_RULES, loadRulesFile, mergeRules, type SecretRule } from './rules.js';
import { compileRules, type RuleSet } from './detect.js';

export { BUILT_IN_RULES, type SecretRule } from './rules.js';
export { detect, type RuleSet, type SecretMatch } from './detect.js';
export { excerpt, fingerprint, redactText, redactionMark } from './redact.js';

export interface CredentialRules {
  /** The user's rules (from `--secrets-rules`, then `extra`), before the built-in ones. */
  user: readonly SecretRule[];
  /** User and built-in rules merged, in priority order. */
  effective: readonly SecretRule[];
  compiled: RuleSet;
}

/** The effective rules for a `--secrets-rules` file ('' for none): one rule set for every processor. */
export function credentialRules(rulesFile: string, extra: readonly SecretRule[] = []): CredentialRules {
  const user = [...(rulesFile ? loadRulesFile(rulesFile) : []), ...extra];
  const effective = mergeRules(user, BUILT_IN_RULES);
  return { user, effective, compiled: compileRules(effective) };
}
