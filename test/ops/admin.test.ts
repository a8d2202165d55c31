/**
 * The admin API against a real daemon process (`session-pipeline watch`) on
 * an ephemeral loopback port, with the test fault hooks on
 * (SESSION_PIPELINE_TEST_FAULTS=1, see src/ops/faults.ts).
 */
import fs from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { line, query, runCli, sandbox, waitFor } from '../helpers.js';
import { cleanEnv, startDaemon, stop, type Running } from './daemon.js';

const TOKEN = 'test-token-123';
const AUTH = { authorization: `Bearer ${TOKEN}` };

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

describe('admin API (real daemon)', () => {
  const sb = sandbox('sp-admin-');
  let d: Running | null = null;
  let base = '';
  /** Every mutating call this suite makes that passes the gate (token checks included), to check the audit log against. */
  let mutating = 0;

  const get = async (path: string, headers: Record<string, string> = AUTH) => {
    const res = await fetch(base + path, { headers });
    return { status: res.status, body: (await res.text()) as string, headers: res.headers };
  };
  const getJson = async <T = any>(path: string, headers: Record<string, string> = AUTH) => {
    const r = await get(path, headers);
    return { status: r.status, body: JSON.parse(r.body) as T };
  };
  const post = async <T = any>(path: string, body: unknown = {}, headers: Record<string, string> = AUTH) => {
    if (headers === AUTH) mutating++;
    const res = await fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-session-pipeline-actor': 'vitest', ...headers },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
  };
  const health = () => getJson('/health');

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) sb.write(`o/s${i}.jsonl`, line({ type: 'user', i }) + line({ type: 'assistant', i }));
    d = await startDaemon(
      sb,
      [
        '--processors', 'lines',
        '--admin-token', TOKEN,
        '--rescan-interval-ms', '300',
        '--quiet-ms', '20',
        '--max-wait-ms', '200',
        '--max-attempts', '2',
        '--retry-base-ms', '2500',
        '--health-stuck-ms', '800',
        '--log-level', 'info',
      ],
      { SESSION_PIPELINE_TEST_FAULTS: '1' },
    );
    base = `http://127.0.0.1:${d.port}`;
    await waitFor(async () => {
      const h = (await health()).body;
      return h.initialScan === 'done' && h.processors.lines.lagFiles === 0 && h.status === 'ok';
    });
  });

  afterAll(async () => {
    await stop(d);
    sb.cleanup();
  });

  it('serves health on a cold start as ok, with lag per processor', async () => {
    const { status, body } = await health();
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: 'ok',
      initialScan: 'done',
      processors: { lines: { status: 'ok', lagBytes: 0, lagFiles: 0, oldestPending: null, fifo: 'ok', retrying: 0, quarantined: 0 } },
      watcher: { status: 'ok' },
      rescan: { intervalMs: 300 },
    });
    expect(body.processors.lines.lastCommitAt).toEqual(expect.any(String));
    expect(body.rescan.lastAt).toEqual(expect.any(String));
  });

  it('needs the token: 401 without, 403 when wrong; health and metrics stay open', async () => {
    const none = await post('/processors/lines/run', {}, {});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/Bearer/);
    expect((await post('/processors/lines/run', {}, { authorization: 'Bearer nope' })).status).toBe(403);
    expect((await post('/quarantine/requeue', { all: true }, {})).status).toBe(401);
    expect((await get('/status', {})).status).toBe(401);
    expect((await get('/status', { authorization: 'Bearer nope' })).status).toBe(403);
    const anonHealth = await getJson('/health', {});
    expect(anonHealth.status).toBe(200);
    expect(anonHealth.body).toEqual({ status: 'ok' });
    expect((await get('/metrics', {})).status).toBe(200);
    const ok = await post('/processors/lines/run');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ processor: 'lines', drained: true, rescan: { files: 3 } });
  });

  it('status shows the config with the token masked, processors, queues and uptime', async () => {
    const { status, body } = await getJson('/status');
    expect(status).toBe(200);
    expect(body.config.adminToken).toBe('***');
    expect(JSON.stringify(body)).not.toContain(TOKEN);
    expect(body.processors).toEqual([{ name: 'lines', version: 1, settle: { policy: 'live' }, tables: ['lines_file_stats'] }]);
    expect(body.queues.lines).toEqual({ running: 0, queued: 0 });
    expect(body.uptimeMs).toBeGreaterThan(0);
    expect(body.admin).toMatchObject({ host: '127.0.0.1', port: d!.port, auth: 'token' });
  });

  it('an unknown processor is 404', async () => {
    const r = await post('/processors/nope/run');
    expect(r.status).toBe(404);
    expect(r.body.message).toMatch(/unknown processor "nope"/);
  });

  it('a concurrent run of the same processor is 409', async () => {
    const first = post('/processors/lines/run?fault=delay:1500');
    await new Promise((r) => setTimeout(r, 300));
    const second = await post('/processors/lines/run');
    expect(second.status).toBe(409);
    expect(second.body.message).toMatch(/already in flight/);
    expect((await first).status).toBe(200);
    expect((await post('/processors/lines/run')).status).toBe(200);
  });

  it('a run that throws releases the lock', async () => {
    const boom = await post('/processors/lines/run?fault=throw');
    expect(boom.status).toBe(500);
    expect(boom.body.message).toMatch(/test fault/);
    const again = await post('/processors/lines/run');
    expect(again.status).toBe(200);
  });

  it('health goes warning while a file is stuck (FIFO skipped, then quarantined) and back to ok after a requeue', async () => {
    const poison = 'o/poison.jsonl';
    sb.write(poison, line({ type: 'user', ok: true }) + line({ type: 'user', __test_fault: 'throw' }));
    // First failure: retrying with a 2.5 s backoff.
    await waitFor(async () => (await getJson('/quarantine')).body.retrying.some((r: any) => r.sessionFile === poison));
    // A newer file goes through meanwhile.
    sb.write('o/newer.jsonl', line({ type: 'user', n: 1 }));
    await waitFor(async () => (await getJson('/trace/o/newer.jsonl')).body.checkpoints[0]?.status === 'ok');
    const stuck = await waitFor(async () => {
      const h = (await health()).body;
      return h.status === 'warning' && h.processors.lines.fifo === 'skipped' ? h : null;
    });
    expect(stuck.processors.lines.oldestPending).toMatchObject({ sessionFile: poison, newerCommitted: true });
    expect(stuck.reasons.join('\n')).toMatch(/o\/poison\.jsonl pending for .* while newer changes were committed/);

    // Second failure: quarantined.
    const q = await waitFor(async () => {
      const b = (await getJson('/quarantine')).body;
      return b.quarantined.length ? b : null;
    });
    expect(q.quarantined).toEqual([
      expect.objectContaining({ processor: 'lines', sessionFile: poison, attempts: 2, lastError: expect.stringMatching(/poison line/) }),
    ]);
    const hq = (await health()).body;
    expect(hq.status).toBe('warning');
    expect(hq.processors.lines.quarantined).toBe(1);
    expect(hq.reasons).toContain('lines: 1 quarantined file');

    // The operator fixes the data; quarantine is sticky until a requeue.
    sb.write(poison, line({ type: 'user', ok: true }) + line({ type: 'user', fixed: true }));
    await new Promise((r) => setTimeout(r, 700));
    expect((await health()).body.processors.lines.quarantined).toBe(1);

    const rq = await post('/quarantine/requeue', { processor: 'lines', file: poison });
    expect(rq.status).toBe(200);
    expect(rq.body).toMatchObject({ count: 1, requeued: [{ processor: 'lines', sessionFile: poison, was: 'quarantined', attempts: 2 }] });
    const healed = await waitFor(async () => {
      const h = (await health()).body;
      return h.status === 'ok' && h.processors.lines.lagFiles === 0 ? h : null;
    });
    expect(healed.processors.lines).toMatchObject({ quarantined: 0, retrying: 0, oldestPending: null });
    const t = (await getJson(`/trace/${poison}`)).body;
    expect(t.checkpoints[0]).toMatchObject({ status: 'ok', attempts: 0, offset: fs.statSync(sb.file(poison)).size, linesProcessed: 2 });
    expect((await getJson('/quarantine')).body).toEqual({ quarantined: [], retrying: [] });

    // Nothing left: a requeue is a no-op; a requeue without a selection is a 400.
    expect((await post('/quarantine/requeue', { all: true })).body.count).toBe(0);
    expect((await post('/quarantine/requeue', {})).status).toBe(400);
  });

  it('serves Prometheus text that parses, with the documented metrics', async () => {
    const { status, body, headers } = await get('/metrics', {});
    expect(status).toBe(200);
    expect(headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheus(body);
    for (const name of [
      'session_pipeline_files_seen',
      'session_pipeline_bytes_read_total',
      'session_pipeline_bytes_committed_total',
      'session_pipeline_lines_total',
      'session_pipeline_malformed_lines_total',
      'session_pipeline_items_total',
      'session_pipeline_commit_duration_seconds',
      'session_pipeline_append_to_commit_seconds',
      'session_pipeline_lag_bytes',
      'session_pipeline_lag_files',
      'session_pipeline_oldest_pending_seconds',
      'session_pipeline_watcher_events_total',
      'session_pipeline_watcher_errors_total',
      'session_pipeline_hints_coalesced_total',
      'session_pipeline_rescan_duration_seconds',
      'session_pipeline_retries_total',
      'session_pipeline_quarantines_total',
      'session_pipeline_quarantined_files',
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_eventloop_lag_max_seconds',
    ]) {
      expect(families.has(name), name).toBe(true);
    }
    for (const [name, f] of families) {
      if (f.type === 'counter') expect(name, `${name} is a counter`).toMatch(/_total$/);
    }
    const v = (name: string, labels = '') => families.get(name)!.samples.find((s) => s.name === name && s.labels === labels)?.value;
    // 3 files x 2 lines, 1 newer, 2 in the repaired poison file (its failed passes committed none).
    expect(v('session_pipeline_lines_total', 'processor="lines"')).toBe(9);
    expect(v('session_pipeline_bytes_committed_total', 'processor="lines"')).toBeGreaterThan(0);
    expect(v('session_pipeline_quarantines_total', 'processor="lines"')).toBe(1);
    expect(v('session_pipeline_retries_total', 'processor="lines"')).toBe(1);
    expect(v('session_pipeline_files_seen')).toBe(5);
    expect(v('session_pipeline_lag_bytes', 'processor="lines"')).toBe(0);
    // Fed by the daemon's own busy-time sampler (prom-client's is parked): one family each, a real delay.
    for (const q of ['p99', 'max']) {
      expect(families.get(`nodejs_eventloop_lag_${q}_seconds`)!.samples).toHaveLength(1);
      const d = v(`nodejs_eventloop_lag_${q}_seconds`)!;
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(10);
    }
    const commits = families.get('session_pipeline_commit_duration_seconds')!.samples.find((s) => s.name.endsWith('_count'));
    expect(commits!.value).toBeGreaterThan(0);
  });

  it('traces a file as JSON and follows it as server-sent events', async () => {
    const file = 'o/s1.jsonl';
    const t = (await getJson(`/trace/${encodeURIComponent(file)}`)).body;
    expect(t.sessionFile).toBe(file);
    expect(t.checkpoints).toEqual([expect.objectContaining({ processor: 'lines', status: 'ok', linesProcessed: 2 })]);
    expect(t.records.map((r: any) => r.stage)).toEqual(expect.arrayContaining(['source', 'state-check', 'dispatched', 'read', 'committed']));
    expect((await get('/trace/not-a-session', AUTH)).status).toBe(400);

    const ac = new AbortController();
    const res = await fetch(`${base}/trace/${file}?follow=1`, { headers: AUTH, signal: ac.signal });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events: { event: string; data: any }[] = [];
    const reading = (async () => {
      const dec = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += dec.decode(chunk, { stream: true });
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
          }
        }
      } catch {
        // aborted
      }
    })();
    await waitFor(() => events.some((e) => e.event === 'checkpoints'));
    const before = events.length;
    sb.append(file, line({ type: 'user', more: true }));
    await waitFor(() => events.slice(before).some((e) => e.event === 'record' && e.data.stage === 'committed'));
    await waitFor(() => events.slice(before).some((e) => e.event === 'checkpoints' && e.data.checkpoints[0].linesProcessed === 3));
    ac.abort();
    await reading;
  });

  it('CLI counterparts talk to the daemon, with clear messages when it is not running or the token is wrong', async () => {
    const port = String(d!.port);
    const env = cleanEnv({ SESSION_PIPELINE_ADMIN_PORT: port, SESSION_PIPELINE_ADMIN_TOKEN: TOKEN });

    const dead = await freePort();
    // Spawning the CLI is the slow part: run the read-only calls side by side, then the mutating ones.
    const [h, s, tr, noToken, down, anonHealth] = await Promise.all([
      runCli(['health', '--json'], env),
      runCli(['status'], env),
      runCli(['trace', 'o/s0.jsonl'], env),
      runCli(['status'], cleanEnv({ SESSION_PIPELINE_ADMIN_PORT: port })),
      runCli(['health', '--admin-port', String(dead)], cleanEnv()),
      runCli(['health'], cleanEnv({ SESSION_PIPELINE_ADMIN_PORT: port })),
    ]);
    expect(anonHealth.code, anonHealth.stderr).toBe(0);
    expect(anonHealth.stdout).toBe('health: OK (details need the admin token: SESSION_PIPELINE_ADMIN_TOKEN or --admin-token)\n');
    expect(h.code, h.stderr).toBe(0);
    expect(JSON.parse(h.stdout).status).toBe('ok');

    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/daemon pid \d+/);
    expect(s.stdout).not.toContain(TOKEN);

    expect(tr.code, tr.stderr).toBe(0);
    expect(tr.stdout).toMatch(/committed state:/);
    expect(tr.stdout).toMatch(/journey \(\d+ most recent records\)/);
    expect(tr.stdout).toMatch(/committed\s+lines\s+offset=/);

    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/requires an admin token/);

    expect(down.code).toBe(4);
    expect(down.stderr).toContain(`daemon not running on 127.0.0.1:${dead} (start it with \`session-pipeline watch\`)`);

    mutating += 2; // the third is refused at the gate: not audited
    const [rs, rq, wrong] = await Promise.all([
      runCli(['rescan', '--processor', 'lines'], env),
      runCli(['requeue', '--all'], env),
      runCli(['rescan', '--admin-token', 'wrong'], cleanEnv({ SESSION_PIPELINE_ADMIN_PORT: port })),
    ]);
    expect(rs.code, rs.stderr).toBe(0);
    expect(rs.stdout).toMatch(/^rescan \(lines\): 5 files/);
    expect(rq.code, rq.stderr).toBe(0);
    expect(rq.stdout).toMatch(/nothing to requeue/);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/refused the admin token/);
  });

  it('writes one audit row per mutating call that passed the gate; refused ones are not stored', async () => {
    const { body } = await getJson('/audit?limit=1000');
    expect(body.rows).toHaveLength(mutating);
    for (const r of body.rows) {
      expect(r).toMatchObject({ method: 'POST', action: expect.stringMatching(/^POST \//), result: expect.any(String), status: expect.any(Number) });
      expect(Date.parse(r.at)).toBeGreaterThan(Date.now() - 10 * 60_000);
    }
    const results = body.rows.map((r: any) => r.result);
    for (const x of ['ok', 'conflict', 'not-found', 'error', 'bad-request']) expect(results).toContain(x);
    expect(body.rows.every((r: any) => r.auth === 'token' && r.result !== 'denied')).toBe(true);
    expect(body.rows.some((r: any) => r.actor === 'vitest')).toBe(true);
    expect(body.rows.some((r: any) => /\(cli\)$/.test(r.actor))).toBe(true);
    const requeue = body.rows.find((r: any) => r.action === 'POST /quarantine/requeue' && r.result === 'ok' && r.detail === 'requeued 1');
    expect(JSON.parse(requeue.target)).toEqual({ processor: 'lines', file: 'o/poison.jsonl' });

    // The rows are in the database file too, once the daemon has stopped.
    await stop(d);
    expect(d!.child.exitCode).toBe(0);
    const rows = await query<{ n: number }>(sb.db, 'SELECT count(*) AS n FROM audit_log');
    expect(rows[0].n).toBe(mutating);
  });
});

describe('admin API binding', () => {
  it('refuses to bind beyond loopback without a token, before touching the database', async () => {
    const sb = sandbox('sp-admin-bind-');
    try {
      const r = await runCli(['watch', '--root', sb.root, '--db', sb.db, '--admin-host', '0.0.0.0', '--admin-port', '0'], cleanEnv());
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/refusing to bind the admin API to 0\.0\.0\.0 without a token/);
      expect(fs.existsSync(sb.db)).toBe(false);
    } finally {
      sb.cleanup();
    }
  });

  it('binds to 0.0.0.0 when a token is set', async () => {
    const sb = sandbox('sp-admin-bind-');
    let d: Running | null = null;
    try {
      d = await startDaemon(sb, ['--admin-host', '0.0.0.0', '--rescan-interval-ms', '1000'], { SESSION_PIPELINE_ADMIN_TOKEN: TOKEN });
      const res = await fetch(`http://127.0.0.1:${d.port}/status`, { headers: AUTH });
      expect(res.status).toBe(200);
      expect((await res.json()).admin).toMatchObject({ host: '0.0.0.0', auth: 'token' });
    } finally {
      await stop(d);
      sb.cleanup();
    }
  });

  it('fails clearly when the port is taken', async () => {
    const sb = sandbox('sp-admin-bind-');
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (blocker.address() as net.AddressInfo).port;
      const r = await runCli(['watch', '--root', sb.root, '--db', sb.db, '--admin-port', String(port)], cleanEnv());
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/admin API cannot listen on 127\.0\.0\.1:\d+: the port is in use/);
    } finally {
      blocker.close();
      sb.cleanup();
    }
  });
});

// ------------------------------------------------------------------ a strict-enough Prometheus text parser

interface Family {
  type: string;
  samples: { name: string; labels: string; value: number }[];
}

function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string) => {
    if (families.has(sample)) return families.get(sample)!;
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (sample.endsWith(suffix)) {
        const f = families.get(sample.slice(0, -suffix.length));
        if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
      }
    }
    return null;
  };
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    if (raw.startsWith('# HELP ')) {
      expect(raw.split(' ')[2]).toMatch(NAME);
      continue;
    }
    if (raw.startsWith('# TYPE ')) {
      const [, , name, type] = raw.split(' ');
      expect(name).toMatch(NAME);
      expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(type);
      families.set(name, { type, samples: [] });
      continue;
    }
    expect(raw.startsWith('#'), `unexpected comment: ${raw}`).toBe(false);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (\S+)(?: \d+)?$/.exec(raw);
    expect(m, `unparsable sample line: ${raw}`).not.toBeNull();
    const [, name, labels = '', value] = m!;
    const v = value === '+Inf' ? Infinity : value === '-Inf' ? -Infinity : Number(value);
    expect(value === 'NaN' || !Number.isNaN(v), `bad value in ${raw}`).toBe(true);
    const f = familyOf(name);
    expect(f, `sample without a # TYPE: ${name}`).not.toBeNull();
    f!.samples.push({ name, labels: labels.replace(/,$/, ''), value: v });
  }
  return families;
}
