/**
 * Usage keeps fields the user typed (skill, subagent and slash-command
 * names, cwd, gitBranch). A credential typed into one must not reach
 * `usage_events` / `usage_files`, the checkpoint's carry, `report events`,
 * `report usage --by session` or the Parquet export: the CLI end to end, on
 * real files, with the secrets rules.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { line, query, runCli, sandbox, type Sandbox } from '../helpers.js';
import { fakes } from '../secrets/fakes.js';
import { redactor } from '../../pipelines/usage/redact.js';
import { openStore } from '../../src/state/open.js';

const f = fakes(41);
const SECRETS = { ghp: f.ghp, slack: f.slackBot, aws: f.awsKeyId, npm: f.npm, google: f.google, gitlab: f.gitlab };
/** Any 8 consecutive characters of any secret. */
function leaks(text: string): string[] {
  const out: string[] = [];
  for (const [name, s] of Object.entries(SECRETS)) {
    for (let i = 0; i + 8 <= s.length; i++) if (text.includes(s.slice(i, i + 8))) { out.push(`${name}@${i}`); break; }
  }
  return out;
}

let sb: Sandbox;
const ts = (i: number) => new Date(Date.UTC(2025, 6, 1, 9, 0, i)).toISOString();
const base = { sessionId: 's1', cwd: `/home/u/proj-${f.ghp}`, gitBranch: `fix/${f.gitlab}`, version: '2.0.1' };
let outputs = '';

beforeAll(async () => {
  sb = sandbox('sp-usage-redact-');
  sb.write(
    'o/s1.jsonl',
    line({ ...base, type: 'user', uuid: 'u1', timestamp: ts(1), message: { role: 'user', content: `<command-name>/deploy ${f.slackBot}</command-name>` } }) +
      line({
        ...base,
        type: 'assistant',
        timestamp: ts(2),
        requestId: 'req_1',
        message: {
          id: 'msg_1',
          role: 'assistant',
          model: 'claude-sonnet-4-20250514',
          usage: { input_tokens: 10, output_tokens: 5 },
          content: [
            { type: 'tool_use', id: 'toolu_1', name: 'Skill', input: { skill: `release ${f.npm}` } },
            { type: 'tool_use', id: 'toolu_2', name: 'Task', input: { subagent_type: `reviewer ${f.google}`, prompt: 'x' } },
            { type: 'tool_use', id: 'toolu_3', name: `mcp__srv.${f.awsKeyId}.x__lookup`, input: {} },
            { type: 'tool_use', id: 'toolu_4', name: 'Bash', input: { command: 'ls' } },
          ],
        },
      }),
  );
  const env = { SESSION_PIPELINE_DB: sb.db, SESSION_ROOT: sb.root };
  const run = await runCli(['run', '--once', '--processors', 'usage', '--no-progress', '--json'], env);
  expect(run.code, run.stderr).toBe(0);
  const parts: string[] = [run.stdout, run.stderr];
  for (const by of ['tool', 'skill', 'mcp', 'subagent', 'command']) {
    const r = await runCli(['report', 'events', '--by', by, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    parts.push(r.stdout);
  }
  const sessions = await runCli(['report', 'usage', '--by', 'session', '--json'], env);
  expect(sessions.code, sessions.stderr).toBe(0);
  parts.push(sessions.stdout);
  const out = path.join(sb.dir, 'export');
  const exp = await runCli(['export', '--format', 'parquet', '--out', out, '--json'], env);
  expect(exp.code, exp.stderr).toBe(0);
  // Parquet is compressed: read it back through DuckDB.
  for (const file of fs.readdirSync(out).filter((n) => n.endsWith('.parquet'))) {
    const rows = await query(sb.db, `SELECT * FROM read_parquet('${path.join(out, file)}')`);
    parts.push(JSON.stringify(rows));
  }
  outputs = parts.join('\n');
}, 120_000);

afterAll(() => sb?.cleanup());

describe('usage redacts credentials in user-typed fields', () => {
  it('stores names, cwd and branch with the credential replaced by [redacted:<rule>]', async () => {
    const events = await query<{ kind: string; name: string; tool: string | null; mcp_server: string | null }>(
      sb.db,
      'SELECT kind, name, tool, mcp_server FROM usage_events ORDER BY kind, name',
    );
    expect(events).toEqual([
      { kind: 'command', name: '/deploy [redacted:slack-token]', tool: null, mcp_server: null },
      { kind: 'mcp', name: 'srv.[redacted:aws-access-key-id].x/lookup', tool: 'mcp__srv.[redacted:aws-access-key-id].x__lookup', mcp_server: 'srv.[redacted:aws-access-key-id].x' },
      { kind: 'skill', name: 'release [redacted:npm-token]', tool: 'Skill', mcp_server: null },
      { kind: 'subagent', name: 'reviewer [redacted:google-api-key]', tool: 'Task', mcp_server: null },
      { kind: 'tool', name: 'Bash', tool: 'Bash', mcp_server: null },
    ]);
    const files = await query<{ cwd: string; git_branch: string; cc_version: string }>(sb.db, 'SELECT cwd, git_branch, cc_version FROM usage_files');
    expect(files).toEqual([{ cwd: '/home/u/proj-[redacted:github-token]', git_branch: 'fix/[redacted:gitlab-token]', cc_version: '2.0.1' }]);
  });

  it('leaks no credential into any text column, the checkpoint carry, the reports or the Parquet export', async () => {
    const texts: string[] = [];
    const db = await openStore(sb.db);
    try {
      const tables = await db.all<{ table_name: string; column_name: string }>(
        "SELECT table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR' AND table_schema = 'main'",
      );
      for (const t of tables) {
        const rows = await db.all<{ v: string | null }>(`SELECT "${t.column_name}"::VARCHAR AS v FROM "${t.table_name}"`);
        for (const r of rows) if (r.v) texts.push(`${t.table_name}.${t.column_name}: ${r.v}`);
      }
    } finally {
      await db.close();
    }
    expect(texts.some((t) => t.startsWith('session_processor_state.carry') && t.includes('[redacted:github-token]'))).toBe(true);
    expect(leaks(texts.join('\n'))).toEqual([]);
    expect(outputs).toContain('[redacted:slack-token]');
    expect(leaks(outputs)).toEqual([]);
  });

  it('the redactor: names without a credential pass unchanged; a rules file adds rules', () => {
    const r = redactor('');
    expect(r.text('Bash')).toBe('Bash');
    expect(r.text('/home/u/proj')).toBe('/home/u/proj');
    expect(r.text(`a ${f.ghp} b ${f.npm}`)).toBe('a [redacted:github-token] b [redacted:npm-token]');
    expect(r.nullable(null)).toBeNull();
    const rules = path.join(sb.dir, 'rules.json');
    fs.writeFileSync(rules, JSON.stringify([{ id: 'acme-token', description: 'ACME', pattern: 'acme_[a-z0-9]{12}', keywords: ['acme_'] }]));
    const custom = redactor(rules);
    expect(custom.text('branch acme_abcdef123456')).toBe('branch [redacted:acme-token]');
  });

  it('--secrets-rules reaches usage: a user rule redacts cwd and branch, and changing the rules reprocesses', async () => {
    const s2 = sandbox('sp-usage-redact-rules-');
    try {
      const token = 'acme_k3y9q2w8e7r6';
      const meta = { sessionId: 's2', cwd: `/srv/${token}/app`, gitBranch: `deploy-${token}`, version: '2.0.1' };
      s2.write('o/s2.jsonl', line({ ...meta, type: 'user', uuid: 'u1', timestamp: ts(1), message: { role: 'user', content: 'hi' } }));
      const rules = path.join(s2.dir, 'rules.json');
      fs.writeFileSync(rules, JSON.stringify([{ id: 'acme-token', description: 'ACME', pattern: 'acme_[a-z0-9]{12}', keywords: ['acme_'] }]));
      const env = { SESSION_ROOT: s2.root, SESSION_PIPELINE_DB: s2.db };
      const plain = await runCli(['run', '--once', '--processors', 'usage', '--no-progress'], env);
      expect(plain.code, plain.stderr).toBe(0);
      const before = await query(s2.db, 'SELECT cwd, git_branch FROM usage_files');
      expect(before).toEqual([{ cwd: `/srv/${token}/app`, git_branch: `deploy-${token}` }]);
      const ruled = await runCli(['run', '--once', '--processors', 'usage', '--no-progress', '--secrets-rules', rules], env);
      expect(ruled.code, ruled.stderr).toBe(0);
      const after = await query(s2.db, 'SELECT cwd, git_branch FROM usage_files');
      expect(after).toEqual([{ cwd: '/srv/[redacted:acme-token]/app', git_branch: 'deploy-[redacted:acme-token]' }]);
    } finally {
      s2.cleanup();
    }
  });
});
