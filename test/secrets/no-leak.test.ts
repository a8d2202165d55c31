/**
 * The raw secrets never leave the transcripts: not in the DuckDB file (bytes
 * and every text column of every table), not in the logs at the most verbose
 * level, not in `report secrets` (which still reports every finding,
 * redacted). Runs the built CLI (`npm run build` first).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandbox, runCli, line, query, CLI, type Sandbox } from '../helpers.js';
import { excerpt } from '../../pipelines/shared/credentials/redact.js';
import { openStore } from '../../src/state/open.js';
import { fakes } from './fakes.js';

const f = fakes(1234);
const g = fakes(5678);
const h = fakes(9012);
const SECRETS: Record<string, string> = {
  ghp: f.ghp,
  ghpInBadLine: g.ghp,
  ghpInBadJson: h.ghp,
  awsKeyId: f.awsKeyId,
  awsSecret: f.awsSecret,
  stripe: f.stripe,
  openai: f.openaiProj,
  anthropic: f.anthropic,
  password: f.password,
  dbPassword: f.dbPassword,
  slack: f.slackBot,
  google: f.google,
  jwt: f.jwt,
  pem: f.pemBody.replace(/\n/g, ''),
  subagent: g.gitlab,
};

/** Windows of 8 characters every 4: a leak of 12 or more consecutive characters contains one. */
function windows(secret: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 8 <= secret.length; i += 4) out.push(secret.slice(i, i + 8));
  out.push(secret.slice(-8));
  return out;
}

function leaks(haystack: Buffer | string, label: string): string[] {
  const buf = typeof haystack === 'string' ? Buffer.from(haystack) : haystack;
  const found: string[] = [];
  for (const [name, secret] of Object.entries(SECRETS)) {
    for (const w of windows(secret)) {
      if (buf.includes(w)) {
        found.push(`${label}: ${name}`);
        break;
      }
    }
  }
  return found;
}

let sb: Sandbox;
let logs = '';
let reportJson = '';
let reportTable = '';

beforeAll(async () => {
  if (!fs.existsSync(CLI)) throw new Error(`build first: ${CLI} is missing (npm run build)`);
  sb = sandbox('sp-secrets-leak-');
  const t = (i: number) => new Date(Date.UTC(2025, 6, 1, 9, 0, i)).toISOString();
  const env = [
    `STRIPE_SECRET_KEY=${f.stripe}`,
    `OPENAI_API_KEY=${f.openaiProj}`,
    `ANTHROPIC_API_KEY=${f.anthropic}`,
    `DB_PASSWORD=${f.password}`,
    `DATABASE_URL=postgres://app:${f.dbPassword}@db.internal:5432/app`,
  ].join('\n');
  sb.write(
    'alice/s1.jsonl',
    line({ type: 'user', timestamp: t(1), message: { role: 'user', content: `deploy with ${f.ghp}` } }) +
      line({
        type: 'assistant',
        timestamp: t(2),
        message: {
          id: 'msg_1',
          role: 'assistant',
          model: 'claude-sonnet-4-20250514',
          usage: { input_tokens: 3, output_tokens: 4 },
          content: [
            { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: `AWS_ACCESS_KEY_ID=${f.awsKeyId} AWS_SECRET_ACCESS_KEY=${f.awsSecret} aws s3 ls`, description: 'list' } },
            { type: 'tool_use', id: 'toolu_2', name: 'Read', input: { file_path: '/app/.env' } },
          ],
        },
      }) +
      line({
        type: 'user',
        timestamp: t(3),
        message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_2', content: env }] },
        toolUseResult: { type: 'text', file: { filePath: '/app/.env', content: env, numLines: 5 } },
      }) +
      // A line cut by a crash, holding a secret: a bad line, scanned as raw text (and never quoted in its detail).
      `{"type":"user","message":{"role":"user","content":"${g.ghp} and then` + '\n' +
      // Not JSON at the secret itself: V8's parse error would quote it.
      `{"type":"user","message":{"role":"user","content": ${h.ghp}}}` + '\n' +
      line({
        type: 'assistant',
        timestamp: t(5),
        message: {
          id: 'msg_2',
          role: 'assistant',
          model: 'claude-sonnet-4-20250514',
          usage: { input_tokens: 3, output_tokens: 4 },
          content: [
            { type: 'text', text: `Found ${f.slackBot}, ${f.google} and ${f.jwt} in the config; rotate them.` },
            { type: 'tool_use', id: 'toolu_3', name: 'Write', input: { file_path: '/home/u/.ssh/id_rsa', content: f.pem } },
          ],
        },
      }),
  );
  sb.write('bob/s2/subagents/agent-x.jsonl', line({ type: 'user', timestamp: t(6), message: { role: 'user', content: `GITLAB_TOKEN=${g.gitlab}` } }));

  const run = await runCli(['run', '--once', '--root', sb.root, '--db', sb.db, '--log-level', 'trace', '--processors', 'all', '--json', '--no-progress']);
  expect(run.code, run.stderr).toBe(0);
  const rep = await runCli(['report', 'secrets', '--db', sb.db, '--json']);
  expect(rep.code, rep.stderr).toBe(0);
  const table = await runCli(['report', 'secrets', '--db', sb.db]);
  expect(table.code, table.stderr).toBe(0);
  logs = run.stdout + run.stderr + rep.stderr + table.stderr;
  reportJson = rep.stdout;
  reportTable = table.stdout;
}, 120_000);

afterAll(() => sb?.cleanup());

describe('no raw secret anywhere', () => {
  it('reports every finding, redacted', () => {
    const { findings } = JSON.parse(reportJson) as { findings: Record<string, unknown>[] };
    const byRule = findings.map((x) => `${x.rule}@${x.location}`).sort();
    expect(byRule).toEqual(
      [
        'github-token@user_text',
        'aws-access-key-id@tool_input',
        'aws-secret-access-key@tool_input',
        'stripe-key@tool_result',
        'openai-api-key@tool_result',
        'anthropic-api-key@tool_result',
        'generic-secret@tool_result',
        'url-credentials@tool_result',
        'slack-token@assistant_text',
        'google-api-key@assistant_text',
        'jwt@assistant_text',
        'private-key@tool_input',
        'gitlab-token@user_text',
        // The two bad lines (4 and 5): scanned as raw text.
        'github-token@malformed_line',
        'github-token@malformed_line',
      ].sort(),
    );
    for (const x of findings) {
      expect(Object.keys(x).sort()).toEqual(['excerpt', 'fingerprint', 'line', 'location', 'offset', 'rule', 'session_file']);
      expect(String(x.excerpt).replace('…', '').length).toBeLessThanOrEqual(6);
    }
    expect(findings.find((x) => x.rule === 'github-token')).toMatchObject({ session_file: 'alice/s1.jsonl', line: 1, offset: 0, excerpt: excerpt(f.ghp) });
    expect(findings.filter((x) => x.location === 'malformed_line').map((x) => [x.line, x.excerpt])).toEqual([
      [4, excerpt(g.ghp)],
      [5, excerpt(h.ghp)],
    ]);
    expect(findings.find((x) => x.rule === 'private-key')).toMatchObject({ line: 6 }); // after the bad lines 4 and 5
    expect(findings.find((x) => x.rule === 'gitlab-token')).toMatchObject({ session_file: 'bob/s2/subagents/agent-x.jsonl', line: 1 });
    expect(reportTable).toContain('15 finding(s)');
  });

  it('is not in the report output or the logs', () => {
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).toContain('"level":'); // trace logs were captured
    expect([...leaks(reportJson, 'report --json'), ...leaks(reportTable, 'report'), ...leaks(logs, 'logs')]).toEqual([]);
  });

  it('is not in the database file, nor in any text column of any table', async () => {
    const files = fs.readdirSync(path.dirname(sb.db)).filter((n) => n.startsWith(path.basename(sb.db)));
    expect(files).toContain(path.basename(sb.db));
    const found: string[] = [];
    for (const n of files) found.push(...leaks(fs.readFileSync(path.join(path.dirname(sb.db), n)), n));
    // DuckDB may compress strings on disk, so also read every text value back through SQL.
    let text = '';
    const db = await openStore(sb.db, { readOnly: true });
    try {
      const cols = await db.all<{ table_name: string; column_name: string }>(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal AND data_type = 'VARCHAR' ORDER BY ALL",
      );
      expect(cols.some((c) => c.table_name === 'secret_findings')).toBe(true);
      const tables = new Map<string, string[]>();
      for (const c of cols) tables.set(c.table_name, [...(tables.get(c.table_name) ?? []), c.column_name]);
      for (const [table, columns] of tables) {
        const rows = await db.all<Record<string, unknown>>(`SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM "${table}"`);
        for (const r of rows) for (const v of Object.values(r)) if (typeof v === 'string') text += v + '\n';
      }
    } finally {
      await db.close();
    }
    expect(text).toContain('alice/s1.jsonl'); // the scan does read the tables
    expect(text).toContain(excerpt(f.ghp));
    found.push(...leaks(text, 'tables'));
    expect(found).toEqual([]);
    // The bad line was recorded, without its content.
    const bad = await query<{ detail: string }>(sb.db, 'SELECT DISTINCT detail FROM session_bad_lines ORDER BY ALL');
    expect(bad.map((b) => b.detail)).toEqual([
      "Unexpected token 'g' (not valid JSON)",
      expect.stringMatching(/^(Unterminated string|Bad control character)/),
    ]);
  });
});
