/**
 * Several `session-pipeline watch` nodes on one store, as real child processes
 * (dist/src/cli/main.js): the multi-node tests (test/nodes.test.ts) and
 * bench/scale-out use it. Each node has its own admin port (a free one), its
 * own node name, and counts from its own log what it committed, so a node
 * SIGKILLed mid-load still says what it did before it died.
 */
import path from 'node:path';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT } from './report.js';


export const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

export interface NodeOptions {
  root: string;
  /** The store: a postgres:// URL (or a DuckDB file for a single node). */
  db: string;
  /** --node-name. */
  name: string;
  /** --source-name: the same for every node of one shared root. */
  source?: string;
  leaseTtlMs?: number;
  /** More flags for `watch`. */
  args?: readonly string[];
  env?: Readonly<Record<string, string>>;
  /** Called with each log line (JSON). */
  onLog?: (line: string) => void;
}

export interface RunningNode {
  readonly name: string;
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** From the node's `committed` log lines: transactions, units and rows it committed. */
  readonly committed: { transactions: number; units: number; rows: number };
  /** Lines logged at error or fatal level. */
  readonly errors: string[];
  /** The last lines of its log. */
  tail(): string[];
  /** GET an admin path; the parsed JSON body and status. */
  get(pathname: string): Promise<{ status: number; json: any }>;
  /** SIGTERM, and wait for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The child's environment: none of the caller's pipeline settings, only the given ones. */
function childEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSION_PIPELINE_') && k !== 'SESSION_ROOT') env[k] = v;
  return { ...env, ...extra };
}

function getJson(port: number, pathname: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
  });
}

/** Start one node and wait until its admin API listens. */
export async function startNode(opts: NodeOptions, timeoutMs = 60_000): Promise<RunningNode> {
  const args = [
    CLI,
    'watch',
    '--root', opts.root,
    '--db', opts.db,
    '--node-name', opts.name,
    '--admin-port', '0',
    '--log-level', 'info',
    ...(opts.source ? ['--source-name', opts.source] : []),
    ...(opts.leaseTtlMs ? ['--lease-ttl-ms', String(opts.leaseTtlMs)] : []),
    ...(opts.args ?? []),
  ];
  const child = spawn(process.execPath, args, { env: childEnv(opts.env), stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  const committed = { transactions: 0, units: 0, rows: 0 };
  const errors: string[] = [];
  const tail: string[] = [];
  let port = 0;
  let buf = '';
  child.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      tail.push(line);
      if (tail.length > 40) tail.shift();
      opts.onLog?.(line);
      if (!line.startsWith('{')) continue;
      if (line.includes('"msg":"committed"')) {
        const r = JSON.parse(line) as { units: number; rows: number };
        committed.transactions++;
        committed.units += r.units;
        committed.rows += r.rows;
      } else if (line.includes('"msg":"admin API listening"')) {
        port = (JSON.parse(line) as { port: number }).port;
      }
      if (/"level":(50|60)/.test(line)) errors.push(line.slice(0, 1000));
    }
  });
  const deadline = Date.now() + timeoutMs;
  let early: { code: number | null } | null = null;
  void exited.then((e) => (early = e));
  while (port === 0) {
    if (early) throw new Error(`node ${opts.name} exited ${(early as { code: number | null }).code} before listening:\n${tail.join('\n')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`node ${opts.name} did not listen within ${timeoutMs} ms:\n${tail.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    name: opts.name,
    child,
    port,
    exited,
    committed,
    errors,
    tail: () => [...tail],
    get: (p) => getJson(port, p),
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const e = await exited;
        clearTimeout(t);
        return e;
      }
      return exited;
    },
  };
}

/** `n` nodes on one root and store, named `<prefix>-1` ... `<prefix>-n`, started together. */
export function startNodes(n: number, common: Omit<NodeOptions, 'name'>, prefix = 'node'): Promise<RunningNode[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => startNode({ ...common, name: `${prefix}-${i + 1}` })));
}

/** Wait until `check` returns a truthy value (polled every `everyMs`), or throw after `timeoutMs`. */
export async function until<T>(check: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs: number, what: string, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
