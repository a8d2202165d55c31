/**
 * The secrets processor in a real pipeline: findings, positions (byte offset
 * and line number across batches, runs and bad lines), locations, keyed
 * fingerprints, retraction, the report query.
 */
import fs from 'node:fs';
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { sandbox, runOnceIn, query, line, openPipeline, type Sandbox } from '../helpers.js';
import { createSecretsProcessor, querySecretFindings, countSecretFindings, type SecretsConfig } from '../../pipelines/secrets/index.js';
import { linesProcessor } from '../../pipelines/lines/index.js';
import { openStore } from '../../src/state/open.js';
import { fakes } from './fakes.js';

const f = fakes(21);
let sb: Sandbox;
afterEach(() => sb?.cleanup());

const cfg = (extra: Partial<SecretsConfig> = {}): SecretsConfig => ({
  root: sb.root,
  secretsSettleMs: 0,
  secretsRules: '',
  secretsKey: '',
  ...extra,
});

const ts = (i: number) => new Date(Date.UTC(2025, 5, 1, 12, 0, i)).toISOString();
const user = (text: string, i = 0) => line({ type: 'user', timestamp: ts(i), message: { role: 'user', content: text } });
const assistantText = (text: string, i = 0) =>
  line({ type: 'assistant', timestamp: ts(i), message: { role: 'assistant', content: [{ type: 'text', text }] } });
const bash = (command: string, i = 0) =>
  line({
    type: 'assistant',
    timestamp: ts(i),
    message: { role: 'assistant', content: [{ type: 'tool_use', id: `toolu_${i}`, name: 'Bash', input: { command } }] },
  });
const result = (out: string, i = 0, toolUseResult: unknown = { stdout: out, stderr: '', interrupted: false }) =>
  line({
    type: 'user',
    timestamp: ts(i),
    message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: `toolu_${i}`, content: out }] },
    toolUseResult,
  });

interface Row {
  session_file: string;
  owner: string;
  byte_offset: number;
  line_number: number;
  rule: string;
  match_index: number;
  location: string;
  excerpt: string;
  fingerprint: string;
}
const findings = (db: string) =>
  query<Row>(db, 'SELECT * EXCLUDE (found_at, line_ts) FROM secret_findings ORDER BY session_file, byte_offset, rule, match_index');
const dbKey = async (db: string) => Buffer.from((await query<{ key_hex: string }>(db, 'SELECT key_hex FROM secrets_key'))[0].key_hex, 'hex');
const hmac = (key: Buffer | string, s: string) => createHmac('sha256', key).update(s).digest('hex').slice(0, 32);

/** Byte offsets of each line start. */
function offsets(content: string): number[] {
  const out: number[] = [];
  let off = 0;
  for (const l of content.split('\n').slice(0, -1)) {
    out.push(off);
    off += Buffer.byteLength(l) + 1;
  }
  return out;
}

describe('secrets processor', () => {
  it('records rule, location, line, offset, excerpt and keyed fingerprint; bad lines still count as lines', async () => {
    sb = sandbox();
    const content =
      user('please use my token ' + f.ghp, 1) + // line 1
      assistantText('I will not print it. Héllo ✓ unicode first', 2) + // line 2
      '{"truncated": "by a crash\n' + // line 3: bad
      '\n' + // line 4: blank
      bash(`export AWS_ACCESS_KEY_ID=${f.awsKeyId} && aws s3 ls`, 5) + // line 5
      result(`DB_PASSWORD=${f.password}\nSTRIPE_KEY=${f.stripe}\n`, 6) + // line 6 (also in toolUseResult)
      assistantText(`Your GitHub token ${f.ghp} is exposed, rotate it`, 7); // line 7
    sb.write('alice/s1.jsonl', content);
    const summary = await runOnceIn(sb, [linesProcessor, createSecretsProcessor(cfg())]);
    expect(summary.processors.secrets.items).toBe(5);
    const key = await dbKey(sb.db);
    expect(key.length).toBe(32);
    const off = offsets(content);
    const rows = await findings(sb.db);
    expect(rows).toEqual([
      { session_file: 'alice/s1.jsonl', owner: 'alice', byte_offset: off[0], line_number: 1, rule: 'github-token', match_index: 0, location: 'user_text', excerpt: `ghp_…${f.ghp.slice(-2)}`, fingerprint: hmac(key, f.ghp) },
      { session_file: 'alice/s1.jsonl', owner: 'alice', byte_offset: off[4], line_number: 5, rule: 'aws-access-key-id', match_index: 0, location: 'tool_input', excerpt: `AKIA…${f.awsKeyId.slice(-2)}`, fingerprint: hmac(key, f.awsKeyId) },
      { session_file: 'alice/s1.jsonl', owner: 'alice', byte_offset: off[5], line_number: 6, rule: 'generic-secret', match_index: 0, location: 'tool_result', excerpt: `${f.password.slice(0, 4)}…${f.password.slice(-2)}`, fingerprint: hmac(key, f.password) },
      { session_file: 'alice/s1.jsonl', owner: 'alice', byte_offset: off[5], line_number: 6, rule: 'stripe-key', match_index: 0, location: 'tool_result', excerpt: `sk_l…${f.stripe.slice(-2)}`, fingerprint: hmac(key, f.stripe) },
      { session_file: 'alice/s1.jsonl', owner: 'alice', byte_offset: off[6], line_number: 7, rule: 'github-token', match_index: 0, location: 'assistant_text', excerpt: `ghp_…${f.ghp.slice(-2)}`, fingerprint: hmac(key, f.ghp) },
    ]);
    // `sed -n Np` finds the line.
    const physical = content.split('\n');
    for (const r of rows) expect(Buffer.from(content).subarray(r.byte_offset).toString().startsWith(physical[r.line_number - 1])).toBe(true);
  });

  it('keeps counting lines across appends, runs and small batches', async () => {
    sb = sandbox();
    const part1 = user('hello', 1) + 'not json\n' + user(`key ${f.google}`, 3);
    sb.write('bob/s.jsonl', part1);
    const make = () => createSecretsProcessor(cfg());
    await runOnceIn(sb, [make()]);
    const part2 = '\n\n' + assistantText('nothing', 6) + bash(`curl -H "Authorization: Bearer ${f.bearer}" x`, 7) + '[1,2]\n' + user(`again ${f.google} and ${f.npm}`, 9);
    sb.append('bob/s.jsonl', part2);
    await runOnceIn(sb, [make()]);
    const rows = await findings(sb.db);
    expect(rows.map((r) => [r.line_number, r.rule])).toEqual([
      [3, 'google-api-key'],
      [7, 'bearer-token'],
      [9, 'google-api-key'],
      [9, 'npm-token'],
    ]);
    const off = offsets(part1 + part2);
    expect(rows.map((r) => r.byte_offset)).toEqual([off[2], off[6], off[8], off[8]]);

    // The same file read in tiny batches from scratch gives the same findings.
    const sb2 = sandbox();
    try {
      sb2.write('bob/s.jsonl', part1 + part2);
      await runOnceIn(sb2, [createSecretsProcessor({ ...cfg(), root: sb2.root, secretsKey: 'k' })], { read: { batchBytes: 64, chunkBytes: 4096 } });
      const rows2 = await findings(sb2.db);
      expect(rows2.map((r) => [r.byte_offset, r.line_number, r.rule])).toEqual(rows.map((r) => [r.byte_offset, r.line_number, r.rule]));
    } finally {
      sb2.cleanup();
    }
  });

  it('records one finding per secret, rule and location in a line, and counts repeats by match_index', async () => {
    sb = sandbox();
    const other = fakes(22).ghp;
    sb.write('o/s.jsonl', result(`A=${f.ghp}\nB=${f.ghp}\nC=${other}`, 1) + user(`${f.ghp} ${other}`, 2));
    await runOnceIn(sb, [createSecretsProcessor(cfg())]);
    const rows = await findings(sb.db);
    expect(rows.map((r) => [r.line_number, r.location, r.match_index])).toEqual([
      [1, 'tool_result', 0],
      [1, 'tool_result', 1],
      [2, 'user_text', 0],
      [2, 'user_text', 1],
    ]);
  });

  it('recognises the same secret across files and keeps the key across restarts', async () => {
    sb = sandbox();
    sb.write('a/one.jsonl', user(f.anthropic));
    sb.write('b/two.jsonl', bash(`ANTHROPIC_API_KEY=${f.anthropic} claude`));
    await runOnceIn(sb, [createSecretsProcessor(cfg())]);
    const key1 = await dbKey(sb.db);
    sb.write('c/three.jsonl', result(`ANTHROPIC_API_KEY=${f.anthropic}`));
    await runOnceIn(sb, [createSecretsProcessor(cfg())]);
    expect(await dbKey(sb.db)).toEqual(key1);
    const rows = await findings(sb.db);
    expect(rows.map((r) => r.session_file)).toEqual(['a/one.jsonl', 'b/two.jsonl', 'c/three.jsonl']);
    expect(new Set(rows.map((r) => r.fingerprint))).toEqual(new Set([hmac(key1, f.anthropic)]));
  });

  it('uses --secrets-key when set, and changing it rescans with new fingerprints', async () => {
    sb = sandbox();
    sb.write('a/s.jsonl', user(f.slackBot));
    await runOnceIn(sb, [createSecretsProcessor(cfg({ secretsKey: 'team-key-1' }))]);
    expect((await findings(sb.db)).map((r) => r.fingerprint)).toEqual([hmac('team-key-1', f.slackBot)]);
    const s = await runOnceIn(sb, [createSecretsProcessor(cfg({ secretsKey: 'team-key-2' }))]);
    expect(s.processors.secrets.rewritten).toBe(1);
    expect((await findings(sb.db)).map((r) => r.fingerprint)).toEqual([hmac('team-key-2', f.slackBot)]);
  });

  it('retracts findings when a file is rewritten', async () => {
    sb = sandbox();
    sb.write('a/s.jsonl', user(f.ghp) + user('x'));
    await runOnceIn(sb, [createSecretsProcessor(cfg())]);
    expect((await findings(sb.db)).map((r) => r.rule)).toEqual(['github-token']);
    sb.write('a/s.jsonl', user('nothing here, rewritten') + user(`now ${f.jwt}`) + user('and more'));
    await runOnceIn(sb, [createSecretsProcessor(cfg())]);
    expect((await findings(sb.db)).map((r) => [r.line_number, r.rule])).toEqual([[2, 'jwt']]);
  });

  it('fails clearly without a key when used outside a pipeline', async () => {
    sb = sandbox();
    const p = createSecretsProcessor(cfg());
    await expect(
      Promise.resolve(
        p.process(
          { file: { sessionFile: 'a/s.jsonl', owner: 'a', sessionId: 's', kind: 'session' }, lines: [], fromOffset: 0, toOffset: 0, carry: undefined },
          { insert() {}, run() {}, setCarry() {}, countItems() {}, afterCommit() {} },
        ),
      ),
    ).rejects.toThrow(/no fingerprint key/);
  });

  it('querySecretFindings filters by owner and since, and is empty without the table', async () => {
    sb = sandbox();
    sb.write('alice/s.jsonl', user(f.ghp, 1) + line({ type: 'user', timestamp: '2026-01-01T00:00:00Z', message: { role: 'user', content: f.gho } }));
    sb.write('bob/s.jsonl', user(f.google, 2));
    const empty = await openStore(`${sb.dir}/empty.duckdb`);
    try {
      expect(await querySecretFindings(empty)).toEqual([]);
      expect(await countSecretFindings(empty)).toEqual({ total: 0, distinct: 0, byRule: {} });
    } finally {
      await empty.close();
    }
    await runOnceIn(sb, [createSecretsProcessor(cfg())]);
    const db = await openStore(sb.db, { readOnly: true });
    try {
      const all = await querySecretFindings(db);
      expect(all.map((x) => [x.session_file, x.line, x.rule])).toEqual([
        ['alice/s.jsonl', 1, 'github-token'],
        ['alice/s.jsonl', 2, 'github-token'],
        ['bob/s.jsonl', 1, 'google-api-key'],
      ]);
      expect(Object.keys(all[0]).sort()).toEqual(['excerpt', 'fingerprint', 'line', 'location', 'offset', 'rule', 'session_file']);
      expect((await querySecretFindings(db, { owner: 'bob' })).map((x) => x.rule)).toEqual(['google-api-key']);
      expect((await querySecretFindings(db, { since: Date.parse('2025-12-01T00:00:00Z') })).map((x) => x.line)).toEqual([2]);
      expect(await querySecretFindings(db, { owner: 'bob', since: Date.parse('2025-12-01T00:00:00Z') })).toEqual([]);
      expect(await countSecretFindings(db)).toEqual({ total: 3, distinct: 3, byRule: { 'github-token': 2, 'google-api-key': 1 } });
    } finally {
      await db.close();
    }
  });

  it('scans the real corpus without findings or failures', async () => {
    sb = sandbox();
    fs.cpSync((await import('../helpers.js')).CORPUS, sb.root, { recursive: true });
    const s = await runOnceIn(sb, [createSecretsProcessor(cfg())]);
    expect(s.processors.secrets.errors).toBe(0);
    expect(s.processors.secrets.lines).toBeGreaterThan(700);
    expect(await findings(sb.db)).toEqual([]);
  });

  it('opens through the pipeline with init (key made once)', async () => {
    sb = sandbox();
    const p1 = await openPipeline(sb, [createSecretsProcessor(cfg())]);
    await p1.close();
    const k1 = await dbKey(sb.db);
    const p2 = await openPipeline(sb, [createSecretsProcessor(cfg())]);
    await p2.close();
    expect(await dbKey(sb.db)).toEqual(k1);
    expect((await query(sb.db, 'SELECT count(*)::INTEGER AS n FROM secrets_key'))[0].n).toBe(1);
  });
});
