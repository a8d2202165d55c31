/** Reading findings back, for `report secrets` and the admin API. */
import type { ReadQuery } from '../../src/pipeline/report.js';
import { FINDINGS_TABLE } from './migrations.js';
import { kindOf, relationExistsSql, tsFromEpochMs, tsText } from '../../src/state/dialect.js';

export interface FindingQuery {
  owner?: string;
  /** Epoch ms: findings in lines written at or after this (the line's timestamp, else when found). */
  since?: number;
  /** At most this many findings (the newest files' first when cut). */
  limit?: number;
}

/** The public shape of a finding (`report secrets --json`). */
export interface SecretFinding {
  session_file: string;
  offset: number;
  line: number;
  rule: string;
  location: string;
  excerpt: string;
  fingerprint: string;
}

export async function hasFindingsTable(db: ReadQuery): Promise<boolean> {
  return (await db.all(relationExistsSql(FINDINGS_TABLE, 'BASE TABLE'))).length > 0;
}

/** Findings, ordered by file, offset, rule and match. Empty when the processor never ran here. */
export async function querySecretFindings(db: ReadQuery, q: FindingQuery = {}): Promise<SecretFinding[]> {
  if (!(await hasFindingsTable(db))) return [];
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (q.owner !== undefined) {
    params.push(q.owner);
    where.push(`owner = $${params.length}`);
  }
  if (q.since !== undefined) {
    params.push(Math.trunc(q.since));
    where.push(`COALESCE(line_ts, found_at) >= ${tsFromEpochMs(kindOf(db), `CAST($${params.length} AS BIGINT)`)}`);
  }
  const rows = await db.all<Record<string, unknown>>(
    `SELECT session_file, byte_offset, line_number, rule, location, excerpt, fingerprint
     FROM ${FINDINGS_TABLE}
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY session_file, byte_offset, rule, match_index
     ${q.limit !== undefined ? `LIMIT ${Math.max(0, Math.trunc(q.limit))}` : ''}`,
    params,
  );
  return rows.map((r) => ({
    session_file: String(r.session_file),
    offset: Number(r.byte_offset),
    line: Number(r.line_number),
    rule: String(r.rule),
    location: String(r.location),
    excerpt: String(r.excerpt),
    fingerprint: String(r.fingerprint),
  }));
}

/** Finding counts for metrics and health: total, distinct secrets, per rule. */
export async function countSecretFindings(db: ReadQuery): Promise<{ total: number; distinct: number; byRule: Record<string, number> }> {
  if (!(await hasFindingsTable(db))) return { total: 0, distinct: 0, byRule: {} };
  const rows = await db.all<{ rule: string; n: bigint | number }>(`SELECT rule, count(*) AS n FROM ${FINDINGS_TABLE} GROUP BY rule ORDER BY rule`);
  const distinct = await db.all<{ n: bigint | number }>(`SELECT count(DISTINCT fingerprint) AS n FROM ${FINDINGS_TABLE}`);
  const byRule: Record<string, number> = {};
  let total = 0;
  for (const r of rows) {
    byRule[r.rule] = Number(r.n);
    total += Number(r.n);
  }
  return { total, distinct: Number(distinct[0]?.n ?? 0), byRule };
}

export interface FindingCount {
  key: string;
  findings: number;
  /** Distinct secrets (fingerprints) among them. */
  distinct: number;
}

export interface FindingSummary {
  byOwner: FindingCount[];
  byRule: FindingCount[];
  /** By the local day of the line (else of when it was found), in `tz`. */
  byDay: FindingCount[];
  total: FindingCount;
}

/** Finding counts by owner, rule and local day, for the dashboard. No excerpt, no fingerprint. */
export async function secretFindingSummary(
  db: ReadQuery,
  /** `since` / `until`: epoch ms, until exclusive (src/pipeline/report-time.ts `whenRange`). */
  q: { tz: string; owner?: string; since?: number; until?: number },
): Promise<FindingSummary> {
  const empty: FindingSummary = { byOwner: [], byRule: [], byDay: [], total: { key: 'total', findings: 0, distinct: 0 } };
  if (!(await hasFindingsTable(db))) return empty;
  const params: (string | number)[] = [q.tz];
  const where: string[] = [];
  const kind = kindOf(db);
  const day = tsText(kind, `timezone(CAST($1 AS VARCHAR), timezone('UTC', COALESCE(line_ts, found_at)))`, 'day');
  if (q.owner !== undefined) {
    params.push(q.owner);
    where.push(`owner = $${params.length}`);
  }
  if (q.since !== undefined) {
    params.push(q.since);
    where.push(`at >= ${tsFromEpochMs(kind, `CAST($${params.length} AS BIGINT)`)}`);
  }
  if (q.until !== undefined) {
    params.push(q.until);
    where.push(`at < ${tsFromEpochMs(kind, `CAST($${params.length} AS BIGINT)`)}`);
  }
  const rows = await db.all<Record<string, unknown>>(
    `WITH f AS (SELECT owner, rule, ${day} AS day, fingerprint, COALESCE(line_ts, found_at) AS at FROM ${FINDINGS_TABLE})
     SELECT owner, rule, day, grouping(owner) AS g_owner, grouping(rule) AS g_rule, grouping(day) AS g_day,
       count(*)::BIGINT AS findings, count(DISTINCT fingerprint)::BIGINT AS distinct_secrets
     FROM f ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     GROUP BY GROUPING SETS ((owner), (rule), (day), ())
     ORDER BY owner NULLS LAST, rule NULLS LAST, day NULLS LAST`,
    params,
  );
  const out = empty;
  for (const r of rows) {
    const c = (key: unknown): FindingCount => ({ key: String(key), findings: Number(r.findings), distinct: Number(r.distinct_secrets) });
    if (Number(r.g_owner) === 0) out.byOwner.push(c(r.owner));
    else if (Number(r.g_rule) === 0) out.byRule.push(c(r.rule));
    else if (Number(r.g_day) === 0) out.byDay.push(c(r.day));
    else out.total = c('total');
  }
  return out;
}
