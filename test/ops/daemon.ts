/** A real `session-pipeline watch` child for admin API tests, on an ephemeral port. */
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { spawnCli, waitFor, type Sandbox } from '../helpers.js';

/** The child's env without the developer's own pipeline settings. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('SESSION_PIPELINE_') && k !== 'SESSION_ROOT') env[k] = v;
  return { ...env, ...extra };
}

export interface Running {
  child: ChildProcess;
  port: number;
  stderr: () => string;
}

/** Spawn `watch` and learn its admin port from the `admin API listening` log record. */
export async function startDaemon(sb: Sandbox, args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Running> {
  const child = spawnCli(['watch', '--root', sb.root, '--db', sb.db, '--admin-port', '0', ...args], cleanEnv(env));
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.resume();
  const port = await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}:\n${err}`);
    for (const l of err.split('\n')) {
      if (!l.startsWith('{')) continue;
      const rec = JSON.parse(l) as { msg?: string; port?: number };
      if (rec.msg === 'admin API listening') return rec.port;
    }
    return null;
  }, timeoutMs);
  return { child, port: port!, stderr: () => err };
}

export async function stop(r: Running | null): Promise<void> {
  if (!r || r.child.exitCode !== null) return;
  const exited = new Promise((res) => r.child.once('exit', res));
  r.child.kill('SIGTERM');
  await Promise.race([exited, new Promise((res) => setTimeout(res, 10_000))]);
  if (r.child.exitCode === null) r.child.kill('SIGKILL');
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

/**
 * One HTTP request with exactly the headers given (fetch will not set `Host`),
 * from `localAddress` when given (any 127/8 address works on Linux loopback).
 */
export function raw(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
  opts: { connectTo?: string; localAddress?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { host: `127.0.0.1:${port}`, ...headers };
    if (body !== undefined) h['content-length'] = String(Buffer.byteLength(body));
    const req = http.request({ host: opts.connectTo ?? '127.0.0.1', port, method, path, headers: h, localAddress: opts.localAddress, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let json: unknown = null;
        try {
          json = text ? JSON.parse(text) : null;
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
