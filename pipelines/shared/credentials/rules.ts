/**
 * The secret detection rules, as data. A user extends or overrides them with a
 * JSON file of the same shape (`--secrets-rules`, see docs/secrets.md).
 *
 * A rule is a regular expression plus cheap filters that cut false positives:
 * - `keywords`: the rule only runs on text containing one of them
 *   (case-insensitive). All keywords together form the pre-filter that lets
 *   most text skip every rule.
 * - `entropy`: minimum Shannon entropy (bits per character) of the secret.
 * - `minLength`, `minCharClasses` (lower, upper, digit, other).
 * - `allow`: regexes for known examples and placeholders (`(?i)` prefix:
 *   case-insensitive);
 *   a secret matching one is not a finding.
 *
 * The secret is the named group `secret` if the pattern has one, else the
 * whole match. Rules are tried in order and a match overlapping an earlier
 * finding in the same text is dropped, so specific rules come first and the
 * `generic` ones (keyword assignments) last.
 */
import fs from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../../../src/config/config.js';

export interface SecretRule {
  id: string;
  description: string;
  /** JavaScript regex source. A named group `secret` marks the secret within the match. */
  pattern: string;
  /** Any of `i`, `m`, `s`, `u` (`g` and `d` are always added). */
  flags?: string;
  /** Lowercase substrings; the rule runs only on text that contains one. Omit to always run (slow). */
  keywords?: string[];
  /** Minimum Shannon entropy of the secret, bits per character. */
  entropy?: number;
  /** Minimum secret length (after normalisation), default 1. */
  minLength?: number;
  /** Minimum number of character classes (lower, upper, digit, other), default 1. */
  minCharClasses?: number;
  /** Regexes for known examples/placeholders: a matching secret is ignored. A leading `(?i)` makes one case-insensitive. */
  allow?: string[];
  /** Lower priority: tried after every specific rule (user rules included). */
  generic?: boolean;
  /** In a rules file: remove the built-in rule with this id. */
  disabled?: boolean;
}

const r = String.raw;

/** Characters a generic assignment value may contain (no whitespace, quotes or delimiters). */
const VALUE = r`[^\s"'${'`'},;&|<>(){}\[\]\\]`;
/** Allow-list shared by the keyword rules: references, identifiers, paths, URLs and placeholders. */
const PLACEHOLDERS = [
  r`^\$`, // $VAR, ${VAR}, $(cmd)
  r`^%[^%]+%$`, // %VAR%
  r`^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$`, // process.env.X, self.password
  r`^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$`, // SCREAMING_SNAKE constant names
  r`^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$`, // snake_case names
  r`^[A-Z]?[a-z]+(?:[A-Z][a-z]+)*$`, // words, camelCase, PascalCase
  r`^[~.]?/`, // paths
  r`^[a-z][a-z0-9+.\-]*://`, // URLs (credentials in URLs have their own rule)
  r`(?i)passw|secret|token|changeme|example|placeholder|dummy|redacted|your[_\-]|xxxx|\*\*\*|\.\.\.|…`,
];

export const BUILT_IN_RULES: readonly SecretRule[] = [
  {
    id: 'private-key',
    description: 'PEM/OpenSSH/PGP private key block (the base64 body is the secret; END marker optional)',
    pattern: r`-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:\s|\\[rn])*(?:(?:Proc-Type|DEK-Info|Comment|Version):[^\n\\]*(?:\n|\\n)(?:\s|\\[rn])*)*(?<secret>(?:[A-Za-z0-9+/=\s→]|\\[rn])+)`,
    keywords: ['private key'],
    entropy: 4.8, // random base64 is about 5.9; English prose about 4.1
    minLength: 64,
    minCharClasses: 3,
  },
  {
    id: 'aws-access-key-id',
    description: 'AWS access key id (AKIA long-term, ASIA temporary)',
    pattern: r`(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Za-z0-9])`,
    keywords: ['akia', 'asia', 'abia', 'acca'],
    entropy: 3.0,
    allow: [r`EXAMPLE$`],
  },
  {
    id: 'aws-secret-access-key',
    description: 'AWS secret access key: 40 base64 characters assigned to an AWS secret keyword',
    pattern: r`(?:aws[\w. \-]{0,32}?secret[\w. \-]{0,32}?|secret[_\- ]?access[_\- ]?key)(?:\[[^\]\n]{0,40}\])?["']?[ \t]*(?::=|=>|=|:)[ \t]*["']?(?<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])`,
    flags: 'i',
    keywords: ['secret'],
    entropy: 4.3, // above hex (at most 4.0): a git SHA is never an AWS secret
    allow: [r`EXAMPLE`],
  },
  {
    id: 'github-token',
    description: 'GitHub token (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)',
    pattern: r`(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{70,255})(?![A-Za-z0-9_])`,
    keywords: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'],
    entropy: 3.0,
  },
  {
    id: 'anthropic-api-key',
    description: 'Anthropic API, admin or OAuth key (sk-ant-…)',
    pattern: r`(?<![A-Za-z0-9_\-])sk-ant-[a-z]{2,10}\d{2}-[A-Za-z0-9_\-]{32,}(?![A-Za-z0-9_\-])`,
    keywords: ['sk-ant-'],
    entropy: 3.5,
  },
  {
    id: 'openai-api-key',
    description: 'OpenAI API key (sk-proj-, sk-svcacct-, sk-admin-, legacy sk-…T3BlbkFJ…)',
    pattern: r`(?<![A-Za-z0-9_\-])sk-(?!ant-)(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{32,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|[A-Za-z0-9]{48})(?![A-Za-z0-9_\-])`,
    keywords: ['sk-'],
    entropy: 3.5,
  },
  {
    id: 'slack-token',
    description: 'Slack bot/user/app/refresh token (xoxb-, xoxp-, xoxa-, xoxe-, xapp-)',
    pattern: r`(?<![A-Za-z0-9_\-])(?:xox[abposer](?:\.xox[bp])?-(?:\d+-){1,3}[A-Za-z0-9\-]{8,}|xapp-\d-[A-Za-z0-9]+-\d+-[A-Za-z0-9]{16,})(?![A-Za-z0-9_\-])`,
    keywords: ['xox', 'xapp-'],
    entropy: 3.0,
  },
  {
    id: 'slack-webhook',
    description: 'Slack incoming webhook URL (the path is the secret)',
    pattern: r`https://hooks\.slack\.com/(?:services|workflows|triggers)/(?<secret>[A-Za-z0-9_/\-]{20,})`,
    keywords: ['hooks.slack.com'],
    entropy: 3.0,
  },
  {
    id: 'google-api-key',
    description: 'Google API key (AIza…)',
    pattern: r`(?<![A-Za-z0-9_\-])AIza[0-9A-Za-z_\-]{35}(?![A-Za-z0-9_\-])`,
    keywords: ['aiza'],
    entropy: 3.5,
  },
  {
    id: 'stripe-key',
    description: 'Stripe secret or restricted key (sk_live_, sk_test_, rk_…) or webhook secret (whsec_); publishable pk_ keys are public',
    pattern: r`(?<![A-Za-z0-9_])(?:(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,247}|whsec_[A-Za-z0-9+/=]{32,})(?![A-Za-z0-9_])`,
    keywords: ['sk_live_', 'sk_test_', 'rk_live_', 'rk_test_', 'whsec_'],
    entropy: 3.5,
  },
  {
    id: 'gitlab-token',
    description: 'GitLab personal access token (glpat-)',
    pattern: r`(?<![A-Za-z0-9_\-])glpat-[A-Za-z0-9_\-]{20,}(?![A-Za-z0-9_\-])`,
    keywords: ['glpat-'],
    entropy: 3.0,
  },
  {
    id: 'npm-token',
    description: 'npm access token (npm_)',
    pattern: r`(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9_])`,
    keywords: ['npm_'],
    entropy: 3.0,
  },
  {
    id: 'huggingface-token',
    description: 'Hugging Face access token (hf_)',
    pattern: r`(?<![A-Za-z0-9_])hf_[A-Za-z]{34}(?![A-Za-z0-9_])`,
    keywords: ['hf_'],
    entropy: 3.5,
    minCharClasses: 3,
  },
  {
    id: 'jwt',
    description: 'JSON Web Token (signed: header.payload.signature)',
    pattern: r`(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,}(?![A-Za-z0-9_\-])`,
    keywords: ['eyj'],
    entropy: 3.5,
    // The jwt.io sample token ("John Doe", secret "your-256-bit-secret").
    allow: [r`\.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c$`],
  },
  {
    id: 'url-credentials',
    description: 'password in a URL (scheme://user:password@host)',
    // Starts with the literal :// (fast to find); the scheme is checked behind it.
    pattern: r`://(?<=[A-Za-z][A-Za-z0-9+.\-]{0,20}://)[^\s:/@"'<>]{1,64}:(?<secret>[^\s:/@"'<>]{6,128})@(?=[A-Za-z0-9\[])`,
    keywords: ['://'],
    entropy: 2.5,
    minCharClasses: 2,
    allow: PLACEHOLDERS,
    generic: true,
  },
  {
    id: 'bearer-token',
    description: 'HTTP bearer token (Authorization: Bearer …)',
    pattern: r`\bbearer[ \t]+(?<secret>[A-Za-z0-9_\-.=+/~]{16,})(?![A-Za-z0-9_\-.=+/~])`,
    flags: 'i',
    keywords: ['bearer'],
    entropy: 3.5,
    minCharClasses: 2,
    allow: PLACEHOLDERS,
    generic: true,
  },
  {
    id: 'generic-secret',
    description: 'password/secret/token/api key assignment (key = value, key: value) with a high-entropy value',
    pattern: r`(?:password|passwd|pwd|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key|auth[_\-]?key|credentials?)(?:[_\-]?(?:access[_\-]?)?key)?["']?[ \t]*(?::=|=>|=|:)(?!=)[ \t]*["'${'`'}]?(?<secret>${VALUE}{8,256})(?!${VALUE}|[(\[])`,
    flags: 'i',
    keywords: ['passw', 'pwd', 'secret', 'token', 'api_key', 'apikey', 'api-key', 'access_key', 'accesskey', 'access-key', 'private_key', 'privatekey', 'private-key', 'auth_key', 'authkey', 'auth-key', 'credential'],
    entropy: 3.0,
    minCharClasses: 2,
    allow: PLACEHOLDERS,
    generic: true,
  },
];

/**
 * Built-in rules whose every match starts where one of their keywords starts (each pattern
 * opens with its keywords: the generic assignment's alternation, `://`, `bearer`). detect.ts
 * tries them only at those positions (a sticky regex) instead of scanning the whole text: the
 * generic rule's scan was 3.7 of a worker's 26.9 busy seconds in a default-processors backfill
 * of 738 MB (it runs on every text holding "token", and code is full of it).
 */
const ANCHORED = new Set(['generic-secret', 'url-credentials', 'bearer-token']);

/**
 * Whether `rule` is an anchored built-in as shipped: same pattern and flags, and keywords that
 * include the built-in's (more keywords only add positions). A user's change of pattern or
 * flags makes it an ordinary rule, scanned whole.
 */
export function isAnchored(rule: SecretRule): boolean {
  if (!ANCHORED.has(rule.id)) return false;
  const base = BUILT_IN_RULES.find((b) => b.id === rule.id);
  if (!base || base.pattern !== rule.pattern || (base.flags ?? '') !== (rule.flags ?? '')) return false;
  const keys = new Set((rule.keywords ?? []).map((k) => k.toLowerCase()));
  return (base.keywords ?? []).length > 0 && (base.keywords ?? []).every((k) => keys.has(k) && k.length >= 2);
}

/** An allow pattern; a leading `(?i)` makes it case-insensitive. */
export function compileAllow(source: string): RegExp {
  return source.startsWith('(?i)') ? new RegExp(source.slice(4), 'i') : new RegExp(source);
}

const ruleSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_.\-]{0,63}$/, 'rule ids are lowercase words (a-z, 0-9, _ . -)'),
    description: z.string().optional(),
    pattern: z.string().min(1).optional(),
    flags: z.string().regex(/^[imsu]*$/, 'flags may only be i, m, s, u').optional(),
    keywords: z.array(z.string().min(1)).optional(),
    entropy: z.number().min(0).max(8).optional(),
    minLength: z.number().int().min(1).optional(),
    minCharClasses: z.number().int().min(1).max(4).optional(),
    allow: z.array(z.string()).optional(),
    generic: z.boolean().optional(),
    disabled: z.boolean().optional(),
  })
  .strict();

/** Check one rule's regexes compile; returns the problem or null. */
function regexProblem(rule: SecretRule): string | null {
  try {
    new RegExp(rule.pattern, `${rule.flags ?? ''}gd`);
  } catch (err) {
    return `invalid pattern: ${(err as Error).message}`;
  }
  for (const a of rule.allow ?? []) {
    try {
      compileAllow(a);
    } catch (err) {
      return `invalid allow pattern: ${(err as Error).message}`;
    }
  }
  return null;
}

/**
 * Parse a user rules file (a JSON array of rules). A rule whose id is a
 * built-in replaces it (fields not given are kept); `{"id": …, "disabled": true}`
 * removes it. Throws a one-line ConfigError.
 */
export function parseRulesFile(file: string, text: string): SecretRule[] {
  const fail = (why: string) =>
    new ConfigError(`invalid secretsRules (--secrets-rules / SESSION_PIPELINE_SECRETS_RULES): ${file}: ${why}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw fail('not valid JSON');
  }
  if (!Array.isArray(json)) throw fail('expected a JSON array of rules');
  const seen = new Set<string>();
  const out: SecretRule[] = [];
  json.forEach((raw, i) => {
    const name = typeof (raw as { id?: unknown })?.id === 'string' ? ` ("${(raw as { id: string }).id}")` : '';
    const parsed = ruleSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
      throw fail(`rule ${i + 1}${name}: ${where}${issue?.message ?? 'invalid'}`);
    }
    const rule = parsed.data;
    if (seen.has(rule.id)) throw fail(`rule ${i + 1}${name}: duplicate id`);
    seen.add(rule.id);
    const base = BUILT_IN_RULES.find((b) => b.id === rule.id);
    if (!base && !rule.disabled && !rule.pattern) throw fail(`rule ${i + 1}${name}: pattern is required for a new rule`);
    const merged = { ...(base ?? {}), description: '', ...rule } as SecretRule;
    if (!merged.description) merged.description = base?.description ?? rule.id;
    if (!merged.disabled) {
      const problem = regexProblem(merged);
      if (problem) throw fail(`rule ${i + 1}${name}: ${problem}`);
    }
    if (merged.keywords) merged.keywords = merged.keywords.map((k) => k.toLowerCase());
    out.push(merged);
  });
  return out;
}

export function loadRulesFile(file: string): SecretRule[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `invalid secretsRules (--secrets-rules / SESSION_PIPELINE_SECRETS_RULES): ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  return parseRulesFile(file, text);
}

/**
 * The effective rule list: built-ins with user overrides applied in place,
 * then new user rules, with every `generic` rule moved to the end (stable).
 */
export function mergeRules(user: readonly SecretRule[] = [], builtIn: readonly SecretRule[] = BUILT_IN_RULES): SecretRule[] {
  const byId = new Map(user.map((u) => [u.id, u]));
  const merged: SecretRule[] = [];
  for (const b of builtIn) {
    const u = byId.get(b.id);
    if (u?.disabled) continue;
    merged.push(u ?? b);
  }
  const builtIds = new Set(builtIn.map((b) => b.id));
  for (const u of user) if (!builtIds.has(u.id) && !u.disabled) merged.push(u);
  return [...merged.filter((x) => !x.generic), ...merged.filter((x) => x.generic)];
}
