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
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { defineProcessor, type Processor, type ProcessorInit } from '../../src/pipeline/processor.js';
import { setting, settingSchemas } from '../../src/config/config.js';
import { BUILT_IN_RULES, loadRulesFile, mergeRules, type SecretRule } from './rules.js';
import { compileRules, detect, type RuleSet } from './detect.js';
import { locate } from './locate.js';
import { excerpt, fingerprint } from './redact.js';
import { FINDINGS_OUTPUT, FINDINGS_TABLE, KEY_TABLE, SECRETS_MIGRATIONS } from './migrations.js';
import { SECRETS_REPORTS } from './reports.js';

export { querySecretFindings, countSecretFindings, type SecretFinding, type FindingQuery } from './query.js';

/** Bump to retract and rescan everything (changes to built-in rules or to what a finding is). */
export const BASE_VERSION = 1;

export interface SecretsCarry {
  /** Physical lines (good or bad) before `pos`. */
  lines: number;
  /** Byte offset just after the last line counted. */
  pos: number;
}

export const SECRETS_SETTINGS = {
  secretsSettleMs: setting({
    flag: '--secrets-settle-ms <ms>',
    env: 'SESSION_PIPELINE_SECRETS_SETTLE_MS',
    schema: settingSchemas.int(0),
    default: () => 30_000,
    describe: 'secrets: process a file only after it has been quiet this long',
    watchOnly: true,
  }),
  secretsRules: setting({
    flag: '--secrets-rules <file>',
    env: 'SESSION_PIPELINE_SECRETS_RULES',
    schema: settingSchemas.optionalPath,
    default: () => '',
    describe: 'secrets: extra detection rules (JSON file)',
  }),
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

export interface SecretsProcessor extends Processor<SecretsCarry> {
  /** The effective rule ids, in priority order. */
  readonly ruleIds: readonly string[];
}

export function createSecretsProcessor(config: SecretsConfig, extraRules: readonly SecretRule[] = []): SecretsProcessor {
  const userRules = [...(config.secretsRules ? loadRulesFile(config.secretsRules) : []), ...extraRules];
  const effective = mergeRules(userRules, BUILT_IN_RULES);
  const rules: RuleSet = compileRules(effective);
  const secretsKey = config.secretsKey ?? '';
  let key: Buffer | null = secretsKey ? Buffer.from(secretsKey, 'utf8') : null;
  let root = config.root;

  return {
    name: 'secrets',
    version: deriveVersion(userRules, secretsKey),
    settleMs: config.secretsSettleMs,
    migrations: SECRETS_MIGRATIONS,
    tables: [FINDINGS_OUTPUT],
    reports: SECRETS_REPORTS,
    ruleIds: effective.map((r) => r.id),

    async init(ctx: ProcessorInit) {
      root = ctx.root;
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
      const absPath = path.join(root, ...file.split('/'));
      let { lines, pos } = batch.carry ?? { lines: 0, pos: 0 };
      const now = Date.now();
      let found = 0;
      for (const l of batch.lines) {
        // Bad lines never reach a processor; count them from the bytes between good lines.
        if (l.offset > pos) lines += await countNewlines(absPath, pos, l.offset);
        lines += 1;
        pos = l.offset + l.length;
        const texts = locate(l.value);
        if (texts.length === 0) continue;
        let perRule: Map<string, number> | null = null;
        let seen: Set<string> | null = null;
        for (const t of texts) {
          const matches = detect(t.text, rules);
          if (matches.length === 0) continue;
          perRule ??= new Map();
          seen ??= new Set();
          for (const m of matches) {
            const fp = fingerprint(key, m.secret);
            // toolUseResult repeats the tool_result: one finding per secret, rule and location in a line.
            const dedupe = `${m.rule}\u0000${t.location}\u0000${fp}`;
            if (seen.has(dedupe)) continue;
            seen.add(dedupe);
            const index = perRule.get(m.rule) ?? 0;
            perRule.set(m.rule, index + 1);
            tx.insert(FINDINGS_TABLE, [
              file,
              batch.file.owner,
              l.offset,
              lines,
              m.rule,
              index,
              t.location,
              excerpt(m.secret),
              fp,
              lineTimestamp(l.value),
              now,
            ]);
            found++;
          }
        }
      }
      tx.setCarry({ lines, pos } satisfies SecretsCarry);
      tx.countItems(found);
    },

    // retract: the default (secrets_key is a private table, not a declared output).
  };
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
  const parts: string[] = [];
  if (userRules.length > 0) parts.push(JSON.stringify(userRules));
  if (secretsKey) parts.push(createHmac('sha256', secretsKey).update('session-pipeline/secrets/key-id').digest('hex'));
  if (parts.length === 0) return BASE_VERSION;
  const h = createHash('sha256').update(parts.join('\u0000')).digest().readUInt32BE(0) % 1_000_000;
  return BASE_VERSION * 1_000_000 + h;
}

function lineTimestamp(v: Record<string, unknown>): number | null {
  if (typeof v.timestamp !== 'string') return null;
  const t = Date.parse(v.timestamp);
  return Number.isFinite(t) ? t : null;
}

/** Newlines in [from, to) of a file: the number of (bad) lines in a gap between good lines. */
async function countNewlines(absPath: string, from: number, to: number): Promise<number> {
  const fh = await fs.open(absPath, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.min(1 << 20, Math.max(1, to - from)));
    let n = 0;
    let pos = from;
    while (pos < to) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, to - pos), pos);
      if (bytesRead === 0) break;
      let i = buf.indexOf(0x0a, 0);
      while (i !== -1 && i < bytesRead) {
        n++;
        i = buf.indexOf(0x0a, i + 1);
      }
      pos += bytesRead;
    }
    return n;
  } finally {
    await fh.close();
  }
}
