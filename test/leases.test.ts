/**
 * Leases and fencing on a real PostgreSQL (state/leases.ts, pipeline/fence.ts,
 * pipeline/lease-keeper.ts): two "nodes" are two connections with their own
 * node names, on a fresh database of the run's throwaway cluster.
 */
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import pino from 'pino';
import { freshPgDatabase } from './pg.js';
import {
  LEASE_DDL,
  lapseDeadLocalNodes,
  lapsedLeases,
  pidAlive,
  leaseCounts,
  lockLeases,
  releaseLease,
  renewLeases,
  takeLease,
  type SqlRunner,
} from '../src/state/leases.js';
import { leaseFence, refusals, type FencedUnit } from '../src/pipeline/fence.js';
import { LeaseKeeper } from '../src/pipeline/lease-keeper.js';
import { sessionKeys } from '../src/discover/session-path.js';
import { UnitOfWork } from '../src/pipeline/unit.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const runner = (c: pg.Client | pg.PoolClient): SqlRunner => ({
  all: async <T,>(sql: string, params?: readonly unknown[]) => (await c.query(sql, params as unknown[])).rows as T[],
});
const quiet = pino({ level: 'silent' });

let db: Awaited<ReturnType<typeof freshPgDatabase>>;
let a: pg.Client;
let b: pg.Client;
let A: SqlRunner;
let B: SqlRunner;

beforeAll(async () => {
  db = await freshPgDatabase('leases');
  a = new pg.Client({ connectionString: db.url });
  b = new pg.Client({ connectionString: db.url });
  await a.connect();
  await b.connect();
  // The offset guard reads the committed checkpoints (the core's table, its columns that matter here).
  await a.query(`CREATE TABLE session_processor_state (processor_name VARCHAR, session_file VARCHAR, "offset" BIGINT, PRIMARY KEY (processor_name, session_file))`);
  for (const s of LEASE_DDL) await a.query(s);
  A = runner(a);
  B = runner(b);
});

afterAll(async () => {
  await a?.end();
  await b?.end();
  await db?.drop();
});

describe('leases', () => {
  it("a restart takes at once the files of this host's dead earlier process, not a TTL later; a live one's stay held", async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    expect(pidAlive(dead)).toBe(false);
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      await takeLease(A, 'h:restart/dead.jsonl', `myhost:${dead}`, 30_000);
      await takeLease(A, 'h:restart/live.jsonl', `myhost:${live.pid}`, 30_000);
      await takeLease(A, 'h:restart/named.jsonl', 'myhost:web-1', 30_000);
      await takeLease(A, 'h:restart/other.jsonl', `otherhost:${dead}`, 30_000);
      // Before: the new process cannot take the dead one's file for 30 s.
      expect(await takeLease(B, 'h:restart/dead.jsonl', `myhost:${process.pid}`, 30_000)).toBeNull();
      expect(await lapseDeadLocalNodes(B, 'myhost', pidAlive)).toEqual([`myhost:${dead}`]);
      expect(await takeLease(B, 'h:restart/dead.jsonl', `myhost:${process.pid}`, 30_000)).toMatchObject({ from: `myhost:${dead}`, lapsed: true });
      // A live pid, an explicit node name and another host's node are left to their TTL.
      for (const f of ['live', 'named', 'other']) expect(await takeLease(B, `h:restart/${f}.jsonl`, `myhost:${process.pid}`, 30_000), f).toBeNull();
    } finally {
      live.kill('SIGKILL');
    }
  });

  it('one node at a time; the same node keeps its token; another node gets a newer one after a release', async () => {
    const first = await takeLease(A, 'h:alice/1.jsonl', 'node-a', 30_000);
    expect(first).toMatchObject({ from: null, lapsed: false });
    const t1 = first!.token;
    expect(await takeLease(B, 'h:alice/1.jsonl', 'node-b', 30_000)).toBeNull();
    expect(await takeLease(A, 'h:alice/1.jsonl', 'node-a', 30_000)).toEqual({ token: t1, from: 'node-a', lapsed: false });
    // Only the holder's own token releases it.
    expect(await releaseLease(B, 'h:alice/1.jsonl', 'node-b', t1)).toBe(false);
    expect(await releaseLease(A, 'h:alice/1.jsonl', 'node-a', t1 + 1000)).toBe(false);
    expect(await releaseLease(A, 'h:alice/1.jsonl', 'node-a', t1)).toBe(true);
    const second = await takeLease(B, 'h:alice/1.jsonl', 'node-b', 30_000);
    // Released, not lapsed: a hand-over, not a take-over.
    expect(second).toMatchObject({ from: 'node-a', lapsed: false });
    const t2 = second!.token;
    expect(t2).toBeGreaterThan(t1);
    await releaseLease(B, 'h:alice/1.jsonl', 'node-b', t2);
    // Back to node a: another node held it in between, so a new token (the caller reloads).
    const t3 = (await takeLease(A, 'h:alice/1.jsonl', 'node-a', 30_000))!.token;
    expect(t3).toBeGreaterThan(t2);
    await releaseLease(A, 'h:alice/1.jsonl', 'node-a', t3);
  });

  it('a lease not renewed lapses and is taken over; a renewed one is not', async () => {
    const ta = (await takeLease(A, 'h:alice/2.jsonl', 'node-a', 400))!.token;
    const tr = (await takeLease(A, 'h:alice/3.jsonl', 'node-a', 400))!.token;
    await sleep(250);
    const held = await renewLeases(A, 'node-a', new Map([['h:alice/3.jsonl', tr]]), 400);
    expect([...held]).toEqual(['h:alice/3.jsonl']);
    await sleep(250);
    // 500 ms after the take: 2.jsonl lapsed (ttl 400), 3.jsonl was renewed at 250 ms.
    expect((await lapsedLeases(B)).map((l) => l.sessionFile)).toContain('h:alice/2.jsonl');
    expect(await lapsedLeases(B, 1000, 'other:')).toEqual([]); // one source's only
    expect(await takeLease(B, 'h:alice/3.jsonl', 'node-b', 400)).toBeNull();
    const over = await takeLease(B, 'h:alice/2.jsonl', 'node-b', 30_000);
    expect(over).toMatchObject({ from: 'node-a', lapsed: true }); // a take-over
    const tb = over!.token;
    expect(tb).toBeGreaterThan(ta);
    // The old holder can neither renew nor lock it any more.
    expect((await renewLeases(A, 'node-a', new Map([['h:alice/2.jsonl', ta]]), 400)).size).toBe(0);
    expect((await lockLeases(A, ['h:alice/2.jsonl'], 'node-a')).size).toBe(0);
    expect(await lockLeases(B, ['h:alice/2.jsonl'], 'node-b')).toEqual(new Map([['h:alice/2.jsonl', tb]]));
    // A lease that lapsed while its node stalled, and that nobody took, is renewed: nobody committed meanwhile.
    const ts = (await takeLease(A, 'h:alice/6.jsonl', 'node-a', 200))!.token;
    await sleep(300);
    expect((await lapsedLeases(B)).map((l) => l.sessionFile)).toContain('h:alice/6.jsonl');
    expect([...(await renewLeases(A, 'node-a', new Map([['h:alice/6.jsonl', ts]]), 30_000))]).toEqual(['h:alice/6.jsonl']);
    expect(await takeLease(B, 'h:alice/6.jsonl', 'node-b', 30_000)).toBeNull();
    // A wrong token renews nothing.
    expect((await renewLeases(A, 'node-a', new Map([['h:alice/6.jsonl', ts + 1]]), 30_000)).size).toBe(0);
    await releaseLease(A, 'h:alice/6.jsonl', 'node-a', ts);
    const c = await leaseCounts(B, 'node-b');
    expect(c.held).toBe(1);
    expect(c.active).toBeGreaterThanOrEqual(1);
    await releaseLease(B, 'h:alice/2.jsonl', 'node-b', tb);
  });

  it('a commit holding the lease rows locked makes a take-over wait until it ends', async () => {
    const ta = (await takeLease(A, 'h:alice/4.jsonl', 'node-a', 300))!.token;
    await a.query('BEGIN');
    const locked = await lockLeases(A, ['h:alice/4.jsonl'], 'node-a');
    expect(locked.get('h:alice/4.jsonl')).toBe(ta);
    await sleep(400); // the lease lapses while node a's transaction runs
    let takenAt = 0;
    const take = takeLease(B, 'h:alice/4.jsonl', 'node-b', 30_000).then((t) => {
      takenAt = Date.now();
      return t;
    });
    await sleep(300);
    expect(takenAt).toBe(0); // still waiting for node a's row lock
    const committedAt = Date.now();
    await a.query('COMMIT');
    const tb = await take;
    expect(tb!.token).toBeGreaterThan(ta);
    expect(takenAt).toBeGreaterThanOrEqual(committedAt);
  });

  it("the fence refuses an expired node's commit and lets the holder's through", async () => {
    const file = 'h:alice/5.jsonl';
    const ta = (await takeLease(A, file, 'node-a', 300))!.token;
    await a.query(`INSERT INTO session_processor_state VALUES ('lines', $1, 100)`, [file]);
    const unit = (lease: number | null, offset: number) => {
      const u = new UnitOfWork('lines', file, new Map());
      u.lease = lease;
      u.checkpoint = { offset } as never;
      return u;
    };
    // Valid: node a's unit passes.
    expect((await leaseFence(A, 'node-a').refuse([unit(ta, 200)])).size).toBe(0);
    await sleep(400);
    // Lapsed (nobody took it yet): refused all the same.
    const r1 = await leaseFence(A, 'node-a').refuse([unit(ta, 200)]);
    expect(r1.get(0)?.why).toBe('lease');
    const tb = (await takeLease(B, file, 'node-b', 30_000))!.token;
    const r2 = await leaseFence(A, 'node-a').refuse([unit(ta, 300)]);
    expect(r2.get(0)?.message).toMatch(/lease of h:alice\/5.jsonl lost/);
    // The holder's unit passes; its checkpoint cannot move behind the committed one.
    expect((await leaseFence(B, 'node-b').refuse([unit(tb, 100)])).size).toBe(0);
    expect((await leaseFence(B, 'node-b').refuse([unit(tb, 99)])).get(0)?.why).toBe('regression');
  });
});

describe('the fence decision (pure)', () => {
  const u = (over: Partial<FencedUnit> & { offset?: number | null }): FencedUnit => ({
    key: `${over.processorName ?? 'p'}\u0000${over.sessionFile ?? 'f'}`,
    processorName: over.processorName ?? 'p',
    sessionFile: over.sessionFile ?? 'f',
    lease: over.lease === undefined ? 7 : over.lease,
    retracts: over.retracts ?? false,
    checkpoint: over.offset === null ? null : { offset: over.offset ?? 100 },
  });
  const held = new Map([['f', 7]]);

  it('passes units under the held token that move forward', () => {
    expect(refusals([u({ offset: 100 }), u({ offset: 200 })], held, new Map([['p\u0000f', 50]])).size).toBe(0);
  });
  it('refuses a stale token, and every later unit of that (processor, file)', () => {
    const r = refusals([u({ lease: 6 }), u({ lease: 7 })], held, new Map());
    expect([...r.keys()]).toEqual([0, 1]);
  });
  it('refuses a file whose lease is not held', () => {
    expect(refusals([u({ sessionFile: 'g' })], held, new Map()).get(0)?.why).toBe('lease');
  });
  it('refuses a checkpoint behind the committed one, unless the file is retracted first', () => {
    const committed = new Map([['p\u0000f', 500]]);
    expect(refusals([u({ offset: 400 })], held, committed).get(0)?.why).toBe('regression');
    expect(refusals([u({ offset: 400, retracts: true }), u({ offset: 450 })], held, committed).size).toBe(0);
    // A retraction of another processor does not let this one move back.
    const two = refusals([u({ processorName: 'q', offset: 0, retracts: true }), u({ offset: 400 })], held, committed);
    expect([...two.keys()]).toEqual([1]);
  });
  it('an unleased unit (an operator requeue) passes the lease check, not the offset guard', () => {
    expect(refusals([u({ lease: null, offset: 500 })], new Map(), new Map([['p\u0000f', 500]])).size).toBe(0);
    expect(refusals([u({ lease: null, offset: 10 })], new Map(), new Map([['p\u0000f', 500]])).get(0)?.why).toBe('regression');
  });
});

describe('LeaseKeeper', () => {
  it('says when a file comes from another node (reload), renews what it holds, hints lapsed files of its source', async () => {
    const keys = sessionKeys('h');
    const ka = new LeaseKeeper(A, keys, { node: 'keeper-a', ttlMs: 300 }, quiet);
    const kb = new LeaseKeeper(B, keys, { node: 'keeper-b', ttlMs: 300 }, quiet);
    const first = await ka.take('bob/1.jsonl');
    // No node ever held it: nothing to reload (the start-up load is current).
    expect(first?.fresh).toBe(false);
    // Two runs of one file share the lease; only the last release hands it back.
    expect(await ka.take('bob/1.jsonl')).toEqual({ token: first!.token, fresh: false });
    await ka.release('bob/1.jsonl');
    expect(await kb.take('bob/1.jsonl')).toBeNull();
    await ka.release('bob/1.jsonl');
    const again = await ka.take('bob/1.jsonl');
    expect(again).toEqual({ token: first!.token, fresh: false }); // nobody held it in between
    ka.start(() => undefined);
    await sleep(700); // over two TTLs: only the heartbeat keeps it
    expect(await kb.take('bob/1.jsonl')).toBeNull();
    expect(ka.stats.holding).toBe(1);
    expect(ka.stats.store?.held).toBe(1);
    // A graceful stop hands everything back.
    await ka.stop();
    expect(await kb.take('bob/1.jsonl')).not.toBeNull();
    await kb.release('bob/1.jsonl');
    // Node a dies holding bob/2 (no heartbeat, nothing released): b is told, and takes the file over.
    const lapsed: string[] = [];
    const tk = (await takeLease(A, 'h:bob/2.jsonl', 'keeper-a', 300))!.token;
    const other = await takeLease(A, 'elsewhere:bob/2.jsonl', 'keeper-a', 300);
    expect(other).not.toBeNull();
    kb.start((f) => lapsed.push(f));
    await sleep(800);
    await kb.stop();
    expect(lapsed).toContain('bob/2.jsonl');
    expect(lapsed.some((f) => f.includes('elsewhere'))).toBe(false);
    const taken = await kb.take('bob/2.jsonl');
    expect(taken?.fresh).toBe(true);
    expect(taken!.token).toBeGreaterThan(tk);
    expect(kb.stats.takenOver).toBe(1);
    await kb.release('bob/2.jsonl');
  });
});

describe('two pipelines on one store (in process)', () => {
  it('a file taken from another node has its checkpoints read again; a stat from before the take would look like a truncation', async () => {
    const { Pipeline } = await import('../src/pipeline/pipeline.js');
    const { runOnce } = await import('../src/pipeline/once.js');
    const { linesProcessor } = await import('../pipelines/lines/index.js');
    const { sandbox } = await import('./helpers.js');
    const { fileStatOf } = await import('../src/discover/file-stat.js');
    const fs = await import('node:fs');
    const sb = sandbox('sp-lease-pipe-');
    const store = await freshPgDatabase('lease_pipe');
    const open = (node: string) =>
      Pipeline.open({
        root: sb.root,
        dbPath: store.url,
        processors: [linesProcessor],
        log: quiet,
        retry: { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 },
        maxLineBytes: 1 << 20,
        source: 'vol',
        lease: { node, ttlMs: 30_000 },
      });
    const line = (i: number) => JSON.stringify({ type: 'user', i }) + '\n';
    sb.write('alice/f.jsonl', line(1) + line(2));
    const a = await open('pipe-a');
    let b: Awaited<ReturnType<typeof open>> | null = null;
    try {
      await runOnce(a);
      b = await open('pipe-b'); // b starts here: its cache has a's first commit
      const before = fileStatOf(fs.lstatSync(sb.file('alice/f.jsonl'))); // what b saw, say, in its walk
      sb.append('alice/f.jsonl', line(3) + line(4));
      await runOnce(a); // node a reads on to the end meanwhile
      const size = fs.statSync(sb.file('alice/f.jsonl')).size;
      expect(b!.checkpoints.get('lines', 'alice/f.jsonl')?.offset).toBe(before.size); // b's cache is behind
      const held = await b!.takeFile('alice/f.jsonl');
      expect(held).toMatchObject({ reloaded: true });
      expect(b!.checkpoints.get('lines', 'alice/f.jsonl')?.offset).toBe(size);
      const target = { ...b!.target('alice/f.jsonl')!, lease: held!.lease };
      // The plan on the stat from before the take: shorter than the checkpoint just read.
      const { classifyAll } = await import('../src/pipeline/run-plan.js');
      const stale = classifyAll([linesProcessor], (p) => b!.checkpoints.get(p.name, 'alice/f.jsonl'), before, Date.now());
      expect(stale.classified[0].byStat.kind).toBe('truncated');
      // On a stat taken under the lease, nothing to do.
      const { done } = await b!.runFile(target, fileStatOf(fs.lstatSync(sb.file('alice/f.jsonl'))));
      expect((await done).get('lines')?.kind).toBe('unchanged');
      await b!.releaseFile('alice/f.jsonl');
    } finally {
      await a.close();
      await b?.close();
      await store.drop();
      sb.cleanup();
    }
  });
});
