/**
 * The read endpoints return data derived from transcripts: they follow the
 * admin rules (the token when set; the daemon's own Host and Origin only),
 * and the CLI reads through them with the same --admin-token as `status`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { line, runCli, sandbox, type Sandbox } from '../helpers.js';
import { cleanEnv, raw, startDaemon, stop, type Running } from '../ops/daemon.js';

const TOKEN = 'reads-token-0123456789';
let sb: Sandbox;
let d: Running | null = null;

beforeAll(async () => {
  sb = sandbox('sp-reads-auth-');
  sb.write('o/s.jsonl', line({ type: 'user', message: { role: 'user', content: 'hi' } }));
  d = await startDaemon(sb, ['--processors', 'lines,usage'], { SESSION_PIPELINE_ADMIN_TOKEN: TOKEN });
}, 60_000);

afterAll(async () => {
  await stop(d);
  sb?.cleanup();
});

const auth = { authorization: `Bearer ${TOKEN}` };
const json = { 'content-type': 'application/json' };
const sqlBody = JSON.stringify({ sql: 'SELECT count(*) AS n FROM session_processor_state' });

describe('read endpoints behind the admin gate', () => {
  it('need the token', async () => {
    expect((await raw(d!.port, 'GET', '/reports', {})).status).toBe(401);
    expect((await raw(d!.port, 'GET', '/reports/usage', {})).status).toBe(401);
    expect((await raw(d!.port, 'POST', '/sql', json, sqlBody)).status).toBe(401);
    expect((await raw(d!.port, 'GET', '/export?relations=usage_files', {})).status).toBe(401);
    expect((await raw(d!.port, 'GET', '/reports/usage', { authorization: 'Bearer wrong' })).status).toBe(403);
    const ok = await raw(d!.port, 'POST', '/sql', { ...auth, ...json }, sqlBody);
    expect(ok.status).toBe(200);
    expect(ok.json.columns).toEqual([{ name: 'n', type: 'BIGINT' }]);
  });

  it('refuse a foreign Host (DNS rebinding) and a foreign Origin, even with the token', async () => {
    expect((await raw(d!.port, 'GET', '/reports/usage', { ...auth, host: `evil.example:${d!.port}` })).status).toBe(421);
    expect((await raw(d!.port, 'POST', '/sql', { ...auth, ...json, origin: 'https://evil.example' }, sqlBody)).status).toBe(403);
    expect((await raw(d!.port, 'POST', '/sql', { ...auth, 'content-type': 'text/plain' }, sqlBody)).status).toBe(415);
  });

  it('the CLI reads through the daemon with the token, and says what is wrong without it', async () => {
    const env = cleanEnv({ SESSION_PIPELINE_ADMIN_PORT: String(d!.port) });
    const withToken = await runCli(['sql', 'SELECT count(*) AS n FROM session_processor_state', '--json', '--db', sb.db, '--admin-token', TOKEN], env);
    expect(withToken.code, withToken.stderr).toBe(0);
    expect(JSON.parse(withToken.stdout).rows[0].n).toBeGreaterThan(0);
    const without = await runCli(['report', 'usage', '--db', sb.db], env);
    expect(without.code).toBe(3);
    expect(without.stderr).toMatch(/requires an admin token/);
  }, 60_000);
});
