/**
 * The secrets processor's report, `report secrets` (CLI) and
 * `GET /reports/secrets` (admin API). Only redacted excerpts and keyed
 * fingerprints exist to be shown; the secrets themselves were never stored.
 */
import Table from 'cli-table3';
import { ReportParamError, type ReportDefinition } from '../../src/pipeline/report.js';
import { hasFindingsTable, querySecretFindings, type SecretFinding } from './query.js';

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
    throw new ReportParamError(`invalid --since ${JSON.stringify(value)}: expected a date (YYYY-MM-DD, YYYYMMDD, ISO date-time) or a duration (24h, 7d)`);
  }
  return t;
}

export function renderFindings(findings: readonly SecretFinding[]): string {
  if (findings.length === 0) return 'no secrets found\n';
  const t = new Table({ head: ['session file', 'line', 'offset', 'rule', 'location', 'excerpt', 'fingerprint'], style: { head: [], border: [] } });
  for (const f of findings) t.push([f.session_file, f.line, f.offset, f.rule, f.location, f.excerpt, f.fingerprint.slice(0, 12)]);
  const distinct = new Set(findings.map((f) => f.fingerprint)).size;
  const files = new Set(findings.map((f) => f.session_file)).size;
  return `${t.toString()}\n${findings.length} finding(s) of ${distinct} distinct secret(s) in ${files} file(s)\n`;
}

export const secretsReportDef: ReportDefinition<{ findings: SecretFinding[] }> = {
  name: 'secrets',
  description: 'secrets found in transcripts: where, which rule, redacted excerpt and fingerprint',
  params: [
    { name: 'owner', valueName: 'owner', description: 'only this owner (first path segment under the root)' },
    {
      name: 'since',
      valueName: 'when',
      description: 'only lines written since a date (YYYY-MM-DD, UTC) or a duration back (24h, 7d)',
      // Resolved to a date-time where the command runs, so the daemon filters on the same instant.
      parse: (v, now) => new Date(parseSince(v, now)).toISOString(),
    },
  ],
  jsonShape: '{"findings": [{"session_file", "offset", "line", "rule", "location", "excerpt", "fingerprint"}]}',
  async run(q, p) {
    const ran = await hasFindingsTable(q);
    const findings = await querySecretFindings(q, { owner: p.owner, since: p.since === undefined ? undefined : Date.parse(p.since) });
    return { result: { findings }, notice: ran ? undefined : 'the secrets processor has not run on this database' };
  },
  table: (r) => renderFindings(r.findings),
};

export const SECRETS_REPORTS: readonly ReportDefinition[] = [secretsReportDef as ReportDefinition];
