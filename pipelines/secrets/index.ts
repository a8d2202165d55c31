/**
 * `secrets`: finds credentials that transcripts captured (tokens in commands,
 * `.env` files read by tools, keys pasted by users) and records where they
 * are, a redacted excerpt and a keyed fingerprint. The secret itself is never
 * stored, logged or returned.
 *
 * Policy, its own and independent of other processors:
 * - settle: in watch mode a file is processed only once it has been quiet for
 *   `secretsSettleMs` (default 30 s), so it runs on finished bursts; its
 *   offset is committed like any processor's, so no line is ever skipped.
 * - version: derived from the rule table and the fingerprint key, so editing
 *   the rules file or changing `--secrets-key` rescans every file from the
 *   start (old findings are retracted and recomputed).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { defineProcessor, type Processor, type ProcessorInit } from '../../src/pipeline/processor.js';
import { setting, settingSchemas } from '../../src/config/config.js';
import { credentialRules, detect, excerpt, fingerprint, type SecretRule } from '../shared/credentials/index.js';
import { SECRETS_RULES_SETTING, versionWithRules } from '../shared/credentials/setting.js';
import { locate, type Located } from './locate.js';
import { FINDINGS_OUTPUT, FINDINGS_TABLE, KEY_TABLE, SECRETS_MIGRATIONS } from './migrations.js';
import { SECRETS_REPORTS } from './reports.js';

export { querySecretFindings, countSecretFindings, type SecretFinding, type FindingQuery } from './query.js';

/**
 * Bump to retract and rescan everything (changes to built-in rules or to what a finding is).
 * 2: malformed lines are scanned as raw text, and values nested deeper than 32 levels are seen.
 */
export const BASE_VERSION = 2;

export const SECRETS_SETTINGS = {
  secretsSettleMs: setting({
    flag: '--secrets-settle-ms <ms>',
    env: 'SESSION_PIPELINE_SECRETS_SETTLE_MS',
    schema: settingSchemas.int(0),
    default: () => 30_000,
    describe: 'secrets: process a file only after it has been quiet this long',
    watchOnly: true,
  }),
  secretsRules: SECRETS_RULES_SETTING,
  secretsKey: setting({
    flag: '--secrets-key <key>',
    env: 'SESSION_PIPELINE_SECRETS_KEY',
    schema: z.string(),
    default: () => '',
    describe: 'secrets: HMAC key for finding fingerprints (default: a key kept in the database)',
    secret: true,
  }),
};

export interface SecretsConfig {
  root: string;
  /** Watch mode only; 0 or absent processes live. */
  secretsSettleMs?: number;
  secretsRules?: string;
  secretsKey?: string;
}

export interface SecretsProcessor extends Processor {
  /** The effective rule ids, in priority order. */
  readonly ruleIds: readonly string[];
}

interface SecretsRecipe {
  config: SecretsConfig;
  userRules: SecretRule[];
  keyHex: string;
}

export function createSecretsProcessor(
  config: SecretsConfig,
  extraRules: readonly SecretRule[] = [],
  /** The fingerprint key when already known (a worker thread's twin, see `remote`). */
  knownKey?: Buffer,
): SecretsProcessor {
  const { user: userRules, effective, compiled: rules } = credentialRules(config.secretsRules ?? '', extraRules);
  const secretsKey = config.secretsKey ?? '';
  let key: Buffer | null = knownKey ?? (secretsKey ? Buffer.from(secretsKey, 'utf8') : null);

  return {
    name: 'secrets',
    version: deriveVersion(userRules, secretsKey),
    settleMs: config.secretsSettleMs,
    migrations: SECRETS_MIGRATIONS,
    tables: [FINDINGS_OUTPUT],
    reports: SECRETS_REPORTS,
    ruleIds: effective.map((r) => r.id),

    async init(ctx: ProcessorInit) {
      if (key) return;
      // One random key per database, made on first use and never logged.
      await ctx.db.run(`INSERT INTO ${KEY_TABLE} (id, key_hex) VALUES (1, $1) ON CONFLICT DO NOTHING`, [
        randomBytes(32).toString('hex'),
      ]);
      const rows = await ctx.db.all<{ key_hex: string }>(`SELECT key_hex FROM ${KEY_TABLE} WHERE id = 1`);
      if (!rows[0]?.key_hex) throw new Error('secrets: could not create the fingerprint key');
      key = Buffer.from(rows[0].key_hex, 'hex');
    },

    async process(batch, tx) {
      if (!key) throw new Error('secrets: no fingerprint key (set --secrets-key, or open the processor through the pipeline)');
      const file = batch.file.sessionFile;
      const now = Date.now();
      let found = 0;
      const record = (offset: number, lineNo: number, texts: readonly Located[], ts: number | null) => {
        let perRule: Map<string, number> | null = null;
        let seen: Set<string> | null = null;
        for (const t of texts) {
          const matches = detect(t.text, rules);
          if (matches.length === 0) continue;
          perRule ??= new Map();
          seen ??= new Set();
          for (const m of matches) {
            const fp = fingerprint(key!, m.secret);
            // toolUseResult repeats the tool_result: one finding per secret, rule and location in a line.
            const dedupe = `${m.rule}\u0000${t.location}\u0000${fp}`;
            if (seen.has(dedupe)) continue;
            seen.add(dedupe);
            const index = perRule.get(m.rule) ?? 0;
            perRule.set(m.rule, index + 1);
            tx.insert(FINDINGS_TABLE, [file, batch.file.owner, offset, lineNo, m.rule, index, t.location, excerpt(m.secret), fp, ts, now]);
            found++;
          }
        }
      };
      // Line numbers come with the batch (bad lines count), so the file is never opened here.
      for (const l of batch.lines) {
        const texts = locate(l.value);
        if (texts.length > 0) record(l.offset, l.line, texts, lineTimestamp(l.value));
      }
      // A line cut by a crash, or otherwise not a JSON object, is scanned as raw text
      // (an oversize line, over --max-line-bytes, was never buffered: it is counted, not scanned).
      for (const b of batch.bad) {
        if (b.text) record(b.offset, b.line, [{ location: 'malformed_line', text: b.text }], null);
      }
      tx.countItems(found);
    },

    // retract: the default (secrets_key is a private table, not a declared output).

    remote() {
      if (!key) throw new Error('secrets: no fingerprint key yet (remote() is called after init)');
      // The rules as loaded (not the file again) and the key in hand: the twin has the same version and fingerprints.
      const options: SecretsRecipe = { config: { ...config, secretsRules: '' }, userRules: [...userRules], keyHex: key.toString('hex') };
      return { module: import.meta.url, factory: 'secretsFromRecipe', options };
    },
  };
}

/** The worker-thread twin (see Processor.remote). */
export function secretsFromRecipe(o: SecretsRecipe): SecretsProcessor {
  return createSecretsProcessor(o.config, o.userRules, Buffer.from(o.keyHex, 'hex'));
}

export default defineProcessor({
  name: 'secrets',
  settings: SECRETS_SETTINGS,
  reports: SECRETS_REPORTS,
  create: (s) => createSecretsProcessor(s),
});

/**
 * The processor version: BASE_VERSION with the built-in rules and the
 * database key; otherwise a value derived from the user rules and a key id
 * (an HMAC of a constant, which reveals nothing of the key).
 */
export function deriveVersion(userRules: readonly SecretRule[], secretsKey: string): number {
  const keyId = secretsKey ? [createHmac('sha256', secretsKey).update('session-pipeline/secrets/key-id').digest('hex')] : [];
  return versionWithRules(BASE_VERSION, userRules, keyId);
}

function lineTimestamp(v: Record<string, unknown>): number | null {
  if (typeof v.timestamp !== 'string') return null;
  const t = Date.parse(v.timestamp);
  return Number.isFinite(t) ? t : null;
}
