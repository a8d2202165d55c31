/** Reading findings back, for `report secrets` and the admin API. */
import type { ReadQuery } from '../../src/pipeline/report.js';
import { FINDINGS_TABLE } from './migrations.js';

export interface FindingQuery {
  owner?: string;
  /** Epoch ms: findings in lines written at or after this (the line's timestamp, else when found). */
  since?: number;
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
  const rows = await db.all<{ n: bigint | number }>(
    `SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = $1 AND NOT temporary`,
    [FINDINGS_TABLE],
  );
  return Number(rows[0]?.n ?? 0) > 0;
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
    where.push(`COALESCE(line_ts, found_at) >= epoch_ms($${params.length}::BIGINT)`);
  }
  const rows = await db.all<Record<string, unknown>>(
    `SELECT session_file, byte_offset, line_number, rule, location, excerpt, fingerprint
     FROM ${FINDINGS_TABLE}
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY session_file, byte_offset, rule, match_index`,
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
