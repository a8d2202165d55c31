/**
 * The secrets processor's report, `report secrets` (CLI) and
 * `GET /reports/secrets` (admin API). Only redacted excerpts and keyed
 * fingerprints exist to be shown; the secrets themselves were never stored.
 */
import { renderTable } from '../../src/pipeline/table.js';
import { ReportParamError, type ReportDefinition } from '../../src/pipeline/report.js';
import { SINCE_PARAM, TZ_PARAM, UNTIL_PARAM, WHEN_FORMS, whenRange } from '../../src/pipeline/report-time.js';
import { hasFindingsTable, querySecretFindings, secretFindingSummary, type FindingSummary, type SecretFinding } from './query.js';

export function renderFindings(findings: readonly SecretFinding[]): string {
  if (findings.length === 0) return 'no secrets found\n';
  // One row per finding: a team's findings run to thousands, which cli-table3 lays out in quadratic time.
  const rows = findings.map((f) => [f.session_file, String(f.line), String(f.offset), f.rule, f.location, f.excerpt, f.fingerprint.slice(0, 12)]);
  const t = renderTable(['session file', 'line', 'offset', 'rule', 'location', 'excerpt', 'fingerprint'], rows, [], { rowLines: true });
  const distinct = new Set(findings.map((f) => f.fingerprint)).size;
  const files = new Set(findings.map((f) => f.session_file)).size;
  return `${t}\n${findings.length} finding(s) of ${distinct} distinct secret(s) in ${files} file(s)\n`;
}

export const secretsReportDef: ReportDefinition<{ findings: SecretFinding[] }> = {
  name: 'secrets',
  description: 'secrets found in transcripts: where, which rule, redacted excerpt and fingerprint',
  params: [
    { name: 'owner', valueName: 'owner', description: 'only this owner (first path segment under the root)' },
    // The parser every report shares: resolved where the command runs, so a daemon filters on the same instant.
    TZ_PARAM,
    { ...SINCE_PARAM, description: `only lines written since this day (in --tz) or instant: ${WHEN_FORMS}` },
    {
      name: 'limit',
      valueName: 'n',
      description: 'at most this many findings (by file and offset)',
      parse: (v) => {
        if (!/^\d{1,9}$/.test(v.trim())) throw new ReportParamError(`invalid --limit ${JSON.stringify(v)}: expected a whole number`);
        return String(Number(v));
      },
    },
  ],
  jsonShape: '{"findings": [{"session_file", "offset", "line", "rule", "location", "excerpt", "fingerprint"}]}',
  async run(q, p) {
    const ran = await hasFindingsTable(q);
    const findings = await querySecretFindings(q, {
      owner: p.owner,
      since: whenRange(p.since, undefined, p.tz ?? 'UTC').since,
      limit: p.limit === undefined ? undefined : Number(p.limit),
    });
    return { result: { findings }, notice: ran ? undefined : 'the secrets processor has not run on this database' };
  },
  table: (r) => renderFindings(r.findings),
};

/** Counts only: no excerpt and no fingerprint leave this report. */
export const secretsSummaryDef: ReportDefinition<FindingSummary> = {
  name: 'secrets-summary',
  description: 'secret findings counted by owner, rule and day (no excerpts)',
  params: [
    TZ_PARAM,
    { ...SINCE_PARAM, description: `only lines written since this day (in --tz) or instant: ${WHEN_FORMS}` },
    { ...UNTIL_PARAM, description: `only lines written until this day (in --tz) or instant: ${WHEN_FORMS}` },
    { name: 'owner', valueName: 'owner', description: 'only this owner' },
  ],
  jsonShape: '{"byOwner": [{"key", "findings", "distinct"}], "byRule": [...], "byDay": [...], "total": {...}}',
  async run(q, p) {
    const ran = await hasFindingsTable(q);
    const tz = p.tz ?? 'UTC';
    const r = whenRange(p.since, p.until, tz);
    const result = await secretFindingSummary(q, { tz, owner: p.owner, since: r.since, until: r.until });
    return { result, notice: ran ? undefined : 'the secrets processor has not run on this database' };
  },
  table(r) {
    const t: string[][] = [];
    for (const [by, rows] of [['owner', r.byOwner], ['rule', r.byRule], ['day', r.byDay]] as const) for (const x of rows) t.push([by, x.key, String(x.findings), String(x.distinct)]);
    t.push(['total', '', String(r.total.findings), String(r.total.distinct)]);
    return `${renderTable(['by', 'key', 'findings', 'distinct secrets'], t, ['left', 'left', 'right', 'right'])}\n`;
  },
};

export const SECRETS_REPORTS: readonly ReportDefinition[] = [secretsReportDef as ReportDefinition, secretsSummaryDef as ReportDefinition];
