/**
 * Commands that talk to a running daemon through its admin API:
 * `status`, `health`, `trace <file> [--follow]`, `requeue` and `rescan`.
 * They read the same admin settings as `watch` (--admin-host / --admin-port /
 * --admin-token and their SESSION_PIPELINE_ADMIN_* variables).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import Table from 'cli-table3';
import { addSettings, guard, CliError, EXIT } from '../common.js';
import { loadConfig, type SettingName } from '../../config/config.js';
import { AdminAuthError, AdminClient, AdminHttpError, AdminUnavailableError } from '../../ops/client.js';
import { formatMs, type Health } from '../../ops/health.js';
import type { TraceRecord } from '../../watch/trace.js';

const ADMIN_SETTINGS: readonly SettingName[] = ['adminHost', 'adminPort', 'adminToken'];

/** Exit codes of `health`: nagios-style. */
export const HEALTH_EXIT = { ok: 0, warning: 1, error: 2 } as const;

function clientFrom(opts: Record<string, unknown>, timeoutMs?: number): AdminClient {
  const c = loadConfig(opts, process.env, ADMIN_SETTINGS);
  return new AdminClient({ host: c.adminHost, port: c.adminPort, token: c.adminToken || undefined, timeoutMs });
}

/** Client failures as one line and an exit code. */
async function talk<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AdminUnavailableError) throw new CliError(err.message, EXIT.unavailable);
    if (err instanceof AdminAuthError) throw new CliError(err.message, EXIT.failure);
    if (err instanceof AdminHttpError) {
      const msg = (err.body as { message?: string } | null)?.message ?? err.message;
      throw new CliError(msg, err.status === 404 || err.status === 400 ? EXIT.usage : EXIT.failure);
    }
    throw err;
  }
}

function adminCommand(name: string, description: string): Command {
  const cmd = new Command(name).description(description);
  addSettings(cmd, ADMIN_SETTINGS);
  return cmd;
}

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');
const json = (v: unknown) => out(JSON.stringify(v, null, 2));
const time = (iso: string | null | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');
const ago = (iso: string | null | undefined) => (iso ? `${formatMs(Math.max(0, Date.now() - Date.parse(iso)))} ago` : 'never');
const num = (n: number) => n.toLocaleString('en-US');

// ------------------------------------------------------------------ status

interface StatusBody {
  pid: number;
  node: string;
  uptimeMs: number;
  config: Record<string, unknown>;
  admin: { host?: string; port?: number; auth: string };
  processors: { name: string; version: number; settle: { policy: string; quietMs?: number }; tables: string[] }[];
  queues: Record<string, { running: number; queued: number }>;
  hintsPending: number;
  commitPendingUnits: number;
  rescanning: boolean;
  lastRescan: { at: string; durationMs: number; files: number; hinted: number } | null;
  watcher: { state: string; reason?: string; events: number; errors: number; watchedDirs: number };
  committer: { transactions: number; units: number; rows: number; lastCommitAt: string | null; lastDurationMs: number };
  counters: Record<string, number>;
  filesSeen: number;
  eventLoopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
}

export function renderStatus(s: StatusBody): string {
  const lines: string[] = [];
  lines.push(`daemon pid ${s.pid}, up ${formatMs(s.uptimeMs)} (node ${s.node}); admin ${s.admin.host}:${s.admin.port} (auth: ${s.admin.auth})`);
  lines.push(`root ${s.config.root}`);
  lines.push(`db   ${s.config.db}`);
  const t = new Table({ head: ['processor', 'version', 'settle', 'running', 'queued', 'tables'], style: { head: [], border: [] } });
  for (const p of s.processors) {
    const q = s.queues[p.name] ?? { running: 0, queued: 0 };
    t.push([p.name, p.version, p.settle.policy === 'settle' ? `settle ${p.settle.quietMs} ms` : 'live', q.running, q.queued, p.tables.join(', ')]);
  }
  lines.push(t.toString());
  lines.push(`hints pending ${s.hintsPending}; units staged for commit ${s.commitPendingUnits}; files seen ${num(s.filesSeen)}`);
  lines.push(
    `watcher ${s.watcher.state}${s.watcher.reason ? ` (${s.watcher.reason})` : ''}: ${num(s.watcher.events)} events, ${s.watcher.errors} errors, ${s.watcher.watchedDirs} directories watched`,
  );
  lines.push(
    s.lastRescan
      ? `last rescan ${ago(s.lastRescan.at)} in ${formatMs(s.lastRescan.durationMs)}: ${num(s.lastRescan.files)} files, ${num(s.lastRescan.hinted)} hinted${s.rescanning ? ' (one running now)' : ''}`
      : 'initial scan running',
  );
  const c = s.committer;
  lines.push(`commits ${num(c.transactions)} transactions, ${num(c.units)} units, ${num(c.rows)} rows; last ${ago(c.lastCommitAt)} (${c.lastDurationMs} ms)`);
  lines.push(`event loop delay p50 ${s.eventLoopDelay.p50Ms} ms, p99 ${s.eventLoopDelay.p99Ms} ms, max ${s.eventLoopDelay.maxMs} ms`);
  const cfg = new Table({ head: ['setting', 'value'], style: { head: [], border: [] } });
  for (const [k, v] of Object.entries(s.config)) cfg.push([k, Array.isArray(v) ? v.join(',') : String(v === '' ? '' : v)]);
  lines.push('config:', cfg.toString());
  return lines.join('\n') + '\n';
}

function statusCommand(): Command {
  const cmd = adminCommand('status', "show a running daemon's config (secrets masked), processors, queues and uptime").option('--json', 'print the raw JSON');
  cmd.action((opts) =>
    guard(async () => {
      const client = clientFrom(opts, 10_000);
      const { body } = await talk(() => client.call<StatusBody>('GET', '/status'));
      if (opts.json) json(body);
      else out(renderStatus(body));
    }),
  );
  return cmd;
}

// ------------------------------------------------------------------ health

export function renderHealth(h: Health): string {
  // A daemon with a token answers an unauthenticated /health with the status only.
  if (!h.processors) return `health: ${h.status.toUpperCase()} (details need the admin token: SESSION_PIPELINE_ADMIN_TOKEN or --admin-token)\n`;
  const lines: string[] = [`health: ${h.status.toUpperCase()}${h.initialScan === 'running' ? ' (initial scan running)' : ''}`];
  for (const r of h.reasons) lines.push(`  - ${r}`);
  const t = new Table({
    head: ['processor', 'status', 'lag bytes', 'lag files', 'oldest pending', 'fifo', 'retrying', 'quarantined', 'last commit'],
    style: { head: [], border: [] },
  });
  for (const [name, p] of Object.entries(h.processors)) {
    const o = p.oldestPending;
    t.push([
      name,
      p.status,
      num(p.lagBytes),
      num(p.lagFiles),
      o ? `${formatMs(o.ageMs)} ${o.sessionFile}` : '-',
      p.fifo,
      p.retrying,
      p.quarantined,
      ago(p.lastCommitAt),
    ]);
  }
  lines.push(t.toString());
  lines.push(
    `watcher ${h.watcher.status}${h.watcher.reason ? ` (${h.watcher.reason})` : ''}; last rescan ${ago(h.rescan.lastAt)}` +
      (h.rescan.durationMs !== null ? ` in ${formatMs(h.rescan.durationMs)}` : '') +
      `; last commit ${ago(h.commits.lastAt)}`,
  );
  return lines.join('\n') + '\n';
}

function healthCommand(): Command {
  const cmd = adminCommand('health', 'ok / warning / error of a running daemon: lag, stuck files, quarantine, watcher (exit 0 ok, 1 warning, 2 error)').option(
    '--json',
    'print the raw JSON',
  );
  cmd.action((opts) =>
    guard(async () => {
      const client = clientFrom(opts, 10_000);
      const { body } = await talk(() => client.call<Health>('GET', '/health', undefined, [503]));
      if (opts.json) json(body);
      else out(renderHealth(body));
      return HEALTH_EXIT[body.status] ?? EXIT.failure;
    }),
  );
  return cmd;
}

// ------------------------------------------------------------------ trace

interface TraceBody {
  sessionFile: string;
  /** Whether the file is on disk under the root (daemons before this field: absent). */
  exists?: boolean;
  seen: { size: number; mtimeMs: number } | null;
  checkpoints: (Record<string, unknown> & { processor: string; status: string })[];
  records: TraceRecord[];
}

const DETAIL_SKIP = new Set(['at', 'traceId', 'sessionFile', 'stage', 'elapsedMs', 'processor']);

export function renderRecord(r: TraceRecord): string {
  const detail = Object.entries(r)
    .filter(([k, v]) => !DETAIL_SKIP.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  const at = r.at.slice(11, 23);
  return `${at}  ${r.traceId.padEnd(14)} +${String(r.elapsedMs).padStart(6)} ms  ${r.stage.padEnd(11)} ${(r.processor ?? '').padEnd(8)} ${detail}`.trimEnd();
}

export function renderCheckpoints(b: Pick<TraceBody, 'sessionFile' | 'seen' | 'checkpoints'>): string {
  const lines = [
    `${b.sessionFile}: ${b.seen ? `last seen ${num(b.seen.size)} bytes, mtime ${new Date(b.seen.mtimeMs).toISOString()}` : 'not seen by this daemon (missing, or not scanned yet)'}`,
  ];
  const t = new Table({ head: ['processor', 'status', 'offset', 'size', 'lines', 'items', 'attempts', 'processed at', 'last error'], style: { head: [], border: [] } });
  for (const c of b.checkpoints) {
    if (c.status === 'none') {
      t.push([c.processor, 'no checkpoint', '-', '-', '-', '-', '-', '-', '']);
      continue;
    }
    t.push([
      c.processor,
      c.status,
      num(Number(c.offset)),
      Number(c.size) < 0 ? 'partial' : num(Number(c.size)),
      num(Number(c.linesProcessed)),
      num(Number(c.itemsProcessed)),
      String(c.attempts),
      time(c.processedAt as string | null),
      String(c.lastError ?? '').slice(0, 80),
    ]);
  }
  lines.push('committed state:', t.toString());
  return lines.join('\n') + '\n';
}

function traceCommand(): Command {
  const cmd = adminCommand('trace', "a session file's recent journey through a running daemon, and its committed state per processor")
    .argument('<sessionFile>', 'owner/session.jsonl (relative to the root), or an absolute path under the root')
    .option('-f, --follow', 'keep printing new records (server-sent events) until Ctrl-C')
    .option('--json', 'print JSON (with --follow: one JSON object per event)');
  cmd.action((arg: string, opts) =>
    guard(async () => {
      const client = clientFrom(opts, 10_000);
      const file = traceTarget(arg);
      const urlPath = `/trace/${file.split('/').map(encodeURIComponent).join('/')}`;
      if (!opts.follow) {
        const { body } = await talk(() => client.call<TraceBody>('GET', urlPath));
        if (opts.json) json(body);
        else {
          out(renderCheckpoints(body));
          out(body.records.length ? `journey (${body.records.length} most recent records):` : 'journey: no records yet (the daemon has not seen this file change since it started)');
          for (const r of body.records) out(renderRecord(r));
        }
        const known = body.seen !== null || body.checkpoints.some((c) => c.status !== 'none');
        if (body.exists === false || (body.exists === undefined && !known)) {
          throw new CliError(`${body.sessionFile}: no such session file under the root`, EXIT.failure);
        }
        return;
      }
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      process.once('SIGTERM', () => ac.abort());
      let printedHeader = false;
      await talk(() =>
        client.stream(
          `${urlPath}?follow=1`,
          (event, data) => {
            if (opts.json) return out(JSON.stringify({ event, data }));
            if (event === 'checkpoints') {
              out(renderCheckpoints(data as TraceBody));
              if (!printedHeader) out('journey (following; Ctrl-C to stop):');
              printedHeader = true;
            } else if (event === 'record') out(renderRecord(data as TraceRecord));
          },
          ac.signal,
        ),
      );
      if (!ac.signal.aborted) throw new CliError('the daemon closed the stream (stopping?)', EXIT.unavailable);
    }),
  );
  return cmd;
}

/**
 * What to ask the daemon about: a path that exists from here (relative to the working
 * directory, e.g. `x.jsonl` inside an owner's directory) as its absolute path, which the
 * daemon maps under its root; anything else as a session key (`owner/x.jsonl`).
 */
export function traceTarget(arg: string, cwd = process.cwd()): string {
  if (path.isAbsolute(arg)) return arg;
  const abs = path.resolve(cwd, arg);
  return fs.existsSync(abs) ? abs : arg;
}

// ------------------------------------------------------------------ requeue

interface RequeueBody {
  requeued: { processor: string; sessionFile: string; was: string; attempts: number }[];
  failed: { processor: string; sessionFile: string; error: string }[];
  count: number;
}

function requeueCommand(): Command {
  const cmd = adminCommand('requeue', 'reset quarantined (and backing-off) files and process them again')
    .option('--processor <name>', 'only this processor')
    .option('--file <sessionFile>', 'only this session file (owner/session.jsonl)')
    .option('--all', 'every quarantined file of every processor')
    .option('--json', 'print the raw JSON');
  cmd.action((opts) =>
    guard(async () => {
      if (!opts.processor && !opts.file && !opts.all) {
        throw new CliError('requeue needs --processor, --file or --all', EXIT.usage);
      }
      const client = clientFrom(opts, 60_000);
      const { body } = await talk(() =>
        client.call<RequeueBody>('POST', '/quarantine/requeue', { processor: opts.processor, file: opts.file, all: opts.all === true }, [500]),
      );
      if (opts.json) json(body);
      else {
        if (body.count === 0 && body.failed.length === 0) out('nothing to requeue (no quarantined file matches)');
        for (const r of body.requeued) out(`requeued ${r.processor} ${r.sessionFile} (was ${r.was}, ${r.attempts} attempts)`);
        for (const f of body.failed) out(`FAILED ${f.processor} ${f.sessionFile}: ${f.error}`);
      }
      return body.failed.length ? EXIT.failure : EXIT.ok;
    }),
  );
  return cmd;
}

// ------------------------------------------------------------------ rescan

interface RunBody {
  processor: string;
  rescan: { files: number; hinted: number; durationMs: number };
  drained: boolean;
  waitedMs: number;
}

function rescanCommand(): Command {
  const cmd = adminCommand('rescan', 'rescan now and wait until the work it finds is committed')
    .option('--processor <name>', 'wait for this processor (409 if a run of it is already in flight)')
    .option('--timeout-ms <ms>', 'stop waiting after this long (the work goes on)', '60000')
    .option('--json', 'print the raw JSON');
  cmd.action((opts) =>
    guard(async () => {
      // Not Number(): it takes '' as 0, which meant "do not wait".
      const raw = String(opts.timeoutMs).trim();
      const timeoutMs = /^\d+$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(timeoutMs)) {
        throw new CliError(`invalid --timeout-ms ${JSON.stringify(opts.timeoutMs)}: must be a whole number of milliseconds, 0 or more`, EXIT.usage);
      }
      const client = clientFrom(opts, timeoutMs + 15_000);
      const path = opts.processor ? `/processors/${encodeURIComponent(opts.processor)}/run` : '/rescan';
      const { body } = await talk(() => client.call<RunBody>('POST', path, { timeoutMs }));
      if (opts.json) return void json(body);
      out(
        `rescan (${body.processor}): ${num(body.rescan.files)} files in ${formatMs(body.rescan.durationMs)}, ${num(body.rescan.hinted)} changed; ` +
          (body.drained ? `done in ${formatMs(body.waitedMs)}` : `still processing after ${formatMs(body.waitedMs)} (it goes on in the daemon)`),
      );
    }),
  );
  return cmd;
}

export function opsCommands(): Command[] {
  return [statusCommand(), healthCommand(), traceCommand(), requeueCommand(), rescanCommand()];
}
