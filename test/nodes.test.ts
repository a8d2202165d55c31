/**
 * Several nodes on one PostgreSQL store (docs/nodes.md), with real child
 * processes (dist/src/cli/main.js) on a fresh database of the run's cluster.
 *
 * Shared root: two `watch` nodes on one root divide the files by leases while a
 * writer appends; one is SIGKILLed holding leases; the survivor takes its files
 * over within the TTL; the tables end equal to a clean single-node `run --once`,
 * and a trigger installed by the test records every checkpoint write, so the
 * test can check that no checkpoint ever moved backwards.
 *
 * Separate roots: two sources with the same relative paths and one session
 * copied between them: no key collides, and the copied messages count once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { freshPgDatabase } from './pg.js';
import { CLI, startNodes, until, type RunningNode } from '../bench/lib/nodes.js';
import { DEFAULT_CHAOS, Writer, compareStores } from '../bench/chaos.js';
import { generateCorpus, makeRng, newContext, sessionLines } from '../bench/lib/corpus.js';
import { loadConfig } from '../src/config/config.js';
import { selectProcessors } from '../pipelines/index.js';

const PROCESSORS = (process.env.NODES_PROCESSORS ?? 'lines,usage').split(',');
const TTL_MS = 2000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

async function database(prefix: string): Promise<{ url: string; client: pg.Client }> {
  const db = await freshPgDatabase(prefix);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  cleanups.push(async () => {
    await client.end();
    await db.drop();
  });
  return { url: db.url, client };
}

/** A CLI command as a child process, with only the given settings; its stdout and exit code. */
async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSION_PIPELINE_') && k !== 'SESSION_ROOT') env[k] = v;
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  return { code, stdout, stderr };
}

async function runOnce(root: string, url: string, source: string, node: string): Promise<Record<string, any>> {
  const r = await cli(['run', '--once', '--json', '--no-progress', '--root', root, '--db', url, '--source-name', source, '--node-name', node, '--processors', PROCESSORS.join(','), '--log-level', 'warn']);
  if (r.code !== 0) throw new Error(`run --once exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Every file's committed offset reached its last `\n`, for every processor. */
async function caughtUp(client: pg.Client, root: string, files: string[], source: string): Promise<boolean> {
  const rows = (await client.query(`SELECT processor_name, session_file, "offset" FROM session_processor_state`)).rows as { processor_name: string; session_file: string; offset: string }[];
  const at = new Map(rows.map((r) => [`${r.processor_name}\u0000${r.session_file}`, Number(r.offset)]));
  for (const f of files) {
    const b = fs.readFileSync(f);
    const end = b.lastIndexOf(10) + 1;
    const key = `${source}:${path.relative(root, f).split(path.sep).join('/')}`;
    for (const p of PROCESSORS) if (at.get(`${p}\u0000${key}`) !== end) return false;
  }
  return true;
}

describe('several nodes on one PostgreSQL store', () => {
  it('shared root: both nodes commit, one is SIGKILLed holding leases, the survivor takes over within the TTL; the tables equal a clean run and no checkpoint moved backwards', async () => {
    const dir = tempDir('sp-nodes-');
    const root = path.join(dir, 'root');
    fs.mkdirSync(root);
    const { url, client } = await database('nodes');
    const source = 'shared-volume';

    // The schema first (a run over an empty root), then the audit trigger on the state table.
    await runOnce(path.join(dir, 'root'), url, source, 'setup');
    await client.query(`CREATE TABLE checkpoint_audit (seq BIGSERIAL PRIMARY KEY, processor_name TEXT, session_file TEXT, "offset" BIGINT, size BIGINT, status TEXT,
      op TEXT, backend INT DEFAULT pg_backend_pid(), xid BIGINT DEFAULT txid_current(), at TIMESTAMPTZ DEFAULT clock_timestamp())`);
    await client.query(`CREATE FUNCTION audit_checkpoint() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO checkpoint_audit (processor_name, session_file, "offset", size, status, op) VALUES (NEW.processor_name, NEW.session_file, NEW."offset", NEW.size, NEW.status, TG_OP);
        RETURN NEW;
      END $$`);
    await client.query(`CREATE TRIGGER audit_checkpoint AFTER INSERT OR UPDATE ON session_processor_state FOR EACH ROW EXECUTE FUNCTION audit_checkpoint()`);

    const corpus = generateCorpus(root, { files: 40, totalBytes: 3 << 20, owners: 4, seed: 19, subagents: 0 });
    const nodes = await startNodes(
      2,
      {
        root,
        db: url,
        source,
        leaseTtlMs: TTL_MS,
        args: ['--processors', PROCESSORS.join(','), '--quiet-ms', '50', '--max-wait-ms', '300', '--rescan-interval-ms', '2000', '--watcher', 'inotify'],
      },
      'node',
    );
    cleanups.push(async () => {
      for (const n of nodes) await n.stop(2000);
    });
    const [survivor, victim] = nodes;
    const writer = new Writer(corpus.files, makeRng(7), { ...DEFAULT_CHAOS, tickMs: 20, perTick: 4 });
    writer.start();
    try {
      // Both nodes commit work (the initial backfill and the live appends divide between them).
      // Rows, not units: a node's first commit may be its audit-log migration alone.
      await until(() => survivor.committed.rows > 0 && victim.committed.rows > 0, 60_000, 'both nodes to commit rows');
      await sleep(1500);
      const before = { survivor: { ...survivor.committed }, victim: { ...victim.committed } };
      // SIGKILL the victim while it holds leases (a run in flight).
      const heldByVictim = await until(async () => {
        const r = await client.query(`SELECT session_file FROM session_leases WHERE node = $1 AND released_at IS NULL AND expires_at > clock_timestamp()`, [victim.name]);
        return r.rows.length > 0 ? (r.rows as { session_file: string }[]).map((x) => x.session_file) : null;
      }, 30_000, 'the victim to hold a lease', 5);
      victim.child.kill('SIGKILL');
      const killedAt = Date.now();
      const died = await victim.exited;
      expect(died.signal).toBe('SIGKILL');
      // Its files pass to the survivor: no lease of the victim's is left unreleased.
      await until(async () => {
        const r = await client.query(`SELECT count(*)::int AS n FROM session_leases WHERE node = $1 AND released_at IS NULL`, [victim.name]);
        return r.rows[0].n === 0;
      }, 4 * TTL_MS + 10_000, "the victim's leases to be taken over", 50);
      const takeoverMs = Date.now() - killedAt;
      const takenOver = await client.query(`SELECT session_file, node FROM session_leases WHERE session_file = ANY($1)`, [heldByVictim]);
      process.stderr.write(
        `nodes: before the kill survivor ${JSON.stringify(before.survivor)}, victim ${JSON.stringify(before.victim)}; victim held ${heldByVictim.length} leases; taken over in ${takeoverMs} ms (ttl ${TTL_MS} ms)\n`,
      );
      for (const r of takenOver.rows as { node: string }[]) expect(r.node).toBe(survivor.name);
      // Within the TTL after the victim's last renewal plus one heartbeat of the survivor (ttl/3), with room for a loaded machine.
      expect(takeoverMs).toBeLessThan(TTL_MS + TTL_MS / 3 + 3000);
      await sleep(1500); // more appends with the survivor alone
    } finally {
      writer.stop();
    }
    await until(() => caughtUp(client, root, corpus.files, source), 120_000, 'the survivor to catch up', 250);
    // A rescan (2 s) and a quiet moment, so nothing is in flight.
    await sleep(2500);
    const health = await survivor.get('/health');
    expect(health.json.leases).toMatchObject({ node: survivor.name, ttlMs: TTL_MS });
    const status = await survivor.get('/status');
    expect(status.json.leases.holding).toBeTypeOf('number');
    expect(status.json.leases.takenOver).toBeGreaterThan(0);
    const metrics = await fetch(`http://127.0.0.1:${survivor.port}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/^session_pipeline_leases_taken_over_total [1-9]/m);
    expect(await survivor.stop()).toEqual({ code: 0, signal: null });
    expect(survivor.errors).toEqual([]);

    // No checkpoint ever moved backwards (the writer only appends: no retraction is legitimate).
    const audited = await client.query(`SELECT count(*)::int AS n, count(DISTINCT session_file)::int AS files FROM checkpoint_audit`);
    expect(audited.rows[0].files).toBe(corpus.files.length);
    const backwards = await client.query(`SELECT processor_name, session_file, "offset", prev FROM (
        SELECT processor_name, session_file, "offset", lag("offset") OVER (PARTITION BY processor_name, session_file ORDER BY seq) AS prev
        FROM checkpoint_audit) x WHERE "offset" < prev`);
    if (backwards.rows.length > 0) {
      const history = await client.query(`SELECT * FROM checkpoint_audit WHERE session_file = $1 AND processor_name = $2 ORDER BY seq`, [backwards.rows[0].session_file, backwards.rows[0].processor_name]);
      process.stderr.write(`nodes: history of a checkpoint that moved backwards:\n${history.rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
    }
    expect(backwards.rows).toEqual([]);
    process.stderr.write(`nodes: ${audited.rows[0].n} checkpoint writes audited over ${audited.rows[0].files} files, 0 backwards\n`);

    // The tables equal a clean single-node run over the same files.
    const clean = await database('nodes_clean');
    await runOnce(root, clean.url, source, 'clean');
    const processors = selectProcessors(loadConfig({ root, db: clean.url, processors: PROCESSORS.join(',') }, {}));
    const compared = await compareStores(url, clean.url, processors);
    process.stderr.write(`nodes: compared ${compared.map((t) => `${t.table}:${t.rows}/${t.onlyChaos}/${t.onlyClean}`).join(' ')}\n`);
    expect(compared.find((t) => t.table === 'lines_file_stats')?.rows).toBe(corpus.files.length);
    expect(compared.filter((t) => t.onlyChaos + t.onlyClean > 0)).toEqual([]);
  }, 300_000);

  it('separate roots: the same relative paths under two sources do not collide, and a session copied between them counts once', async () => {
    const dir = tempDir('sp-sources-');
    const rng = makeRng(23);
    const lines = (cwd: string, n: number) => {
      const g = sessionLines(rng, newContext(rng, cwd), { maxResult: 2048 });
      return Array.from({ length: n }, () => g.next().value as string).join('\n') + '\n';
    };
    const a = lines('/Users/alice/webapp', 60);
    const b = lines('/home/alice/webapp', 60);
    const shared = lines('/Users/bob/api', 40);
    const put = (root: string, rel: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), text);
    };
    const rootA = path.join(dir, 'laptop-a');
    const rootB = path.join(dir, 'laptop-b');
    put(rootA, 'alice/x.jsonl', a);
    put(rootB, 'alice/x.jsonl', b);
    put(rootA, 'bob/shared.jsonl', shared);
    put(rootB, 'bob/shared.jsonl', shared); // copied from one machine to the other
    // The reference: one embedded store over the three distinct transcripts.
    const refRoot = path.join(dir, 'reference');
    put(refRoot, 'alice/xa.jsonl', a);
    put(refRoot, 'alice/xb.jsonl', b);
    put(refRoot, 'bob/shared.jsonl', shared);
    const refDb = path.join(dir, 'reference.duckdb');

    const { url, client } = await database('sources');
    // Both sources at once, as two machines would.
    await Promise.all([runOnce(rootA, url, 'laptop-a', 'a'), runOnce(rootB, url, 'laptop-b', 'b')]);
    const ref = await cli(['run', '--once', '--json', '--no-progress', '--root', refRoot, '--db', refDb, '--processors', PROCESSORS.join(','), '--log-level', 'warn']);
    expect(ref.code).toBe(0);

    const keys = (await client.query(`SELECT DISTINCT session_file, owner FROM session_processor_state ORDER BY session_file`)).rows;
    expect(keys).toEqual([
      { session_file: 'laptop-a:alice/x.jsonl', owner: 'alice' },
      { session_file: 'laptop-a:bob/shared.jsonl', owner: 'bob' },
      { session_file: 'laptop-b:alice/x.jsonl', owner: 'alice' },
      { session_file: 'laptop-b:bob/shared.jsonl', owner: 'bob' },
    ]);
    const lineRows = (await client.query(`SELECT session_file, lines::int AS lines FROM lines_file_stats ORDER BY session_file`)).rows;
    expect(lineRows.map((r) => r.lines)).toEqual([60, 40, 60, 40]);

    // Totals, by owner and overall, as the report gives them: the copy counts once, as in the reference.
    const report = async (db: string) => {
      const r = await cli(['report', 'usage', '--by', 'owner', '--json', '--db', db, '--admin-port', '1']);
      if (r.code !== 0) throw new Error(`report exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as { rows: { key: string; messages: number; cost_usd: number }[]; totals: { messages: number; input_tokens: number; output_tokens: number; cost_usd: number } };
    };
    const team = await report(url);
    const reference = await report(refDb);
    expect(reference.totals.messages).toBeGreaterThan(0);
    expect(team.totals).toEqual(reference.totals);
    expect(team.rows).toEqual(reference.rows);
    const stored = (await client.query(`SELECT count(*)::int AS n FROM usage_messages WHERE session_file LIKE '%bob/shared.jsonl'`)).rows[0].n;
    const counted = team.rows.find((r) => r.key === 'bob')!.messages;
    expect(stored).toBe(2 * counted); // held twice (one per source), counted once
  }, 180_000);
});
