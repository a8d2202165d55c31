/**
 * The processor contract as the core fills it in and enforces it: tables
 * declared once (DDL derived, default migration), the default retract, the
 * rules checked at registration, and processor settings merged into the CLI.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sandbox, runOnceIn, query, line, runCli, type Sandbox } from './helpers.js';
import { defineProcessor, type Processor } from '../src/pipeline/processor.js';
import type { ReportDefinition } from '../src/pipeline/report.js';
import { createTableSql, stagedColumns, type OutputTable } from '../src/state/table.js';
import { selectProcessors, validateDefinitions, validateProcessors } from '../src/pipeline/registration.js';
import { CHECKPOINT_TABLE } from '../src/state/checkpoint.js';
import { ConfigError, loadConfig, maskedConfig, setting, SETTINGS } from '../src/config/config.js';
import { linesProcessor } from '../pipelines/lines/index.js';
import { BUILT_IN, settingsFor } from '../pipelines/index.js';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox('sp-contract-');
});
afterEach(() => sb.cleanup());

const ROWS: OutputTable = {
  name: 'echo_rows',
  columns: [
    { name: 'session_file', type: 'VARCHAR' },
    { name: 'offset', type: 'BIGINT' },
    { name: 'kind', type: 'VARCHAR', notNull: true },
    { name: 'loaded_at', type: 'TIMESTAMP', default: 'current_timestamp', generated: true },
  ],
  key: ['session_file', 'offset'],
};

/** A processor that declares only its table: no migrations, no retract. */
const echo = (version = 1): Processor => ({
  name: 'echo',
  version,
  tables: [ROWS],
  process(batch, tx) {
    for (const l of batch.lines) tx.insert('echo_rows', [batch.file.sessionFile, l.offset, String(l.value.type)]);
  },
});

describe('one schema', () => {
  it('derives DDL from the declaration: keys and notNull are NOT NULL, defaults, a replace hash column and no DuckDB key', () => {
    expect(createTableSql(ROWS)).toBe(
      'CREATE TABLE IF NOT EXISTS "echo_rows" ("session_file" VARCHAR NOT NULL, "offset" BIGINT NOT NULL, "kind" VARCHAR NOT NULL, ' +
        '"loaded_at" TIMESTAMP DEFAULT current_timestamp, PRIMARY KEY ("session_file", "offset"))',
    );
    expect(stagedColumns(ROWS).map((c) => c.name)).toEqual(['session_file', 'offset', 'kind']);
    // A replace table: keyed on PostgreSQL, on DuckDB kept one row per key by the committer alone.
    expect(createTableSql(CHECKPOINT_TABLE)).toMatch(/"key_hash" UBIGINT\)$/);
    expect(createTableSql(CHECKPOINT_TABLE, 'postgres')).toContain('PRIMARY KEY ("processor_name", "session_file")');
    expect(createTableSql(CHECKPOINT_TABLE)).toContain(`"status" VARCHAR NOT NULL DEFAULT 'ok'`);
  });

  it('creates a processor table from its declaration alone, fills generated columns, and retracts by default', async () => {
    sb.write('a/s.jsonl', line({ type: 'user' }) + line({ type: 'assistant' }));
    await runOnceIn(sb, [echo()]);
    const rows = await query<{ kind: string; loaded_at: unknown }>(sb.db, 'SELECT kind, loaded_at FROM echo_rows ORDER BY "offset"');
    expect(rows.map((r) => r.kind)).toEqual(['user', 'assistant']);
    expect(rows.every((r) => r.loaded_at !== null)).toBe(true);
    const cols = await query<{ column_name: string; is_nullable: string }>(
      sb.db,
      `SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = 'echo_rows' ORDER BY ordinal_position`,
    );
    expect(cols.map((c) => `${c.column_name}:${c.is_nullable}`)).toEqual(['session_file:NO', 'offset:NO', 'kind:NO', 'loaded_at:YES']);
    // A rewrite: the default retract deletes the file's rows before it is reprocessed.
    sb.write('a/s.jsonl', line({ type: 'system' }));
    await runOnceIn(sb, [echo()]);
    expect((await query<{ kind: string }>(sb.db, 'SELECT kind FROM echo_rows')).map((r) => r.kind)).toEqual(['system']);
    // A version bump retracts every file too.
    sb.write('b/t.jsonl', line({ type: 'user' }));
    await runOnceIn(sb, [echo(2)]);
    expect(await query(sb.db, 'SELECT session_file, kind FROM echo_rows ORDER BY session_file')).toEqual([
      { session_file: 'a/s.jsonl', kind: 'system' },
      { session_file: 'b/t.jsonl', kind: 'user' },
    ]);
  });
});

describe('registration', () => {
  const fail = (ps: Processor[]) => {
    try {
      validateProcessors(ps);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    return null;
  };

  it('refuses a name twice, a table claimed twice, a bad version or name, and a table the default retract cannot clear', () => {
    expect(fail([linesProcessor, echo()])).toBeNull();
    expect(fail([linesProcessor, linesProcessor])).toMatch(/processor "lines" is registered twice/);
    expect(fail([echo(), { ...echo(), name: 'echo2' }])).toMatch(/table echo_rows is already declared by processor "echo"/);
    expect(fail([{ ...echo(), tables: [ROWS, ROWS] }])).toMatch(/already declared by this processor/);
    expect(fail([{ ...echo(), tables: [{ ...ROWS, name: 'session_processor_state' }] }])).toMatch(/belongs to the core/);
    for (const version of [0, -1, 1.5, NaN, 2 ** 31, '1' as unknown as number]) expect(fail([echo(version)])).toMatch(/version must be a positive integer/);
    expect(fail([{ ...echo(), name: 'Echo' }])).toMatch(/lowercase word/);
    expect(fail([{ ...echo(), name: 'core' }])).toMatch(/reserved/);
    const noFile: OutputTable = { name: 'echo_totals', columns: [{ name: 'k', type: 'VARCHAR' }], key: ['k'] };
    expect(fail([{ ...echo(), tables: [noFile] }])).toMatch(/no session_file column, so the default retract cannot clear it/);
    expect(fail([{ ...echo(), tables: [noFile], retract: () => undefined }])).toBeNull();
    expect(fail([{ ...echo(), tables: [{ ...ROWS, key: ['nope'] }] }])).toMatch(/key column nope is not declared/);
  });

  it('a processor listed twice in --processors fails with exit 2 instead of running twice', async () => {
    sb.write('a/s.jsonl', line({ type: 'user' }));
    const r = await runCli(['run', '--once', '--root', sb.root, '--db', sb.db, '--processors', 'lines,lines']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid processors \(--processors \/ SESSION_PIPELINE_PROCESSORS\): "lines" is listed twice/);
  });

  it('builds each processor from its own settings, with defaults for those a mode does not offer', () => {
    const run = loadConfig({}, { SESSION_PIPELINE_SECRETS_KEY: 'k1' }, undefined, { ...SETTINGS, ...settingsFor('run') });
    expect(run.secretsSettleMs).toBeUndefined(); // watch-only: not a `run` setting
    const ps = selectProcessors(Object.values(BUILT_IN), { ...run, processors: ['secrets', 'usage'] });
    expect(ps.map((p) => p.name)).toEqual(['secrets', 'usage']);
    expect(ps[0].settleMs).toBe(30_000); // its default
    const watch = loadConfig({ secretsSettleMs: '5' }, {}, undefined, { ...SETTINGS, ...settingsFor('watch') });
    expect(selectProcessors(Object.values(BUILT_IN), { ...watch, processors: ['secrets'] })[0].settleMs).toBe(5);
    // /status shows the processors' settings too, with their secrets masked.
    expect(maskedConfig(run)).toMatchObject({ secretsKey: '***', pricing: '', db: run.db });
    expect(maskedConfig({ ...run, quietMs: 7 })).toMatchObject({ secretsKey: '***', quietMs: 7 });
  });

  it('refuses definitions whose settings clash with the core or each other, and duplicate report names', () => {
    const s = (flag: string, env: string) => setting({ flag, env, schema: z.string(), default: () => '', describe: 'x' });
    const def = (name: string, settings: Record<string, ReturnType<typeof s>>) => defineProcessor({ name, settings, create: () => echo() });
    expect(() => validateDefinitions([def('a', { aKey: s('--a-key <k>', 'SP_A_KEY') })])).not.toThrow();
    expect(() => validateDefinitions([def('a', { db: s('--a-db <f>', 'SP_A_DB') })])).toThrow(/setting db is already declared by the core/);
    expect(() => validateDefinitions([def('a', { aDb: s('--db <f>', 'SP_A_DB') })])).toThrow(/flag --db is already declared by the core/);
    expect(() => validateDefinitions([def('a', { x: s('--x <k>', 'SP_X') }), def('b', { y: s('--y <k>', 'SP_X') })])).toThrow(
      /environment variable SP_X is already declared by processor "a"/,
    );
    expect(() => validateDefinitions([def('a', {}), def('a', {})])).toThrow(/registered twice/);
    // One Setting object under several processors is one shared setting (as --secrets-rules is);
    // an equal-looking but separate declaration still clashes.
    const one = s('--rules <f>', 'SP_RULES');
    expect(() => validateDefinitions([def('a', { rules: one }), def('b', { rules: one })])).not.toThrow();
    expect(() => validateDefinitions([def('a', { rules: one }), def('b', { rules: s('--rules <f>', 'SP_RULES') })])).toThrow(
      /setting rules is already declared by processor "a"/,
    );
    const report: ReportDefinition = { name: 'rows', description: 'r', params: [], jsonShape: '{}', run: async () => ({ result: {} }), table: () => '' };
    expect(() => validateDefinitions([{ ...def('a', {}), reports: [report, report] }])).toThrow(/report "rows" is not a unique lowercase word/);
  });

  it("offers each processor's settings as flags of run and watch, from its definition", async () => {
    const run = await runCli(['run', '--help']);
    expect(run.stdout).toMatch(/--pricing <file>/);
    expect(run.stdout).toMatch(/--secrets-key <key>/);
    expect(run.stdout).not.toMatch(/--secrets-settle-ms/);
    const watch = await runCli(['watch', '--help']);
    expect(watch.stdout).toMatch(/--secrets-settle-ms <ms>/);
    expect(watch.stdout).toMatch(/--pricing <file>/);
  });
});
