/**
 * Reads without a daemon, and output into pipes: the file opened read-only
 * (by a user who may only read it), a committed snapshot per read, and
 * complete output through a real pipe to a slow reader.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, copyCorpus, runOnceIn, sandbox, type Sandbox } from '../helpers.js';
import { openStore } from '../../src/state/open.js';
import { withSnapshot } from '../../src/state/read.js';
import { linesProcessor } from '../../pipelines/lines/index.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { createSecretsProcessor } from '../../pipelines/secrets/index.js';
import { loadConfig } from '../../src/config/config.js';

let sb: Sandbox;
/** No daemon anywhere near: an admin port nothing listens on. */
const ENV = { SESSION_PIPELINE_ADMIN_PORT: '1' };

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Run the CLI with stdout into a real pipe whose reader takes one chunk per `delayMs`. */
function slowPipe(args: string[], delayMs = 3, opts: { uid?: number; gid?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      chunks.push(c);
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), delayMs);
    });
    child.stderr.on('data', (d) => (stderr += d));
    let code: number | null = null;
    let done = 0;
    const finish = () => ++done === 2 && resolve({ code, stdout: Buffer.concat(chunks), stderr });
    child.on('exit', (c) => {
      code = c;
      finish();
    });
    child.stdout.on('end', finish);
  });
}

const SESSIONS = 1200;

beforeAll(async () => {
  sb = sandbox('sp-offline-');
  copyCorpus(sb);
  // Enough sessions that `report usage --by session --json` is far past a pipe's 64 KiB.
  for (let i = 0; i < SESSIONS; i++) {
    const id = `msg_${i}`;
    sb.write(
      `team${i % 7}/session-${String(i).padStart(5, '0')}.jsonl`,
      JSON.stringify({
        type: 'assistant',
        timestamp: new Date(Date.UTC(2025, 5, 1 + (i % 28), 10)).toISOString(),
        requestId: `req_${i}`,
        sessionId: `s${i}`,
        message: { id, type: 'message', role: 'assistant', model: 'claude-sonnet-4-20250514', content: [{ type: 'text', text: 'ok' }], usage: { input_tokens: i, output_tokens: 1 } },
      }) + '\n',
    );
  }
  const config = loadConfig({ root: sb.root, db: sb.db }, {});
  await runOnceIn(sb, [linesProcessor, createUsageProcessor(config), createSecretsProcessor(config)]);
}, 180_000);

afterAll(() => sb?.cleanup());

describe('complete output into a pipe with a slow reader', () => {
  const BIG = `SELECT range AS i, repeat('x', 100) AS pad, range * 1.5 AS f FROM range(50000)`;

  it('JSON of >= 5 MB arrives whole and parses', async () => {
    const r = await slowPipe(['sql', BIG, '--json', '--db', sb.db]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThanOrEqual(5 << 20);
    const parsed = JSON.parse(r.stdout.toString()) as { columns: { name: string }[]; rows: { i: number; f: number }[] };
    expect(parsed.columns.map((c) => c.name)).toEqual(['i', 'pad', 'f']);
    expect(parsed.rows).toHaveLength(50000);
    expect(parsed.rows[49999]).toMatchObject({ i: 49999, f: 74998.5 });
  }, 120_000);

  it('CSV of >= 5 MB arrives whole, one line per row', async () => {
    const r = await slowPipe(['sql', BIG, '--csv', '--db', sb.db]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThanOrEqual(5 << 20);
    const lines = r.stdout.toString().split('\n');
    expect(lines[0]).toBe('i,pad,f');
    expect(lines).toHaveLength(50002); // header, rows, and the empty string after the last \n
    expect(lines[50000]).toBe(`49999,${'x'.repeat(100)},74998.5`);
  }, 120_000);

  it('a table of >= 5 MB arrives whole, with its closing border and row count', async () => {
    const r = await slowPipe(['sql', BIG, '--db', sb.db]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThanOrEqual(5 << 20);
    const text = r.stdout.toString();
    expect(text.trimEnd().endsWith('50,000 rows')).toBe(true);
    expect(text).toMatch(/└[─┴]+┘\n50,000 rows\n$/);
    expect(text.match(/^│ +\d+ │/gm)).toHaveLength(50000);
  }, 180_000);

  it('a report past 64 KiB arrives whole (it was cut at 65,523 characters)', async () => {
    const r = await slowPipe(['report', 'usage', '--by', 'session', '--json', '--db', sb.db]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(128 << 10);
    const parsed = JSON.parse(r.stdout.toString()) as { rows: unknown[] };
    expect(parsed.rows.length).toBeGreaterThanOrEqual(SESSIONS);
    const csv = await slowPipe(['report', 'usage', '--by', 'session', '--csv', '--db', sb.db]);
    expect(csv.stdout.toString().split('\n').length).toBe(parsed.rows.length + 2);
    const table = await slowPipe(['report', 'usage', '--by', 'session', '--db', sb.db]);
    // The table ends with its total row and border (and a note when some models are unpriced).
    expect(table.stdout.toString()).toMatch(/│ total +│[^\n]*\n└[─┴]+┘\n(\* partial[^\n]*\n)?$/);
  }, 120_000);

  it('| head stays quiet and keeps the exit code', () => {
    const out = execFileSync('bash', ['-c', `set -o pipefail; node ${CLI} sql "${BIG}" --csv --db ${sb.db} | head -c 100 > /dev/null; echo "status \${PIPESTATUS[0]}"`], {
      env: { ...process.env, ...ENV },
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString();
    expect(out.trim()).toBe('status 0');
    const err = execFileSync('bash', ['-c', `node ${CLI} report usage --by session --json --db ${sb.db} 2>&1 >/dev/null | head -c 1000; node ${CLI} sql "${BIG}" --db ${sb.db} 2>&1 | head -n 2 >/dev/null`], {
      env: { ...process.env, ...ENV },
    }).toString();
    expect(err).toBe('');
  }, 120_000);
});

describe('offline reads open the file read-only', () => {
  it('a user who may only read the file can read it, and nothing is written', async () => {
    const dir = fs.mkdtempSync(path.join(sb.dir, 'ro-'));
    const db = path.join(dir, 'copy.duckdb');
    fs.copyFileSync(sb.db, db);
    fs.chmodSync(db, 0o444);
    fs.chmodSync(dir, 0o555);
    fs.chmodSync(sb.dir, 0o755);
    const before = fs.readdirSync(dir);
    const mtime = fs.statSync(db).mtimeMs;
    // Tests run as root: the child runs as nobody (uid 65534), who may only read.
    const nobody = { uid: 65534, gid: 65534 };
    const usage = await slowPipe(['report', 'usage', '--json', '--db', db], 0, nobody);
    expect(usage.code, usage.stderr).toBe(0);
    expect((JSON.parse(usage.stdout.toString()) as { totals: { messages: number } }).totals.messages).toBeGreaterThan(SESSIONS);
    const q = await slowPipe(['sql', 'SELECT count(*) AS n FROM usage_files', '--json', '--db', db], 0, nobody);
    expect(q.code, q.stderr).toBe(0);
    expect(JSON.parse(q.stdout.toString()).rows[0].n).toBeGreaterThan(SESSIONS);
    const out = path.join(sb.dir, 'nobody-out');
    fs.mkdirSync(out, { mode: 0o777 });
    fs.chmodSync(out, 0o777);
    const ex = await slowPipe(['export', '--format', 'csv', '--out', out, '--db', db], 0, nobody);
    expect(ex.code, ex.stderr).toBe(0);
    expect(fs.readdirSync(out)).toContain('usage_messages.csv');
    // Really unprivileged: the same user cannot open the file for writing.
    const write = await slowPipe(['run', '--once', '--root', sb.root, '--db', db, '--processors', 'lines'], 0, nobody);
    expect(write.code).not.toBe(0);
    expect(fs.readdirSync(dir)).toEqual(before);
    expect(fs.statSync(db).mtimeMs).toBe(mtime);
  }, 120_000);

  it('never turns an empty or missing file into a database', async () => {
    const empty = path.join(sb.dir, 'empty.duckdb');
    fs.writeFileSync(empty, '');
    const r = await slowPipe(['report', 'usage', '--db', empty]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot open database/);
    expect(fs.statSync(empty).size).toBe(0);
    expect(fs.existsSync(`${empty}.wal`)).toBe(false);
    const missing = path.join(sb.dir, 'nowhere', 'missing.duckdb');
    for (const args of [['report', 'usage'], ['sql', 'SELECT 1'], ['export', '--out', path.join(sb.dir, 'x')]]) {
      const m = await slowPipe([...args, '--db', missing]);
      expect(m.code, args.join(' ')).toBe(4);
      expect(m.stderr).toMatch(/no database at/);
    }
    expect(fs.existsSync(path.dirname(missing))).toBe(false);
  }, 120_000);
});

describe('a read sees one committed snapshot', () => {
  it('never half a commit: rows written in an open transaction stay invisible until it commits', async () => {
    const db = await openStore(path.join(sb.dir, 'snap.duckdb'), { externalAccess: false });
    try {
      await db.run('CREATE TABLE t (a INTEGER)');
      await db.run('INSERT INTO t VALUES (1)');
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let inserted!: () => void;
      const halfway = new Promise<void>((r) => (inserted = r));
      const tx = db.transaction(async () => {
        await db.run('INSERT INTO t SELECT range FROM range(2, 1001)');
        inserted();
        await gate;
        await db.run('INSERT INTO t VALUES (1001)');
      });
      await halfway;
      const during = await withSnapshot(db, { timeoutMs: 5000 }, (s) => s.all<{ n: bigint }>('SELECT count(*) AS n FROM t'));
      expect(Number(during[0].n)).toBe(1);
      // A read transaction keeps its snapshot across statements while a commit lands.
      const across = withSnapshot(db, { timeoutMs: 5000 }, async (s) => {
        const first = await s.all<{ n: bigint }>('SELECT count(*) AS n FROM t');
        release();
        await tx;
        const second = await s.all<{ n: bigint }>('SELECT count(*) AS n FROM t');
        return [Number(first[0].n), Number(second[0].n)];
      });
      expect(await across).toEqual([1, 1]);
      const after = await withSnapshot(db, { timeoutMs: 5000 }, (s) => s.all<{ n: bigint }>('SELECT count(*) AS n FROM t'));
      expect(Number(after[0].n)).toBe(1001);
    } finally {
      await db.close();
    }
  });
});

describe("a read's rows on DuckDB", () => {
  it('come as the reports decode them, in order, across chunks; a NaN or Infinity still reads', async () => {
    const db = await openStore(path.join(sb.dir, 'rows.duckdb'), { externalAccess: false });
    try {
      await db.run('CREATE TABLE m (n BIGINT, cost DOUBLE, ts TIMESTAMP, models VARCHAR[], note VARCHAR)');
      await db.run(
        `INSERT INTO m SELECT range, range * 0.1, TIMESTAMP '2026-01-02 03:04:05.678' + range * INTERVAL 1 SECOND,
           ['a', 'b"' || range::VARCHAR], CASE WHEN range % 2 = 0 THEN NULL ELSE E'line\\n' || range::VARCHAR END
         FROM range(5000)`,
      );
      const rows = await withSnapshot(db, { timeoutMs: 5000 }, (s) =>
        s.all<Record<string, unknown>>('SELECT n, cost, ts, models, note, sum(n) OVER () AS total FROM m ORDER BY n DESC'),
      );
      expect(rows).toHaveLength(5000);
      expect(rows.map((r) => r.n)).toEqual(Array.from({ length: 5000 }, (_, i) => 4999 - i));
      expect(rows[4999 - 7]).toEqual({ n: 7, cost: 0.7, ts: '2026-01-02 03:04:12.678', models: ['a', 'b"7'], note: 'line\n7', total: 12_497_500 });
      expect(rows[4999 - 8].note).toBeNull();
      const odd = await withSnapshot(db, { timeoutMs: 5000 }, (s) =>
        s.all<{ x: number }>("SELECT x FROM (VALUES (1.5::DOUBLE), ('NaN'::DOUBLE), ('Infinity'::DOUBLE)) t(x)"),
      );
      expect(odd.map((r) => r.x)).toEqual([1.5, NaN, Infinity]);
      // Not a SELECT: read as it is.
      const described = await withSnapshot(db, { timeoutMs: 5000 }, (s) => s.all<{ column_name: string }>('DESCRIBE SELECT * FROM m'));
      expect(described.map((d) => d.column_name)).toEqual(['n', 'cost', 'ts', 'models', 'note']);
    } finally {
      await db.close();
    }
  });
});
