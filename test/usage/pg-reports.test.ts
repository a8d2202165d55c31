/**
 * Every report, view and state read of the usage and secrets processors on
 * PostgreSQL 15 against DuckDB, over the same rows: the real corpus (plus
 * owners whose names sort differently by bytes and by a language's rules, and
 * a file of fake secrets), processed once into DuckDB, then copied into fresh
 * PostgreSQL databases created by the components' PostgreSQL migrations (one
 * with the server's default collation, one with ICU en-US). Reports must
 * print the same bytes (JSON, table, CSV); views must hold the same columns
 * and rows.
 */
import fs from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyCorpus, runOnceIn, sandbox, type Sandbox } from '../helpers.js';
import { freshPgDatabase, pgServerUrl } from '../pg.js';
import { fakes } from '../secrets/fakes.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { createSecretsProcessor } from '../../pipelines/secrets/index.js';
import { linesProcessor } from '../../pipelines/lines/index.js';
import { USAGE_MIGRATIONS } from '../../pipelines/usage/migrations.js';
import { SECRETS_MIGRATIONS } from '../../pipelines/secrets/migrations.js';
import { EXPORTED } from '../../pipelines/usage/views.js';
import { ALL_USAGE_REPORTS } from '../../pipelines/usage/view-reports.js';
import { SECRETS_REPORTS } from '../../pipelines/secrets/reports.js';
import { USAGE_METRICS } from '../../pipelines/usage/metrics.js';
import { OPS_MIGRATIONS, auditInsertSql, auditRecentSql } from '../../src/ops/audit.js';
import { BAD_LINES_TABLE, CHECKPOINT_TABLE, checkpointsSql } from '../../src/state/checkpoint.js';
import { createTableSql } from '../../src/state/table.js';
import { migrate, type Migration } from '../../src/state/migrations.js';
import type { Db } from '../../src/state/db.js';
import { openStore } from '../../src/state/open.js';
import { resolveParams, type ReadQuery, type ReportDefinition } from '../../src/pipeline/report.js';
import type { StoreKind } from '../../src/state/dialect.js';

const NOW = Date.parse('2025-12-01T00:00:00Z');
const f = fakes(7);

let sb: Sandbox;
let duck: Db;
const stores: { name: string; client: pg.Client; q: ReadQuery; drop: () => Promise<void> }[] = [];

const line = (o: unknown) => JSON.stringify(o) + '\n';

/** pg as it comes: int8 and numeric as text; timestamps as their text (no local-time parse). */
const TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 1114) return (v: string) => v;
    return pg.types.getTypeParser(oid, format);
  },
};

async function pgMigrate(c: pg.Client, migrations: readonly Migration[]) {
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    for (const s of m.postgres ?? m.up) await c.query(s);
  }
}

const duckRead = (): ReadQuery => ({ all: (sql, params) => duck.all(sql, params) });

/** Copy every table's rows from DuckDB into `c` (tables already created there). */
async function copyTables(c: pg.Client) {
  const tables = await duck.all<{ name: string }>(`SELECT table_name AS name FROM duckdb_tables() WHERE NOT temporary ORDER BY 1`);
  for (const { name } of tables) {
    const cols = (await c.query(`SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, [name])).rows.map((r) => r.column_name as string);
    if (cols.length === 0) continue; // a DuckDB-only table
    const rows = await duck.all(`SELECT ${cols.map((x) => `"${x}"`).join(', ')} FROM "${name}"`);
    if (rows.length === 0) continue;
    const json = JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? Number(v) : v));
    await c.query(`INSERT INTO "${name}" SELECT * FROM json_populate_recordset(NULL::"${name}", $1::json)`, [json]);
  }
}

async function pgStore(name: string, create: (admin: pg.Client, db: string) => Promise<void>) {
  const server = pgServerUrl();
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  const db = `pgreports_${name}_${process.pid}`;
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${db}`);
    await create(admin, db);
  } finally {
    await admin.end();
  }
  const u = new URL(server);
  u.pathname = `/${db}`;
  const client = new pg.Client({ connectionString: u.toString(), types: TYPES });
  await client.connect();
  // The core's tables as the PostgreSQL store declares them (its migrations are the store's own).
  for (const t of [CHECKPOINT_TABLE, BAD_LINES_TABLE]) await client.query(createTableSql(t, 'postgres'));
  for (const m of [USAGE_MIGRATIONS, SECRETS_MIGRATIONS, OPS_MIGRATIONS]) await pgMigrate(client, m);
  await copyTables(client);
  const q: ReadQuery = { kind: 'postgres' satisfies StoreKind, all: async (sql, params) => (await client.query(sql, params as unknown[])).rows };
  stores.push({
    name,
    client,
    q,
    drop: async () => {
      await client.end();
      const a = new pg.Client({ connectionString: server });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await a.end();
    },
  });
}

beforeAll(async () => {
  sb = sandbox('sp-pg-reports-');
  copyCorpus(sb);
  // Owners whose order differs by bytes (DuckDB) and by en-US rules: a copied session counts once.
  const one = 'claude-code-log/edge_cases.jsonl';
  for (const owner of ['Zeta', '_under', 'alpha-x']) sb.write(`${owner}/edge_cases.jsonl`, fs.readFileSync(sb.file(one)));
  sb.write(
    'Zeta/leaks.jsonl',
    [
      line({ type: 'user', timestamp: '2025-06-01T23:30:00.000Z', sessionId: 'leaks', message: { role: 'user', content: `export GITHUB_TOKEN=${f.ghp}` } }),
      line({ type: 'user', timestamp: '2025-06-02T01:10:00.000Z', sessionId: 'leaks', message: { role: 'user', content: `key ${f.anthropic} and ${f.awsKeyId}` } }),
      line({ type: 'user', sessionId: 'leaks', message: { role: 'user', content: `no time ${f.gho}` } }),
    ].join(''),
  );
  const secrets = createSecretsProcessor({ root: sb.root, secretsSettleMs: 0, secretsRules: '', secretsKey: 'pg-reports' });
  const summary = await runOnceIn(sb, [linesProcessor, createUsageProcessor(), secrets]);
  expect(summary.processors.usage.errors).toBe(0);
  expect(summary.processors.secrets.items).toBeGreaterThan(2);
  duck = await openStore(sb.db);
  await migrate(duck, 'ops', OPS_MIGRATIONS);
  await pgStore('default', (a, db) => a.query(`CREATE DATABASE ${db}`).then(() => undefined));
  await pgStore('icu', (a, db) => a.query(`CREATE DATABASE ${db} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`).then(() => undefined));
}, 120_000);

afterAll(async () => {
  await duck?.close();
  for (const s of stores) await s.drop();
  sb?.cleanup();
});

/** A value as JSON would carry it: integers and numeric text as numbers, timestamps as ISO text. */
function plain(v: unknown, type?: string): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return type === 'DATE' ? v.toISOString().slice(0, 10) : v.toISOString();
  if (Array.isArray(v)) return v.map((x) => plain(x));
  if (typeof v === 'string' && type && /^(BIGINT|INTEGER|HUGEINT|DECIMAL|DOUBLE)/.test(type)) return Number(v);
  if (typeof v === 'string' && type === 'TIMESTAMP') return new Date(v.replace(' ', 'T') + 'Z').toISOString();
  if (typeof v === 'string' && type === 'DATE') return v;
  if (typeof v === 'number' && type === 'DOUBLE') return Number(v.toPrecision(12));
  return v;
}

async function relationRows(q: ReadQuery, rel: string, types: Map<string, string>) {
  const rows = await q.all<Record<string, unknown>>(`SELECT * FROM ${rel}`);
  return rows
    .map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, plain(v, types.get(k))]))))
    .sort();
}

describe.each(['default', 'icu'])('PostgreSQL (%s collation) against DuckDB', (storeName) => {
  const store = () => stores.find((s) => s.name === storeName)!;

  it('has every view and table with the same columns, in the same order', async () => {
    for (const rel of EXPORTED) {
      const d = (await duck.all<{ column_name: string }>(`DESCRIBE SELECT * FROM ${rel}`)).map((r) => r.column_name);
      const p = (await store().client.query(`SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, [rel])).rows.map((r) => r.column_name);
      expect(p, rel).toEqual(d);
    }
  });

  it('holds the same rows in every view', async () => {
    for (const rel of EXPORTED) {
      const types = new Map((await duck.all<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM ${rel}`)).map((r) => [r.column_name, r.column_type]));
      const d = await relationRows(duckRead(), rel, types);
      const p = await relationRows(store().q, rel, types);
      expect(d.length, rel).toBeGreaterThan(0);
      expect(p, rel).toEqual(d);
    }
  });

  const usage = (name: string) => ALL_USAGE_REPORTS.find((r) => r.name === name)!;
  const secrets = (name: string) => SECRETS_REPORTS.find((r) => r.name === name)!;
  const cases: [ReportDefinition, Record<string, unknown>][] = [];
  for (const by of ['day', 'week', 'month', 'session', 'owner', 'model']) {
    cases.push([usage('usage'), { by }], [usage('usage'), { by, breakdown: true, order: 'desc' }]);
    cases.push([usage('usage'), { by, tz: 'Asia/Kolkata', since: '2025-01-01', until: '2025-12-31' }]);
  }
  cases.push(
    [usage('usage'), { by: 'day', tz: 'America/New_York', owner: 'claude-code-log' }],
    [usage('usage'), { by: 'session', model: '(unknown)' }],
    [usage('usage'), { by: 'day', model: 'claude-sonnet-4-20250514', breakdown: true }],
    [usage('usage'), { by: 'day', since: '2099-01-01' }],
  );
  for (const by of ['tool', 'skill', 'mcp', 'subagent', 'command']) cases.push([usage('events'), { by }], [usage('events'), { by, tz: 'Pacific/Chatham', since: '2025-01-01' }]);
  cases.push(
    [usage('blocks'), {}],
    [usage('blocks'), { 'by-owner': true, tz: 'Europe/Paris' }],
    [usage('blocks'), { active: true, now: '2025-06-01T14:00:00Z' }],
    [usage('events-by-day-kind'), {}],
    [usage('events-by-day-kind'), { tz: 'Asia/Kolkata', owner: 'Zeta' }],
    [usage('live'), { since: '2000-01-01T00:00:00Z' }],
    [usage('live'), { since: '2000-01-01T00:00:00Z', owner: 'Zeta' }],
    [usage('sessions'), { q: 'code', limit: '5', offset: '1' }],
    [usage('sessions'), { q: '_UNDER' }],
    [usage('sessions'), { q: '100%' }],
    [usage('blocks'), { since: '2025-06-01', until: '2025-09-02', tz: 'Asia/Kolkata', order: 'desc' }],
    [usage('sessions'), { model: 'claude-sonnet-4-20250514' }],
    [usage('sessions'), { since: '2025-01-01', tz: 'America/New_York' }],
    [secrets('secrets'), {}],
    [secrets('secrets'), { owner: 'Zeta', since: '2025-06-02', limit: '2' }],
    [secrets('secrets-summary'), {}],
    [secrets('secrets-summary'), { tz: 'Asia/Kolkata' }],
  );
  for (const sort of ['last_ts', 'first_ts', 'session', 'owner', 'messages', 'tool_calls', 'tool_errors', 'input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_read_tokens', 'cost_usd']) {
    for (const dir of ['asc', 'desc']) cases.push([usage('sessions'), { sort, dir }]);
  }

  it.each(cases.map(([def, raw]) => ({ def, raw, label: `${def.name} ${JSON.stringify(raw)}` })))('report $label prints the same bytes', async ({ def, raw }) => {
    const params = resolveParams(def, raw, NOW);
    const d = await def.run(duckRead(), params);
    const p = await def.run(store().q, params);
    expect(JSON.stringify(p.result)).toEqual(JSON.stringify(d.result));
    expect(p.notice).toEqual(d.notice);
    expect(def.table(p.result, params)).toEqual(def.table(d.result, params));
    if (def.csv) expect(def.csv(p.result, params)).toEqual(def.csv(d.result, params));
  });

  it('prints every session timeline the same', async () => {
    const def = usage('session');
    const list = (await usage('sessions').run(duckRead(), resolveParams(usage('sessions'), { limit: '1000' }, NOW))).result as { rows: { session: string }[] };
    expect(list.rows.length).toBeGreaterThan(10);
    for (const { session } of list.rows) {
      const params = resolveParams(def, { key: session }, NOW);
      const d = await def.run(duckRead(), params);
      const p = await def.run(store().q, params);
      expect(JSON.stringify(p.result), session).toEqual(JSON.stringify(d.result));
    }
  });

  it('reads the same metrics', async () => {
    const d = await USAGE_METRICS.read(duckRead());
    const p = await USAGE_METRICS.read(store().q);
    const round = (m: ReadonlyMap<string, readonly { labels: object; value: number }[]>) =>
      [...m].map(([k, v]) => [k, v.map((s) => ({ ...s, value: Math.round(s.value * 1e6) / 1e6 }))]);
    expect(round(p)).toEqual(round(d));
    expect([...d.values()].flat().length).toBeGreaterThan(10);
  });

  it('loads the same checkpoints (timestamps as epoch ms)', async () => {
    const norm = (rows: Record<string, unknown>[]) =>
      rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : typeof v === 'boolean' ? v : typeof v === 'object' ? v : /^-?\d+(\.\d+)?$/.test(String(v)) ? Number(v) : v])))).sort();
    const d = await duck.all(checkpointsSql('duckdb'));
    const p = (await store().client.query(checkpointsSql('postgres'))).rows;
    expect(d.length).toBeGreaterThan(40);
    expect(norm(p)).toEqual(norm(d.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])))));
  });

  it('writes and reads the audit log the same', async () => {
    const at = Date.parse('2025-06-01T12:34:56.789Z');
    const row = [at, 'alice@host', 'token', '127.0.0.1', 'POST', 'POST /rescan', null, 202, 'accepted', null];
    await duck.run(auditInsertSql('duckdb'), row);
    await store().client.query(auditInsertSql('postgres'), row);
    const d = await duck.all(auditRecentSql('duckdb'), [1]);
    const p = (await store().client.query(auditRecentSql('postgres'), [1])).rows;
    expect(p[0].at).toBe('2025-06-01T12:34:56.789Z');
    expect({ ...p[0], id: 0 }).toEqual({ ...d[0], id: 0 });
  });
});
