/**
 * The committer on PostgreSQL: outputs and checkpoints in one transaction, a failing
 * unit isolated, and a connection lost mid-commit costing a retry, never a lost or
 * doubled unit, including when the answer to COMMIT is what got lost.
 */
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPgDatabase } from './pg.js';
import { openStore } from '../src/state/open.js';
import type { Db } from '../src/state/db.js';
import { migrate } from '../src/state/migrations.js';
import { CORE_COMPONENT, CORE_MIGRATIONS } from '../src/state/schema.js';
import { createTableSql, type OutputTable } from '../src/state/table.js';
import { Committer, DEFAULT_COMMITTER } from '../src/pipeline/commit.js';
import { UnitOfWork } from '../src/pipeline/unit.js';
import { loadCheckpoints, type Checkpoint } from '../src/state/checkpoint.js';
import { AuditLog } from '../src/ops/audit.js';

const OUT: OutputTable = {
  name: 'out_rows',
  columns: [
    { name: 'session_file', type: 'VARCHAR' },
    { name: 'n', type: 'BIGINT' },
    { name: 'text', type: 'VARCHAR' },
  ],
  key: ['session_file', 'n'],
  onConflict: 'DO NOTHING',
};
const TABLES = new Map([[OUT.name, OUT]]);

function checkpoint(file: string, offset: number): Checkpoint {
  return {
    processorName: 'p',
    sessionFile: file,
    owner: file.split('/')[0],
    offset,
    headHash: 'h',
    tailHash: 't',
    size: offset,
    mtimeMs: 1,
    ctimeMs: 1,
    inode: 1,
    linesProcessed: offset,
    itemsProcessed: offset,
    badLines: 0,
    processorVersion: 1,
    processedAt: Date.UTC(2025, 0, 1),
    status: 'ok',
    attempts: 0,
    lastError: null,
    nextAttemptAt: null,
    carry: { n: offset },
  };
}

function unit(file: string, from: number, to: number, statements: string[] = []): UnitOfWork {
  const u = new UnitOfWork('p', file, TABLES);
  for (const s of statements) u.run(s);
  for (let n = from; n < to; n++) u.insert(OUT.name, [file, n, `row ${n}\tof ${file}\n`]);
  u.checkpoint = checkpoint(file, to);
  return u;
}

/**
 * A TCP proxy in front of the server that, once armed, forwards the next COMMIT and then cuts
 * the client off before the server's answer reaches it: the transaction commits, the client
 * only sees its connection die.
 */
async function commitEatingProxy(target: number): Promise<{ port: number; arm: () => void; cuts: () => number; close: () => Promise<void> }> {
  let armed = false;
  let cuts = 0;
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((client) => {
    const server = net.connect(target, '127.0.0.1');
    sockets.add(client).add(server);
    let eating = false;
    client.on('data', (d) => {
      server.write(d);
      if (armed && d.includes('COMMIT\0')) {
        armed = false;
        eating = true;
        cuts++;
        // Long enough for the server to commit; its answer never arrives.
        setTimeout(() => {
          client.destroy();
          server.destroy();
        }, 300);
      }
    });
    server.on('data', (d) => {
      if (!eating) client.write(d);
    });
    const end = () => {
      client.destroy();
      server.destroy();
    };
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
  });
  const port: number = await new Promise((r) => srv.listen(0, '127.0.0.1', () => r((srv.address() as net.AddressInfo).port)));
  return {
    port,
    arm: () => (armed = true),
    cuts: () => cuts,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => srv.close(r));
    },
  };
}

describe('committer on PostgreSQL', () => {
  let url: string;
  let drop: () => Promise<void>;
  let db: Db;

  beforeAll(async () => {
    ({ url, drop } = await freshPgDatabase('commit'));
    db = await openStore(url);
    await migrate(db, CORE_COMPONENT, CORE_MIGRATIONS);
    await db.run(createTableSql(OUT, 'postgres'));
    await db.run('CREATE TABLE bumps (n INTEGER NOT NULL)');
    await db.run('INSERT INTO bumps VALUES (0)');
  });
  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  const count = async (file: string) => Number((await db.all<{ n: bigint }>('SELECT count(*) AS n FROM out_rows WHERE session_file = $1', [file]))[0].n);
  const offsetOf = async (file: string) => (await loadCheckpoints(db)).get('p')?.get(file)?.offset;

  it('commits outputs and checkpoints of many units in one transaction; a failing unit fails alone', async () => {
    const c = new Committer(db, [OUT], { ...DEFAULT_COMMITTER, maxDelayMs: 10_000 });
    const good = await c.enqueue(unit('a/one.jsonl', 0, 500));
    const bad = await c.enqueue(unit('a/bad.jsonl', 0, 10, ['SELECT * FROM no_such_table']));
    const other = await c.enqueue(unit('a/two.jsonl', 0, 300));
    await c.flush();
    await expect(good.committed).resolves.toBeUndefined();
    await expect(other.committed).resolves.toBeUndefined();
    await expect(bad.committed).rejects.toThrow(/no_such_table/);
    expect(await count('a/one.jsonl')).toBe(500);
    expect(await count('a/two.jsonl')).toBe(300);
    expect(await count('a/bad.jsonl')).toBe(0);
    expect(await offsetOf('a/one.jsonl')).toBe(500);
    expect(await offsetOf('a/bad.jsonl')).toBeUndefined();
    // Poisoned until acknowledged: a later batch of the bad file does not commit on top of the missing one.
    const later = await c.enqueue(unit('a/bad.jsonl', 10, 20));
    await c.flush();
    await expect(later.committed).rejects.toThrow(/earlier batch/);
    const cp = (await loadCheckpoints(db)).get('p')!.get('a/one.jsonl')!;
    expect(cp).toMatchObject({ offset: 500, carry: { n: 500 }, processedAt: Date.UTC(2025, 0, 1), status: 'ok' });
  });

  it('a connection killed mid-commit: the group is retried on a new connection, nothing lost or doubled', async () => {
    const lost: number[] = [];
    const c = new Committer(db, [OUT], { ...DEFAULT_COMMITTER, maxDelayMs: 10_000, onConnectionLost: (_e, attempt) => lost.push(attempt) });
    // The first statement of the group sleeps, so the kill lands inside the transaction.
    const u1 = await c.enqueue(unit('b/one.jsonl', 0, 1000, ['SELECT pg_sleep(0.4)', 'UPDATE bumps SET n = n + 1']));
    const u2 = await c.enqueue(unit('b/two.jsonl', 0, 1000));
    const flushed = c.flush();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      for (let i = 0; i < 50; i++) {
        const r = await admin.query("SELECT pg_terminate_backend(pid) AS k FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep(0.4)%' AND pid <> pg_backend_pid()");
        if (r.rows.length > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await admin.end();
    }
    await flushed;
    await expect(u1.committed).resolves.toBeUndefined();
    await expect(u2.committed).resolves.toBeUndefined();
    expect(lost.length).toBeGreaterThanOrEqual(1);
    expect(await count('b/one.jsonl')).toBe(1000);
    expect(await count('b/two.jsonl')).toBe(1000);
    expect(await offsetOf('b/one.jsonl')).toBe(1000);
    // The statement ran in the committed attempt only.
    expect((await db.all<{ n: number }>('SELECT n FROM bumps'))[0].n).toBe(1);
  });

  it('the answer to COMMIT lost with the connection: the commit is looked up, not applied again', async () => {
    const port = Number(new URL(url).port);
    const proxy = await commitEatingProxy(port);
    const via = new URL(url);
    via.port = String(proxy.port);
    const pdb = await openStore(via.toString());
    try {
      const before = (await pdb.all<{ n: number }>('SELECT n FROM bumps'))[0].n;
      const c = new Committer(pdb, [OUT], { ...DEFAULT_COMMITTER, maxDelayMs: 10_000 });
      proxy.arm();
      // Not idempotent: applied twice, it would bump twice.
      const u = await c.enqueue(unit('c/one.jsonl', 0, 200, ['UPDATE bumps SET n = n + 1']));
      await c.flush();
      await expect(u.committed).resolves.toBeUndefined();
      expect(proxy.cuts()).toBe(1);
      expect((await pdb.all<{ n: number }>('SELECT n FROM bumps'))[0].n).toBe(before + 1);
      expect(await count('c/one.jsonl')).toBe(200);
      expect(pdb.health().lastError).not.toBeNull();
    } finally {
      await pdb.close();
      await proxy.close();
    }
  });

  it('two daemons setting up the audit log at once on one store: applied once, both work', async () => {
    const { url: u, drop: d } = await freshPgDatabase('audit');
    const a = await openStore(u);
    const b = await openStore(u);
    try {
      await migrate(a, CORE_COMPONENT, CORE_MIGRATIONS);
      const ca = new Committer(a, [], { ...DEFAULT_COMMITTER, maxDelayMs: 5 });
      const cb = new Committer(b, [], { ...DEFAULT_COMMITTER, maxDelayMs: 5 });
      const [la, lb] = await Promise.all([AuditLog.open(a, ca), AuditLog.open(b, cb)]);
      const entry = { at: Date.UTC(2025, 1, 2, 3, 4, 5, 678), actor: 'me', auth: 'none', remote: null, method: 'POST', action: 'POST /rescan', target: null, status: 202, result: 'accepted', detail: null };
      await Promise.all([la.write(entry), lb.write({ ...entry, actor: 'you' })]);
      const rows = await la.recent(10);
      expect(rows.map((r) => r.actor).sort()).toEqual(['me', 'you']);
      expect(rows[0].at).toBe('2025-02-02T03:04:05.678Z');
      expect(await a.all("SELECT version FROM schema_version WHERE component = 'ops'")).toHaveLength(1);
    } finally {
      await a.close();
      await b.close();
      await d();
    }
  });
});
