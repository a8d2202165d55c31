/**
 * `session-pipeline report secrets [--owner <o>] [--since <when>] [--json]`:
 * the secrets processor's findings. Only redacted excerpts and keyed
 * fingerprints exist to be shown; the secrets themselves were never stored.
 */
import fs from 'node:fs';
import { Command } from 'commander';
import Table from 'cli-table3';
import { addSettings, guard, CliError, EXIT } from '../common.js';
import { loadConfig } from '../../config/config.js';
import { Db } from '../../state/db.js';
import { hasFindingsTable, querySecretFindings, type SecretFinding } from '../../../pipelines/secrets/query.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/**
 * `--since`: an ISO date or date-time (a bare date is UTC midnight, as in
 * `report usage`), `YYYYMMDD`, or a duration back from now (`30m`, `24h`, `7d`, `2w`).
 */
export function parseSince(value: string, now = Date.now()): number {
  const rel = /^(\d+)\s*([smhdw])$/.exec(value.trim());
  if (rel) return now - Number(rel[1]) * UNITS[rel[2]];
  const compact = /^(\d{4})(\d{2})(\d{2})$/.exec(value.trim());
  const t = Date.parse(compact ? `${compact[1]}-${compact[2]}-${compact[3]}` : value);
  if (!Number.isFinite(t)) {
    throw new CliError(`invalid --since ${JSON.stringify(value)}: expected a date (YYYY-MM-DD, YYYYMMDD, ISO date-time) or a duration (24h, 7d)`, EXIT.usage);
  }
  return t;
}

export function secretsReportCommand(): Command {
  const cmd = new Command('secrets')
    .description('secrets found in transcripts: where, which rule, redacted excerpt and fingerprint')
    .option('--owner <owner>', 'only this owner (first path segment under the root)')
    .option('--since <when>', 'only lines written since a date (YYYY-MM-DD, UTC) or a duration back (24h, 7d)')
    .option('--json', 'print {"findings": [...]} as one JSON object');
  addSettings(cmd, ['db']);
  cmd.action((opts) =>
    guard(async () => {
      const config = loadConfig(opts, process.env, ['db']);
      const since = opts.since !== undefined ? parseSince(String(opts.since)) : undefined;
      if (config.db !== ':memory:' && !fs.existsSync(config.db)) {
        throw new CliError(`no database at ${config.db} (run \`session-pipeline run --once\` first, or pass --db)`, EXIT.unavailable);
      }
      const db = await Db.open(config.db, { readOnly: true });
      let findings: SecretFinding[];
      let ran: boolean;
      try {
        ran = await hasFindingsTable(db);
        findings = await querySecretFindings(db, { owner: opts.owner, since });
      } finally {
        await db.close();
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify({ findings }) + '\n');
        return;
      }
      if (!ran) process.stderr.write('session-pipeline: the secrets processor has not run on this database\n');
      process.stdout.write(renderFindings(findings));
    }),
  );
  return cmd;
}

export function renderFindings(findings: readonly SecretFinding[]): string {
  if (findings.length === 0) return 'no secrets found\n';
  const t = new Table({ head: ['session file', 'line', 'offset', 'rule', 'location', 'excerpt', 'fingerprint'], style: { head: [], border: [] } });
  for (const f of findings) t.push([f.session_file, f.line, f.offset, f.rule, f.location, f.excerpt, f.fingerprint.slice(0, 12)]);
  const distinct = new Set(findings.map((f) => f.fingerprint)).size;
  const files = new Set(findings.map((f) => f.session_file)).size;
  return `${t.toString()}\n${findings.length} finding(s) of ${distinct} distinct secret(s) in ${files} file(s)\n`;
}
