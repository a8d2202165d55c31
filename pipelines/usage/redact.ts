/**
 * Redacting the fields usage keeps that a user typed: skill, subagent and
 * slash-command names, MCP server and tool names, `cwd`, `gitBranch`. A
 * credential typed into one of them (`/deploy ghp_…`, a branch named after a
 * token) would otherwise land verbatim in `usage_events`, `usage_files`,
 * `report events` and the Parquet export. The rules are the secrets
 * processor's rules, `--secrets-rules` included (`pipelines/shared/credentials`); a match becomes
 * `[redacted:<rule>]`.
 *
 * The same few names repeat on every line, so results are cached: the cost
 * is one map lookup per field (one keyword scan per distinct value).
 */
import { credentialRules, redactText, type SecretRule } from '../shared/credentials/index.js';

export interface Redact {
  /** The user's rules in force (from the rules file), for the processor's version. */
  readonly userRules: readonly SecretRule[];
  text(s: string): string;
  nullable(s: string | null): string | null;
}

const CACHE_MAX = 4096;

export function redactor(rulesFile: string): Redact {
  const { user, compiled } = credentialRules(rulesFile);
  let cache = new Map<string, string>();
  const text = (s: string): string => {
    let r = cache.get(s);
    if (r === undefined) {
      r = redactText(s, compiled);
      if (cache.size >= CACHE_MAX) cache = new Map();
      cache.set(s, r);
    }
    return r;
  };
  return {
    userRules: user,
    text,
    nullable: (s) => (s === null ? null : text(s)),
  };
}
