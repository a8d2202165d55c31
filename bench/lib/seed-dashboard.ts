/**
 * Seeds a database for the dashboard benchmark straight into the processors'
 * tables, set-wise from `range()` (a million rows through transcripts would
 * take minutes; the dashboard reads only the tables), then the usage
 * processor's cross-file picks of every key (its own fold statements, picks.ts) and its rollups. The schema is the
 * processors' own migrations, so the seeded file is what `watch` opens.
 *
 * Shape: `sessions` sessions of `messagesPerSession` messages each, over
 * `owners` owners and four models, spread over the last `days` days and
 * ending now (so Live has something to show); one session in ten has a
 * subagent file holding two of its messages; half as many tool events as
 * messages, 4 % of them failing; a few thousand secret findings.
 */
import { openStore } from '../../src/state/open.js';
import { migrate } from '../../src/state/migrations.js';
import { CORE_COMPONENT, CORE_MIGRATIONS } from '../../src/state/schema.js';
import { USAGE_MIGRATIONS } from '../../pipelines/usage/migrations.js';
import { SECRETS_MIGRATIONS } from '../../pipelines/secrets/migrations.js';
import { activatePrices } from '../../pipelines/usage/price-versions.js';
import { loadPriceTable } from '../../pipelines/usage/pricing.js';
import { foldSql } from '../../pipelines/usage/picks.js';

export interface SeedShape {
  sessions: number;
  messagesPerSession: number;
  owners: number;
  days: number;
  findings: number;
}

export const BENCH_SHAPE: SeedShape = { sessions: 50_000, messagesPerSession: 20, owners: 50, days: 90, findings: 5_000 };

export async function seedDashboardDb(dbPath: string, shape: SeedShape = BENCH_SHAPE): Promise<void> {
  const db = await openStore(dbPath);
  try {
    await migrate(db, CORE_COMPONENT, CORE_MIGRATIONS);
    await migrate(db, 'usage', USAGE_MIGRATIONS);
    await migrate(db, 'secrets', SECRETS_MIGRATIONS);
    const S = shape.sessions;
    const M = shape.messagesPerSession;
    const spanS = shape.days * 86_400;
    // Session s starts at (now - span) + s * span / S and has one message a minute.
    await db.run(`CREATE TEMP TABLE seed_s AS
      SELECT s, 'owner-' || lpad((s % ${shape.owners})::VARCHAR, 3, '0') AS owner,
        'sess-' || lpad(s::VARCHAR, 6, '0') AS sid,
        (make_timestamp(${(Math.floor(Date.now() / 1000) - spanS) * 1_000_000}::BIGINT) + to_seconds((s * ${spanS} // ${S})::BIGINT)) AS t0
      FROM range(${S}) r(s)`);
    await db.run(`INSERT INTO usage_files
      SELECT owner || '/' || sid || '.jsonl', owner, sid, false, t0, t0 + to_minutes(${M - 1}), '/home/' || owner, 'main', '2.0.14', ${M * 3}
      FROM seed_s`);
    await db.run(`INSERT INTO usage_files
      SELECT owner || '/' || sid || '/subagents/agent-' || s || '.jsonl', owner, sid, true, t0 + to_minutes(2), t0 + to_minutes(3), '/home/' || owner, 'main', '2.0.14', 6
      FROM seed_s WHERE s % 10 = 0`);
    const model = `CASE m % 4 WHEN 0 THEN 'claude-sonnet-4-5-20250929' WHEN 1 THEN 'claude-opus-4-1-20250805' WHEN 2 THEN 'claude-haiku-4-5-20251001' ELSE 'claude-sonnet-4-20250514' END`;
    // Raw tokens only: cost is priced at read time (views.ts) from the price tables the processor fills at start.
    await db.run(`INSERT INTO usage_messages (session_file, message_key, owner, message_id, request_id, ts, model, speed,
        input_tokens, output_tokens, cache_creation_tokens, cache_creation_5m_tokens, cache_creation_1h_tokens,
        cache_read_tokens, total_tokens, synthetic, line_offset, long_context)
      SELECT CASE WHEN s % 10 = 0 AND m IN (2, 3) THEN owner || '/' || sid || '/subagents/agent-' || s || '.jsonl' ELSE owner || '/' || sid || '.jsonl' END,
        'msg_' || s || '_' || m, owner, 'msg_' || s || '_' || m, 'req_' || s || '_' || m,
        t0 + to_minutes(m), ${model}, NULL,
        (s * 7 + m * 13) % 5000 + 10, (s * 11 + m * 17) % 3000 + 5, (s + m * 31) % 20000, (s + m * 31) % 20000, 0,
        (s * 3 + m * 101) % 90000,
        ((s * 7 + m * 13) % 5000 + 10) + ((s * 11 + m * 17) % 3000 + 5) + (s + m * 31) % 20000 + (s * 3 + m * 101) % 90000,
        false, m * 1000, false
      FROM seed_s, range(${M}) r(m)`);
    const tool = `CASE e % 6 WHEN 0 THEN 'Bash' WHEN 1 THEN 'Read' WHEN 2 THEN 'Edit' WHEN 3 THEN 'Grep' WHEN 4 THEN 'Task' ELSE 'mcp__github__get_issue' END`;
    const kind = `CASE e % 6 WHEN 4 THEN 'subagent' WHEN 5 THEN 'mcp' ELSE 'tool' END`;
    await db.run(`INSERT INTO usage_events
      SELECT owner || '/' || sid || '.jsonl', 'toolu_' || s || '_' || e, owner, t0 + to_minutes(e * 2) + INTERVAL 20 SECOND,
        ${kind}, CASE e % 6 WHEN 4 THEN 'general-purpose' WHEN 5 THEN 'mcp__github__get_issue' ELSE ${tool} END, ${tool},
        CASE e % 6 WHEN 5 THEN 'github' END, CASE e % 6 WHEN 5 THEN 'get_issue' END, e * 2000 + 500
      FROM seed_s, range(${Math.floor(M / 2)}) r(e)`);
    // The newest session's last tool call has no result yet: it is "running".
    await db.run(`INSERT INTO usage_tool_results
      SELECT owner || '/' || sid || '.jsonl', 'toolu_' || s || '_' || e, (s + e) % 25 = 0
      FROM seed_s, range(${Math.floor(M / 2)}) r(e) WHERE NOT (s = ${S - 1} AND e = ${Math.floor(M / 2) - 1})`);
    await db.run(`INSERT INTO secret_findings
      SELECT owner || '/' || sid || '.jsonl', owner, 10000, 10, CASE s % 3 WHEN 0 THEN 'github-pat' WHEN 1 THEN 'aws-access-key-id' ELSE 'anthropic-api-key' END,
        0, 'tool_result', CASE s % 3 WHEN 0 THEN 'ghp_…3f' WHEN 1 THEN 'AKIA…QA' ELSE 'sk-a…9x' END,
        left(md5(s::VARCHAR), 32), t0 + to_minutes(1), t0 + to_minutes(30)
      FROM seed_s WHERE s % ${Math.max(1, Math.floor(S / shape.findings))} = 0`);
    // The cross-file picks of every key, as the daemon's fold leaves them (picks.ts); then the
    // price table activated as the daemon's start does: it maps the seeded models and, as they
    // are newly mapped, sums the rollups from the picks (price-versions.ts, rollup.ts).
    await db.transaction(async () => {
      for (const sql of foldSql('duckdb', { all: true })) await db.run(sql);
    });
    await activatePrices(db, loadPriceTable(''));
    await db.run('DROP TABLE seed_s');
    await db.run('CHECKPOINT');
  } finally {
    await db.close();
  }
}
