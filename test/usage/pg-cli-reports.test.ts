/**
 * The real thing on both stores: `run --once` by the CLI into a DuckDB file
 * and into a fresh PostgreSQL database (the real PgDb: COPY, migrations,
 * source-qualified keys), then every report by the CLI, as separate processes,
 * against each. The same bytes on both (JSON, table, CSV), except where a
 * report shows a session file's key, which a PostgreSQL store qualifies by the
 * source name (`src1:claude-code-log/...`, docs/nodes.md): those are compared
 * on their JSON with the qualifier taken off. And the corpus figures of its
 * README on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyCorpus, runCli, sandbox, type Sandbox } from '../helpers.js';
import { freshPgDatabase } from '../pg.js';
import { fakes } from '../secrets/fakes.js';
import { readmeFigures } from './support.js';

const f = fakes(11);
let sb: Sandbox;
let pg: Awaited<ReturnType<typeof freshPgDatabase>>;
const SOURCE = 'src1';

const cli = async (args: string[], env: Record<string, string> = {}) => {
  const r = await runCli(args, { SESSION_PIPELINE_LOG_LEVEL: 'error', TZ: 'UTC', ...env });
  if (r.code !== 0) throw new Error(`session-pipeline ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  return r.stdout;
};

beforeAll(async () => {
  sb = sandbox('sp-pg-cli-');
  copyCorpus(sb);
  sb.write(
    'Zeta/leaks.jsonl',
    [
      { type: 'user', timestamp: '2025-06-01T23:30:00.000Z', sessionId: 'leaks', message: { role: 'user', content: `export GITHUB_TOKEN=${f.ghp}` } },
      { type: 'user', timestamp: '2025-06-02T01:10:00.000Z', sessionId: 'leaks', message: { role: 'user', content: `key ${f.anthropic} and ${f.awsKeyId}` } },
    ]
      .map((o) => JSON.stringify(o) + '\n')
      .join(''),
  );
  pg = await freshPgDatabase('pgcli');
  const common = ['run', '--once', '--root', sb.root, '--secrets-key', 'k', '--json'];
  const [d, p] = await Promise.all([cli([...common, '--db', sb.db]), cli([...common, '--db', pg.url], { SESSION_PIPELINE_SOURCE_NAME: SOURCE })]);
  const strip = (s: string) => {
    const o = JSON.parse(s);
    delete o.duration_ms;
    delete o.files_leased_elsewhere;
    return o;
  };
  expect(strip(p)).toEqual(strip(d));
  expect(JSON.parse(d).processors.secrets.items).toBeGreaterThan(1);
}, 180_000);

afterAll(async () => {
  sb?.cleanup();
  await pg?.drop();
});

const EXACT: string[][] = [
  ['usage', '--by', 'day'],
  ['usage', '--by', 'week', '--json'],
  ['usage', '--by', 'month', '--csv'],
  ['usage', '--by', 'session', '--breakdown'],
  ['usage', '--by', 'owner', '--tz', 'Asia/Kolkata', '--json'],
  ['usage', '--by', 'model'],
  ['usage', '--by', 'day', '--since', '2025-06-01', '--until', '2025-09-03', '--order', 'desc', '--json'],
  ['events', '--by', 'tool'],
  ['events', '--by', 'command', '--json'],
  ['blocks', '--tz', 'Europe/Paris'],
  ['blocks', '--by-owner', '--json'],
  ['sessions', '--json'],
  ['sessions', '--sort', 'cost_usd', '--dir', 'asc'],
  ['events-by-day-kind', '--tz', 'America/New_York'],
  ['secrets-summary', '--json'],
];
const QUALIFIED: string[][] = [
  ['live', '--since', '2000-01-01T00:00:00Z', '--json'],
  ['secrets', '--json'],
  ['session', '--key', 'claude-code-viewer/5c0375b4-57a5-4f26-b12d-d022ee4e51b7.jsonl', '--json'],
];

describe('every report by the CLI on PostgreSQL and DuckDB', () => {
  it.each(EXACT.map((a) => ({ args: a, label: a.join(' ') })))('report $label: the same bytes', async ({ args }) => {
    const [d, p] = await Promise.all([cli(['report', ...args, '--db', sb.db]), cli(['report', ...args, '--db', pg.url])]);
    expect(d.length).toBeGreaterThan(20);
    expect(p).toBe(d);
  });

  it.each(QUALIFIED.map((a) => ({ args: a, label: a.join(' ') })))('report $label: the same, keys qualified by the source', async ({ args }) => {
    const [d, p] = await Promise.all([cli(['report', ...args, '--db', sb.db]), cli(['report', ...args, '--db', pg.url])]);
    expect(p).toContain(`"${SOURCE}:`);
    expect(p.replaceAll(`"${SOURCE}:`, '"')).toBe(d);
  });

  it("has the corpus README's deduplicated totals on PostgreSQL", async () => {
    const r = JSON.parse(await cli(['sql', '--json', '--db', pg.url, `SELECT count(*) AS messages, sum(input_tokens) AS input, sum(output_tokens) AS output,
      sum(cache_creation_tokens) AS cache_creation, sum(cache_read_tokens) AS cache_read FROM usage_messages_dedup WHERE owner <> 'Zeta'`]));
    expect(r.rows[0]).toEqual(readmeFigures().corpus);
  });
});
