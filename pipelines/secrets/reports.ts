/**
 * The secrets processor's report, `report secrets` (CLI) and
 * `GET /reports/secrets` (admin API). Only redacted excerpts and keyed
 * fingerprints exist to be shown; the secrets themselves were never stored.
 */
import Table from 'cli-table3';
import type { ReportDefinition } from '../../src/pipeline/report.js';
import { SINCE_PARAM, TZ_PARAM, WHEN_FORMS, whenRange } from '../../src/pipeline/report-time.js';
import { hasFindingsTable, querySecretFindings, type SecretFinding } from './query.js';

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
    // The parser every report shares: resolved where the command runs, so a daemon filters on the same instant.
    TZ_PARAM,
    { ...SINCE_PARAM, description: `only lines written since this day (in --tz) or instant: ${WHEN_FORMS}` },
  ],
  jsonShape: '{"findings": [{"session_file", "offset", "line", "rule", "location", "excerpt", "fingerprint"}]}',
  async run(q, p) {
    const ran = await hasFindingsTable(q);
    const findings = await querySecretFindings(q, { owner: p.owner, since: whenRange(p.since, undefined, p.tz ?? 'UTC').since });
    return { result: { findings }, notice: ran ? undefined : 'the secrets processor has not run on this database' };
  },
  table: (r) => renderFindings(r.findings),
};

export const SECRETS_REPORTS: readonly ReportDefinition[] = [secretsReportDef as ReportDefinition];
