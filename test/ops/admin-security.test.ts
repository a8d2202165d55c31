/**
 * The admin API under attack, against real daemon processes: DNS rebinding
 * (a foreign `Host`), cross-site POSTs (a foreign `Origin`, `text/plain`
 * bodies, an unbounded `timeoutMs`), a body trickled a byte every 5 s, and,
 * off loopback with a token, what an unauthenticated caller can see, fill or
 * guess. Plus the gate as a library: a route added later gets it.
 */
import fs from 'node:fs';
import net from 'node:net';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { line, runCli, sandbox, waitFor } from '../helpers.js';
import { cleanEnv, raw, startDaemon, stop, type Running } from './daemon.js';
import { FailureLimiter, hostAllowed, allowedHostNames, installAdminGuard, originAllowed } from '../../src/ops/guard.js';

const JSON_CT = { 'content-type': 'application/json' };
const TOKEN = 'sec-token-456';

describe('admin API on loopback without a token (the default)', () => {
  const sb = sandbox('sp-admin-sec-');
  let d: Running | null = null;
  /** POSTs that passed the gate: exactly these are audited. */
  let accepted = 0;

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) sb.write(`o/s${i}.jsonl`, line({ type: 'user', i }));
    d = await startDaemon(sb, ['--processors', 'lines', '--rescan-interval-ms', '500', '--quiet-ms', '20', '--max-wait-ms', '200']);
  });
  afterAll(async () => {
    await stop(d);
    sb.cleanup();
  });

  it('refuses a Host that is not its own address (DNS rebinding): 421 for reads, mutations and unknown routes', async () => {
    const port = d!.port;
    for (const host of ['attacker.example', `attacker.example:${port}`, `127.0.0.1:${port + 1}`, '127.0.0.1', `localhost.attacker.example:${port}`]) {
      const status = await raw(port, 'GET', '/status', { host });
      expect(status.status, host).toBe(421);
      expect(status.text).not.toContain('config');
      const rq = await raw(port, 'POST', '/quarantine/requeue', { host, ...JSON_CT }, JSON.stringify({ all: true }));
      expect(rq.status, host).toBe(421);
    }
    expect((await raw(port, 'GET', '/no-such-route', { host: 'attacker.example' })).status).toBe(421);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      const r = await raw(port, 'GET', '/status', { host });
      expect(r.status, host).toBe(200);
      expect(r.json.config.root).toBe(sb.root);
    }
  });

  it('refuses a foreign Origin, and every POST that is not JSON', async () => {
    const port = d!.port;
    const body = JSON.stringify({ timeoutMs: 20_000 });
    for (const origin of ['http://attacker.example', `http://attacker.example:${port}`, 'null', `https://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`]) {
      const r = await raw(port, 'POST', '/rescan', { origin, ...JSON_CT }, body);
      expect(r.status, origin).toBe(403);
      expect(r.json.message).toMatch(/cross-origin/);
    }
    expect((await raw(port, 'POST', '/rescan', { 'sec-fetch-site': 'cross-site', ...JSON_CT }, body)).status).toBe(403);
    // What a cross-site <form> or a no-preflight fetch can send: refused even without an Origin.
    for (const ct of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const r = await raw(port, 'POST', '/processors/lines/run', { 'content-type': ct }, body);
      expect(r.status, ct).toBe(415);
      expect(r.json.message).toMatch(/application\/json/);
    }
    expect((await raw(port, 'POST', '/rescan', {}, '')).status).toBe(415);
    // The same call from its own page (same origin) or the CLI (no Origin) goes through.
    const own = await raw(port, 'POST', '/rescan', { origin: `http://127.0.0.1:${port}`, ...JSON_CT }, body);
    expect(own.status).toBe(200);
    accepted++;
    const local = await raw(port, 'POST', '/processors/lines/run', { origin: `http://localhost:${port}`, 'content-type': 'application/json; charset=utf-8' }, body);
    expect(local.status).toBe(200);
    accepted++;
  });

  it('bounds timeoutMs with a clear 400 naming the limit (body and query)', async () => {
    const port = d!.port;
    const big = await raw(port, 'POST', '/processors/lines/run', JSON_CT, JSON.stringify({ timeoutMs: 1_800_000 }));
    expect(big.status).toBe(400);
    expect(big.json.message).toMatch(/timeoutMs must be <= 600000/);
    accepted++;
    const q = await raw(port, 'POST', '/rescan?timeoutMs=1800000', JSON_CT, '{}');
    expect(q.status).toBe(400);
    expect(q.json.message).toMatch(/timeoutMs must be <= 600000/);
    accepted++;
    expect((await raw(port, 'POST', '/rescan', JSON_CT, JSON.stringify({ timeoutMs: 'soon' }))).status).toBe(400);
    accepted++;
    const ok = await raw(port, 'POST', '/rescan', JSON_CT, JSON.stringify({ timeoutMs: 600_000 }));
    expect(ok.status).toBe(200);
    accepted++;
    // POST /sql said so too (it used to lower both silently to its ceilings).
    const sql = await raw(port, 'POST', '/sql', JSON_CT, JSON.stringify({ sql: 'SELECT 1 AS n', timeoutMs: 1_800_000 }));
    expect(sql.status).toBe(400);
    expect(sql.json.message).toMatch(/timeoutMs must be <= 600000/);
    accepted++;
    const rows = await raw(port, 'POST', '/sql', JSON_CT, JSON.stringify({ sql: 'SELECT 1 AS n', maxRows: 20_000_000 }));
    expect(rows.status).toBe(400);
    expect(rows.json.message).toMatch(/maxRows must be <= 10000000/);
    accepted++;
    const fine = await raw(port, 'POST', '/sql', JSON_CT, JSON.stringify({ sql: 'SELECT 1 AS n', timeoutMs: 600_000, maxRows: 0 }));
    expect(fine.status).toBe(200);
    expect(fine.json.rows).toEqual([{ n: 1 }]);
    accepted++;
  });

  it('caps open event streams at 64 with a 503, without listener warnings, and admits again once one closes', async () => {
    const port = d!.port;
    const open: AbortController[] = [];
    const statuses: number[] = [];
    for (let i = 0; i < 66; i++) {
      const ac = new AbortController();
      const url = i % 2 ? `http://127.0.0.1:${port}/trace/o/s0.jsonl?follow=1` : `http://127.0.0.1:${port}/dashboard/events`;
      const res = await fetch(url, { signal: ac.signal });
      statuses.push(res.status);
      if (res.status === 200) open.push(ac);
      else await res.text();
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(64);
    expect(statuses.slice(64)).toEqual([503, 503]);
    open.pop()!.abort();
    const again = await waitFor(async () => {
      const ac = new AbortController();
      const res = await fetch(`http://127.0.0.1:${port}/trace/o/s1.jsonl?follow=1`, { signal: ac.signal });
      if (res.status !== 200) {
        await res.text();
        return null;
      }
      open.push(ac);
      return res.status;
    }, 5_000);
    expect(again).toBe(200);
    for (const ac of open) ac.abort();
    expect(d!.stderr()).not.toMatch(/MaxListenersExceededWarning/);
  });

  it('audits only the calls that passed the gate, and counts the refused ones', async () => {
    const port = d!.port;
    // A call is audited after its answer (through the committer): the last ones may still be on their way.
    // Before the trickling POST below: that one passes the gate, and whether fastify answers it
    // (a 400 once the socket closes, audited) or not races with the socket's end.
    let rows: { status: number; auth: string; action: string }[] = [];
    await waitFor(async () => {
      const audit = await raw(port, 'GET', '/audit?limit=1000', {});
      expect(audit.status).toBe(200);
      rows = audit.json.rows;
      return rows.length >= accepted;
    }, 10_000);
    // Named, so a failure says which call was (or was not) audited.
    expect(rows.map((r) => `${r.action} ${r.status}`)).toHaveLength(accepted);
    expect(rows.every((r) => r.auth === 'none' && ![415, 421, 403].includes(r.status))).toBe(true);
    const metrics = (await raw(port, 'GET', '/metrics', {})).text;
    const refused = (reason: string) => Number(new RegExp(`^session_pipeline_admin_refused_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(metrics)?.[1]);
    expect(refused('host')).toBe(11);
    expect(refused('origin')).toBe(6);
    expect(refused('content-type')).toBe(5);
  });

  it('cuts off a POST whose body trickles one byte every 5 s', async () => {
    const port = d!.port;
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const t0 = Date.now();
    let answer = '';
    sock.setEncoding('utf8');
    sock.on('data', (c) => (answer += c));
    const closed = new Promise<number>((r) => sock.once('close', () => r(Date.now() - t0)));
    sock.on('error', () => undefined);
    sock.write(`POST /rescan HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n`);
    const drip = setInterval(() => sock.write(' '), 5_000);
    try {
      const after = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 25_000))]);
      // REQUEST_TIMEOUT_MS (10 s) plus node's 1 s check interval, with room for a busy machine.
      expect(after, 'the connection was still open after 25 s').toBeGreaterThan(0);
      expect(after).toBeGreaterThanOrEqual(9_000);
      expect(after).toBeLessThan(20_000);
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(drip);
      sock.destroy();
    }
  }, 40_000);
});

describe('admin API off loopback with a token', () => {
  const sb = sandbox('sp-admin-sec-tok-');
  let d: Running | null = null;
  const AUTH = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    sb.write('o/s0.jsonl', line({ type: 'user' }));
    d = await startDaemon(sb, ['--processors', 'lines', '--admin-host', '0.0.0.0', '--rescan-interval-ms', '500', '--quiet-ms', '20'], {
      SESSION_PIPELINE_ADMIN_TOKEN: TOKEN,
    });
    // Generous: on a loaded machine (2 cores, load 30) the first scan took over 20 s.
    await waitFor(async () => (await raw(d!.port, 'GET', '/health', AUTH)).json?.initialScan === 'done', 60_000);
  }, 90_000);
  afterAll(async () => {
    await stop(d);
    sb.cleanup();
  });

  it('answers an unauthenticated GET /health with the status only; the token shows the rest', async () => {
    const anon = await raw(d!.port, 'GET', '/health', {});
    expect(anon.status).toBe(200);
    expect(anon.json).toEqual({ status: 'ok' });
    const wrong = await raw(d!.port, 'GET', '/health', { authorization: 'Bearer nope' });
    expect(wrong.json).toEqual({ status: 'ok' });
    const full = await raw(d!.port, 'GET', '/health', AUTH);
    expect(full.json).toMatchObject({ status: 'ok', processors: { lines: expect.any(Object) }, reasons: [] });
  });

  it('refuses a foreign Host even with the right token', async () => {
    expect((await raw(d!.port, 'GET', '/status', { host: 'attacker.example', ...AUTH })).status).toBe(421);
  });

  it('rate-limits failed token checks per remote and stores none of them in audit_log', async () => {
    const port = d!.port;
    const from = { localAddress: '127.0.0.7' };
    const statuses: number[] = [];
    for (let i = 0; i < 24; i++) {
      const headers = i % 2 ? { authorization: `Bearer guess-${i}`, ...JSON_CT } : JSON_CT;
      statuses.push((await raw(port, 'POST', '/quarantine/requeue', headers, JSON.stringify({ all: true }), from)).status);
    }
    expect(statuses.slice(0, 20).every((s) => s === 401 || s === 403)).toBe(true);
    expect(statuses.slice(20)).toEqual([429, 429, 429, 429]);
    // Limited: the right token from that remote waits too (that is what stops guessing); others are not affected.
    const limited = await raw(port, 'POST', '/rescan', { ...AUTH, ...JSON_CT }, '{}', from);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await raw(port, 'GET', '/health', {}, undefined, from)).status).toBe(200);
    const ok = await raw(port, 'POST', '/rescan', { ...AUTH, ...JSON_CT }, '{}');
    expect(ok.status).toBe(200);

    const rows = (await raw(port, 'GET', '/audit?limit=1000', AUTH)).json.rows as { auth: string; action: string; status: number }[];
    expect(rows).toEqual([expect.objectContaining({ auth: 'token', action: 'POST /rescan', status: 200 })]);
  });
});

describe('admin token setting', () => {
  it('refuses a whitespace-only token at start: exit 2, one line naming the setting, no database', async () => {
    const sb = sandbox('sp-admin-sec-blank-');
    try {
      const viaFlag = await runCli(['watch', '--root', sb.root, '--db', sb.db, '--admin-port', '0', '--admin-token', '   '], cleanEnv());
      const viaEnv = await runCli(['watch', '--root', sb.root, '--db', sb.db, '--admin-port', '0'], cleanEnv({ SESSION_PIPELINE_ADMIN_TOKEN: ' \t ' }));
      for (const r of [viaFlag, viaEnv]) {
        expect(r.code).toBe(2);
        const lines = r.stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/invalid adminToken \(--admin-token \/ SESSION_PIPELINE_ADMIN_TOKEN\): \*\*\*: must not be blank/);
      }
      expect(fs.existsSync(sb.db)).toBe(false);
    } finally {
      sb.cleanup();
    }
  });
});

describe('the gate as a library (for routes added by other modules)', () => {
  it('guards a route registered after it: Host, Origin, JSON and token', async () => {
    const app = Fastify();
    installAdminGuard(app, { bindHost: '127.0.0.1', port: () => 7370, token: 't', tokenMatches: (g) => g === 't' });
    await app.register(async (scoped) => {
      scoped.get('/report/x', async () => ({ rows: [1] }));
      scoped.post('/sql', async () => ({ ok: true }));
    });
    const auth = { authorization: 'Bearer t' };
    const inj = (method: 'GET' | 'POST', url: string, headers: Record<string, string>, payload?: string) => app.inject({ method, url, headers, payload });
    expect((await inj('GET', '/report/x', { host: 'evil.example:7370', ...auth })).statusCode).toBe(421);
    expect((await inj('GET', '/report/x', { host: '127.0.0.1:7370' })).statusCode).toBe(401);
    expect((await inj('GET', '/report/x', { host: '127.0.0.1:7370', ...auth })).statusCode).toBe(200);
    expect((await inj('POST', '/sql', { host: 'localhost:7370', 'content-type': 'text/plain', ...auth }, '{}')).statusCode).toBe(415);
    expect((await inj('POST', '/sql', { host: 'localhost:7370', origin: 'http://evil.example', ...JSON_CT, ...auth }, '{}')).statusCode).toBe(403);
    expect((await inj('POST', '/sql', { host: 'localhost:7370', ...JSON_CT, ...auth }, '{}')).statusCode).toBe(200);
    await app.close();
  });

  it('host and origin rules: bound address, localhost names, wildcard binds take the interface addresses', () => {
    const names = allowedHostNames('0.0.0.0', () => ['127.0.0.1', '192.168.1.5', 'fe80::1']);
    expect(hostAllowed('192.168.1.5:7370', names, 7370)).toBe(true);
    expect(hostAllowed('[fe80::1]:7370', names, 7370)).toBe(true);
    expect(hostAllowed('192.168.1.6:7370', names, 7370)).toBe(false);
    expect(hostAllowed('localhost', names, 80)).toBe(true);
    expect(hostAllowed('localhost', names, 7370)).toBe(false);
    expect(hostAllowed(undefined, names, 7370)).toBe(false);
    const lan = allowedHostNames('10.0.0.2');
    expect([...lan]).toEqual(['localhost', '127.0.0.1', '[::1]', '10.0.0.2']);
    expect(originAllowed(undefined, lan, 7370)).toBe(true);
    expect(originAllowed('http://10.0.0.2:7370', lan, 7370)).toBe(true);
    expect(originAllowed('http://10.0.0.3:7370', lan, 7370)).toBe(false);
  });

  it('the failure limiter: a window per remote, bounded in size', () => {
    let now = 0;
    const l = new FailureLimiter(3, 1000, 2, () => now);
    expect([l.fail('a'), l.fail('a'), l.fail('a')]).toEqual([false, false, true]);
    expect(l.blockedFor('a')).toBe(1000);
    expect(l.blockedFor('b')).toBe(0);
    now = 999;
    expect(l.blockedFor('a')).toBe(1);
    now = 1000;
    expect(l.blockedFor('a')).toBe(0);
    l.fail('b');
    l.fail('c');
    l.fail('d');
    expect(l.size).toBe(2);
  });
});
