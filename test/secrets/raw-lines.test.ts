/**
 * What the secrets processor used to miss or trip on, in a real pipeline on
 * real files: secrets inside malformed lines (not JSON, cut by a crash,
 * invalid UTF-8), values nested deeper than 32 levels, and a file that
 * vanishes while it is processed (the processor used to reopen it by path
 * to count bad lines, and was blamed for the ENOENT).
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { sandbox, runOnceIn, query, line, type Sandbox } from '../helpers.js';
import { createSecretsProcessor, type SecretsConfig } from '../../pipelines/secrets/index.js';
import type { Processor } from '../../src/pipeline/processor.js';
import { fakes } from './fakes.js';

const f = fakes(31);
let sb: Sandbox;
afterEach(() => sb?.cleanup());

const cfg = (extra: Partial<SecretsConfig> = {}): SecretsConfig => ({ secretsSettleMs: 0, secretsRules: '', secretsKey: 'k', ...extra });
const user = (text: string) => line({ type: 'user', message: { role: 'user', content: text } });
const findings = (db: string) =>
  query<{ line_number: number; byte_offset: number; rule: string; location: string; excerpt: string }>(
    db,
    'SELECT line_number, byte_offset, rule, location, excerpt FROM secret_findings ORDER BY byte_offset, rule',
  );

/** Nest `leaf` `depth` objects deep: {a: {a: ... leaf}}. */
function nested(depth: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

describe('secrets: lines the processor used to miss', () => {
  it('scans the raw text of malformed lines (cut JSON, not an object, invalid UTF-8), with their line numbers', async () => {
    sb = sandbox();
    const cut = `{"type":"user","message":{"role":"user","content":"my token ${f.ghp}`; // a crash cut it
    const latin1 = Buffer.concat([Buffer.from(`{"note":"caf`), Buffer.from([0xe9]), Buffer.from(`", "k": "${f.npm}"}\n`)]);
    const content = Buffer.concat([
      Buffer.from(user('hello')), // line 1
      Buffer.from(cut + '\n'), // line 2
      Buffer.from(`["AWS key", "${f.awsKeyId}"]\n`), // line 3: JSON, not an object
      latin1, // line 4: not UTF-8
      Buffer.from(user(`and ${f.google}`)), // line 5
    ]);
    sb.write('a/s.jsonl', content.toString('latin1'));
    fs.writeFileSync(sb.file('a/s.jsonl'), content);
    const s = await runOnceIn(sb, [createSecretsProcessor(cfg())]);
    expect(s.processors.secrets).toMatchObject({ errors: 0, bad_lines: 3, lines: 2, items: 4 });
    const rows = await findings(sb.db);
    expect(rows.map((r) => [r.line_number, r.rule, r.location])).toEqual([
      [2, 'github-token', 'malformed_line'],
      [3, 'aws-access-key-id', 'malformed_line'],
      [4, 'npm-token', 'malformed_line'],
      [5, 'google-api-key', 'user_text'],
    ]);
    // Offsets are the lines' own; only excerpts are kept.
    const starts = [0];
    for (let i = 0; i < content.length; i++) if (content[i] === 0x0a) starts.push(i + 1);
    expect(rows.map((r) => r.byte_offset)).toEqual([starts[1], starts[2], starts[3], starts[4]]);
    expect(rows[0].excerpt).toBe(`ghp_…${f.ghp.slice(-2)}`);
    // The bad lines themselves are recorded without their content.
    const bad = await query<{ detail: string }>(sb.db, 'SELECT detail FROM session_bad_lines');
    expect(bad).toHaveLength(3);
    for (const b of bad) expect(b.detail).not.toContain(f.ghp.slice(4, 12));
  });

  it('finds a secret in a bad line that a batch holds on its own (no good line in the batch)', async () => {
    sb = sandbox();
    sb.write('a/s.jsonl', user('x') + `{"broken": "${f.slackBot}\n` + user('y'));
    await runOnceIn(sb, [createSecretsProcessor(cfg())], { read: { batchBytes: 16, chunkBytes: 4096, maxLineBytes: 32 << 20 } });
    expect((await findings(sb.db)).map((r) => [r.line_number, r.rule])).toEqual([[2, 'slack-token']]);
  });

  it('finds secrets nested more than 32 levels deep (and 5,000 levels deep)', async () => {
    sb = sandbox();
    const toolUse = (input: unknown) =>
      line({ type: 'assistant', message: { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'X', input }] } });
    // JSON.stringify recurses (it overflows near 5,000 levels); JSON.parse does not: write it by hand.
    const deep = `{"type":"user","toolUseResult":${'{"a":'.repeat(5000)}"key ${f.google}"${'}'.repeat(5000)}}\n`;
    sb.write('a/s.jsonl', toolUse(nested(40, { token: f.ghp })) + deep);
    const s = await runOnceIn(sb, [createSecretsProcessor(cfg())]);
    expect(s.processors.secrets.errors).toBe(0);
    expect((await findings(sb.db)).map((r) => [r.line_number, r.rule, r.location])).toEqual([
      [1, 'github-token', 'tool_input'],
      [2, 'google-api-key', 'tool_result'],
    ]);
  });
});

describe('secrets: no I/O of its own', () => {
  it('a file that vanishes while it is processed is not a secrets failure; line numbers still count bad lines', async () => {
    sb = sandbox();
    const file = 'a/s.jsonl';
    sb.write(file, user('first') + 'not json\n' + '\n' + user(`then ${f.ghp}`));
    // A real processor that runs first on the batch and deletes the file under the run
    // (what a session cleanup does while the daemon reads).
    let deleted = false;
    const deleter: Processor = {
      name: 'deleter',
      version: 1,
      migrations: [],
      tables: [],
      process() {
        if (!deleted) fs.unlinkSync(sb.file(file));
        deleted = true;
      },
      retract() {},
    };
    const s = await runOnceIn(sb, [deleter, createSecretsProcessor(cfg())]);
    expect(deleted).toBe(true);
    expect(s.processors.secrets).toMatchObject({ errors: 0, items: 1, bad_lines: 2 });
    const state = await query<{ status: string; attempts: number; last_error: string | null }>(
      sb.db,
      "SELECT status, attempts, last_error FROM session_processor_state WHERE processor_name = 'secrets'",
    );
    expect(state).toEqual([{ status: 'ok', attempts: 0, last_error: null }]);
    expect((await findings(sb.db)).map((r) => [r.line_number, r.rule])).toEqual([[4, 'github-token']]);
  });
});
