/**
 * The admin API: a fastify server inside the daemon, sharing its pino logger.
 *
 *   GET  /health                     ok / warning / error, lag, watcher, rescans
 *   GET  /status                     config (secrets masked), processors, queues, uptime
 *   GET  /metrics                    Prometheus text
 *   POST /processors/:name/run       rescan now and wait for that processor (409 while one runs)
 *   POST /rescan                     rescan now for every processor (409 while one runs)
 *   GET  /quarantine                 quarantined and retrying (processor, file) pairs
 *   POST /quarantine/requeue         {processor?, file?, all?}: reset attempts, process again
 *   GET  /trace/<sessionFile>        recent journey + committed state; ?follow=1 for SSE
 *   GET  /audit                      latest audit rows
 *   GET  /reports, /reports/:name, POST /sql, GET /export   reading the data live (read-routes.ts)
 *   GET  /, /assets/*, /dashboard/events                   the web dashboard (dashboard.ts)
 *
 * Every request passes the gate first (`./guard.ts`: Host, Origin, JSON
 * bodies, the token, a rate limit on failed token checks); routes added to
 * this app get it without doing anything. Without a token the server binds
 * to loopback only (see `checkAdminBind`); with one, an unauthenticated
 * `GET /health` answers the status only. Every mutating call that passed the
 * gate is written to `audit_log` before the response is sent; refused ones
 * are counted (`session_pipeline_admin_refused_total`), never stored.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { openEventStream } from './event-stream.js';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Daemon } from '../watch/daemon.js';
import { hint } from '../watch/hint.js';
import type { TraceRecord } from '../watch/trace.js';
import { ConfigError, maskedConfig, type Config } from '../config/config.js';
import { toSessionKey, parseSessionPath } from '../discover/session-path.js';
import type { Checkpoint } from '../state/checkpoint.js';
import { AuditLog, resultOf } from './audit.js';
import type { OpsMonitor } from './monitor.js';
import type { Metrics } from './metrics.js';
import { runFault } from './faults.js';
import { readRoutes } from './read-routes.js';
import fastifyCookie from '@fastify/cookie';
import { dashboardRoutes } from './dashboard.js';
import { FailureLimiter, installAdminGuard, isMutating } from './guard.js';
import { Counter } from 'prom-client';
import { ACTOR_HEADER, isLoopback } from './wire.js';

declare module 'fastify' {
  interface FastifyRequest {
    auditTarget?: string;
    auditDetail?: string;
  }
}

export interface AdminContext {
  daemon: Daemon;
  monitor: OpsMonitor;
  metrics: Metrics;
  audit: AuditLog;
  config: Config;
  log: Logger;
  /** Filled in once listening. */
  address?: { host: string; port: number };
}

// ------------------------------------------------------------------ binding rules

/** Preflight: binding beyond loopback needs a token; the daemon refuses to start otherwise. */
export function checkAdminBind(config: Config): void {
  if (!isLoopback(config.adminHost) && !config.adminToken) {
    throw new ConfigError(
      `refusing to bind the admin API to ${config.adminHost} without a token: set SESSION_PIPELINE_ADMIN_TOKEN (--admin-token), or bind to 127.0.0.1`,
    );
  }
}

export function tokenMatches(given: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

/** The call's parameters for the audit log when no handler described them (e.g. refused calls). */
function targetOf(req: FastifyRequest): string | null {
  const params = (req.params ?? {}) as Record<string, unknown>;
  if (Object.keys(params).length > 0) return JSON.stringify(params).slice(0, 500);
  return req.routeOptions.url ? null : req.url.split('?')[0].slice(0, 500);
}

// ------------------------------------------------------------------ helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until nothing is hinted, scanned, queued or running (for one processor, or all). */
export async function waitDrained(daemon: Daemon, processor: string | null, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  for (;;) {
    const s = daemon.status();
    const qs = processor ? [s.queues[processor]] : Object.values(s.queues);
    const idle = !s.rescanning && s.hintsPending === 0 && qs.every((q) => !q || (q.running === 0 && q.queued === 0));
    quiet = idle ? quiet + 1 : 0;
    if (quiet >= 2) return true;
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
}

/** A session key from a URL parameter: `owner/x.jsonl`, or an absolute path under the root. */
export function sessionKeyFrom(root: string, raw: string): string | null {
  const keyOf = (rel: string) => {
    const key = toSessionKey(rel);
    return key && parseSessionPath(key) ? key : null;
  };
  if (!path.isAbsolute(raw)) return keyOf(raw);
  const direct = keyOf(path.relative(root, raw));
  if (direct) return direct;
  // A path from a shell's cwd has symlinks resolved (~/.claude may be a link); the root may not.
  try {
    return keyOf(path.relative(fs.realpathSync(root), raw));
  } catch {
    return null;
  }
}

function publicCheckpoint(cp: Checkpoint) {
  return {
    processor: cp.processorName,
    offset: cp.offset,
    size: cp.size,
    mtimeMs: cp.mtimeMs,
    inode: cp.inode,
    linesProcessed: cp.linesProcessed,
    itemsProcessed: cp.itemsProcessed,
    badLines: cp.badLines,
    processorVersion: cp.processorVersion,
    processedAt: cp.processedAt === null ? null : new Date(cp.processedAt).toISOString(),
    status: cp.status,
    attempts: cp.attempts,
    lastError: cp.lastError,
    nextAttemptAt: cp.nextAttemptAt === null ? null : new Date(cp.nextAttemptAt).toISOString(),
  };
}

/**
 * The longest a run call may wait for its drain. A call holds a connection
 * for that long; past it the work goes on in the daemon (202) anyway.
 */
export const MAX_RUN_TIMEOUT_MS = 10 * 60_000;

/** `timeoutMs` of a run call, from the body or the query: absent -> the default; beyond the bound -> 400. */
const timeoutSchema = { type: 'integer', minimum: 0, maximum: MAX_RUN_TIMEOUT_MS } as const;
const runSchema = {
  body: { type: 'object', properties: { timeoutMs: timeoutSchema } },
  querystring: { type: 'object', properties: { timeoutMs: timeoutSchema, fault: { type: 'string' } } },
} as const;

/**
 * Receiving a whole request (headers and body) may take this long; a body
 * trickled a byte at a time is cut off (node checks every
 * `CONNECTIONS_CHECK_MS`). Only the request: a run waiting to drain, or a
 * trace stream, answers for as long as it needs.
 */
export const REQUEST_TIMEOUT_MS = 10_000;
const CONNECTIONS_CHECK_MS = 1_000;

// ------------------------------------------------------------------ routes

const healthRoutes =
  (ctx: AdminContext): FastifyPluginAsync =>
  async (app) => {
    app.get('/health', { config: { public: true } }, async (req, reply) => {
      const h = ctx.monitor.health();
      const code = h.status === 'error' ? 503 : 200;
      // Reasons and lag name session files: a probe without the token gets the status only.
      if (ctx.config.adminToken && req.authState !== 'token') return reply.code(code).send({ status: h.status });
      return reply.code(code).send(h);
    });

    app.get('/metrics', { config: { public: true } }, async (_req, reply) => {
      const text = await ctx.metrics.registry.metrics();
      return reply.header('content-type', ctx.metrics.registry.contentType).send(text);
    });

    app.get('/status', async () => {
      const d = ctx.daemon;
      const s = d.status();
      const c = d.pipeline.committer;
      return {
        pid: process.pid,
        node: process.version,
        startedAt: new Date(d.startedAt).toISOString(),
        uptimeMs: Date.now() - d.startedAt,
        config: maskedConfig(ctx.config),
        admin: { ...ctx.address, auth: ctx.config.adminToken ? 'token' : 'none' },
        processors: d.pipeline.processors.map((p) => ({
          name: p.name,
          version: p.version,
          settle: p.settleMs ? { policy: 'settle', quietMs: p.settleMs } : { policy: 'live' },
          tables: p.tables.map((t) => t.name),
        })),
        queues: s.queues,
        hintsPending: s.hintsPending,
        commitPendingUnits: c.pendingUnits,
        rescanning: s.rescanning,
        catchUp: s.catchUp,
        lastRescan: s.lastRescan ? { ...s.lastRescan, at: new Date(s.lastRescan.at).toISOString() } : null,
        // The backstop's current period (watch/backstop.ts): the configured one, or longer for a costly rescan.
        rescanPeriodMs: s.rescanPeriodMs,
        watcher: s.watcher,
        committer: { ...c.stats, intervalMs: Math.round(c.intervalMs), lastCommitAt: c.stats.lastCommitAt === null ? null : new Date(c.stats.lastCommitAt).toISOString() },
        counters: d.pipeline.counters,
        // A shared store: this node's leases (files held now, takes, take-overs, losses).
        ...(d.pipeline.leases ? { leases: { ...d.pipeline.leases.stats, store: undefined } } : {}),
        filesSeen: ctx.monitor.tracker.filesSeen,
        eventLoopDelay: ctx.monitor.eventLoop(),
        memory: { rssBytes: process.memoryUsage.rss() },
        stopping: s.stopping,
      };
    });
  };

const runRoutes =
  (ctx: AdminContext): FastifyPluginAsync =>
  async (app) => {
    const locks = new Set<string>();

    /** Non-blocking lock: 409 while held; released in `finally` whatever the run does. */
    const locked = async (key: string, reply: FastifyReply, what: string, fn: () => Promise<unknown>) => {
      if (locks.has(key)) {
        return reply.code(409).send({ error: 'conflict', message: `${what} is already in flight; try again when it is done` });
      }
      locks.add(key);
      try {
        return await fn();
      } finally {
        locks.delete(key);
      }
    };

    const run = async (req: FastifyRequest, reply: FastifyReply, processor: string | null) => {
      const body = (req.body ?? {}) as { timeoutMs?: number };
      const timeoutMs = body.timeoutMs ?? (req.query as { timeoutMs?: number })?.timeoutMs ?? 60_000;
      const fault = runFault(req.query);
      const t0 = Date.now();
      if (fault?.kind === 'throw') throw new Error('test fault: run failed (SESSION_PIPELINE_TEST_FAULTS)');
      const rescan = await ctx.daemon.runRescan('manual');
      if (fault?.kind === 'delay') await sleep(fault.ms);
      const drained = await waitDrained(ctx.daemon, processor, timeoutMs);
      const out = {
        processor: processor ?? 'all',
        rescan,
        drained,
        waitedMs: Date.now() - t0,
        lag: processor ? ctx.monitor.tracker.lag(processor) : undefined,
      };
      req.auditDetail = `files ${rescan.files}, hinted ${rescan.hinted}, drained ${drained}`;
      return reply.code(drained ? 200 : 202).send(out);
    };

    app.post<{ Params: { name: string } }>('/processors/:name/run', { schema: runSchema }, async (req, reply) => {
      const name = req.params.name;
      req.auditTarget = JSON.stringify({ processor: name });
      if (!ctx.daemon.pipeline.processors.some((p) => p.name === name)) {
        return reply.code(404).send({ error: 'not-found', message: `unknown processor "${name}"`, processors: ctx.daemon.pipeline.processors.map((p) => p.name) });
      }
      return locked(`processor:${name}`, reply, `a run of ${name}`, () => run(req, reply, name));
    });

    app.post('/rescan', { schema: runSchema }, async (req, reply) => {
      req.auditTarget = JSON.stringify({ processor: 'all' });
      return locked('rescan:all', reply, 'a full rescan', () => run(req, reply, null));
    });
  };

const quarantineRoutes =
  (ctx: AdminContext): FastifyPluginAsync =>
  async (app) => {
    const { pipeline } = ctx.daemon;

    app.get('/quarantine', async () => {
      const quarantined: unknown[] = [];
      const retrying: unknown[] = [];
      for (const p of pipeline.processors) {
        for (const cp of ctx.monitor.tracker.troubledCheckpoints(p.name)) {
          const row = {
            processor: cp.processorName,
            sessionFile: cp.sessionFile,
            attempts: cp.attempts,
            lastError: cp.lastError,
            offset: cp.offset,
            nextAttemptAt: cp.nextAttemptAt === null ? null : new Date(cp.nextAttemptAt).toISOString(),
          };
          (cp.status === 'quarantined' ? quarantined : retrying).push(row);
        }
      }
      return { quarantined, retrying };
    });

    app.post('/quarantine/requeue', async (req, reply) => {
      const body = (req.body ?? {}) as { processor?: unknown; file?: unknown; all?: unknown };
      const processor = typeof body.processor === 'string' && body.processor ? body.processor : undefined;
      const rawFile = typeof body.file === 'string' && body.file ? body.file : undefined;
      const all = body.all === true;
      req.auditTarget = JSON.stringify({ processor, file: rawFile, all: all || undefined });
      if (!processor && !rawFile && !all) {
        return reply.code(400).send({ error: 'bad-request', message: 'give a processor and/or a file, or all: true' });
      }
      if (processor && !pipeline.processors.some((p) => p.name === processor)) {
        return reply.code(404).send({ error: 'not-found', message: `unknown processor "${processor}"` });
      }
      const file = rawFile ? sessionKeyFrom(pipeline.root, rawFile) : undefined;
      if (rawFile && !file) return reply.code(400).send({ error: 'bad-request', message: `not a session file path: ${rawFile}` });

      const { requeued: done, failed: notDone } = await pipeline.checkpoints.requeue({
        processor,
        sessionFile: file ?? undefined,
        among: pipeline.processors.map((p) => p.name),
      });
      const requeued = done.map((cp) => ({ processor: cp.processorName, sessionFile: cp.sessionFile, was: cp.status, attempts: cp.attempts }));
      const failed = notDone.map(({ checkpoint: cp, error }) => ({ processor: cp.processorName, sessionFile: cp.sessionFile, error }));
      for (const cp of done) ctx.daemon.emitHint(hint(cp.sessionFile, 'manual', cp.processorName));
      req.auditDetail = `requeued ${requeued.length}${failed.length ? `, failed ${failed.length}` : ''}`;
      ctx.log.info({ requeued: requeued.length, failed: failed.length, processor, file, all }, 'requeue');
      return reply.code(failed.length ? 500 : 200).send({ requeued, failed, count: requeued.length });
    });
  };

const traceRoutes =
  (ctx: AdminContext, streams: Set<ServerResponse>): FastifyPluginAsync =>
  async (app) => {
    const { daemon } = ctx;
    const committedState = (file: string) =>
      daemon.pipeline.processors.map((p) => {
        const cp = daemon.pipeline.checkpoints.get(p.name, file);
        return cp ? publicCheckpoint(cp) : { processor: p.name, status: 'none' as const };
      });

    app.get<{ Params: { '*': string }; Querystring: { follow?: string } }>('/trace/*', async (req, reply) => {
      const file = sessionKeyFrom(daemon.pipeline.root, req.params['*'] ?? '');
      if (!file) return reply.code(400).send({ error: 'bad-request', message: `not a session file path: ${req.params['*']}` });
      const seen = daemon.fileStats.get(file) ?? null;
      const follow = req.query.follow === '1' || req.query.follow === 'true';
      if (!follow) {
        const target = daemon.pipeline.target(file);
        const exists = target !== null && fs.existsSync(target.absPath);
        return { sessionFile: file, exists, seen, checkpoints: committedState(file), records: daemon.trace.recent(file) };
      }
      // Server-sent events: the ring buffer first, then live records; checkpoints again after each commit.
      const onRecord = (r: TraceRecord) => {
        stream.send('record', r);
        if (r.stage === 'committed' || r.stage === 'error') {
          // The cache is updated right after the commit resolves.
          setImmediate(() => stream.send('checkpoints', { sessionFile: file, seen: daemon.fileStats.get(file) ?? null, checkpoints: committedState(file) }));
        }
      };
      let unfollow = () => {};
      const opened = openEventStream(reply, streams, 15_000, () => unfollow());
      if (!opened) return reply;
      const stream = opened;
      stream.send('checkpoints', { sessionFile: file, seen, checkpoints: committedState(file) });
      for (const r of daemon.trace.recent(file)) stream.send('record', r);
      unfollow = daemon.trace.follow(file, onRecord);
    });
  };

const auditRoutes =
  (ctx: AdminContext): FastifyPluginAsync =>
  async (app) => {
    app.get<{ Querystring: { limit?: string } }>('/audit', async (req) => {
      const limit = req.query.limit ? Number(req.query.limit) : 100;
      return { rows: await ctx.audit.recent(Number.isFinite(limit) ? limit : 100) };
    });
  };

// ------------------------------------------------------------------ server

function listeningPort(app: FastifyInstance): number | undefined {
  const addr = app.server.address();
  return typeof addr === 'object' && addr ? addr.port : undefined;
}

export interface AdminServer {
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function createAdminApp(ctx: AdminContext): Promise<AdminServer> {
  const streams = new Set<ServerResponse>();
  const app = Fastify({
    loggerInstance: ctx.log.child({ component: 'admin' }) as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    bodyLimit: 64 * 1024,
    requestTimeout: REQUEST_TIMEOUT_MS,
    http: { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: CONNECTIONS_CHECK_MS },
  });
  const token = ctx.config.adminToken;
  const refused = new Counter({
    name: 'session_pipeline_admin_refused_total',
    help: 'Admin API requests refused at the gate, by reason (host, origin, content-type, unauthorized, forbidden, rate-limited)',
    labelNames: ['reason'],
    registers: [ctx.metrics.registry],
  });
  // Before the gate: it reads the dashboard's token cookie (src/ops/dashboard.ts).
  await app.register(fastifyCookie);
  installAdminGuard(app, {
    bindHost: ctx.config.adminHost,
    port: () => ctx.address?.port ?? listeningPort(app),
    token,
    tokenMatches: (given) => tokenMatches(given, token),
    limiter: new FailureLimiter(),
    onRefused: (reason) => refused.inc({ reason }),
  });

  // Audit before the response goes out, so a caller that got its answer finds the row.
  // Only calls that passed the gate: a refused one is counted, never stored (it would fill the disk).
  app.addHook('onSend', async (req, reply, payload) => {
    if (!isMutating(req.method) || !req.guardPassed) return payload;
    const actor = req.headers[ACTOR_HEADER];
    let detail = req.auditDetail ?? null;
    if (!detail && reply.statusCode >= 400 && typeof payload === 'string') {
      try {
        detail = String((JSON.parse(payload) as { message?: unknown }).message ?? '').slice(0, 500) || null;
      } catch {
        detail = null;
      }
    }
    try {
      await ctx.audit.write({
        at: Date.now(),
        actor: typeof actor === 'string' && actor ? actor.slice(0, 200) : 'unknown',
        auth: req.authState ?? 'none',
        remote: req.ip ?? null,
        method: req.method,
        action: `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`,
        target: req.auditTarget ?? targetOf(req),
        status: reply.statusCode,
        result: resultOf(reply.statusCode),
        detail,
      });
    } catch (err) {
      ctx.log.error({ err: (err as Error).message }, 'could not write the audit log');
    }
    ctx.log.info({ method: req.method, url: req.url, status: reply.statusCode, actor }, 'admin call');
    return payload;
  });

  app.setErrorHandler(async (err: Error & { statusCode?: number }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) ctx.log.error({ err: err.message, url: req.url }, 'admin request failed');
    return reply.code(status).send({ error: status >= 500 ? 'internal' : 'bad-request', message: err.message });
  });

  app.addHook('preClose', async () => {
    for (const s of streams) s.end();
    streams.clear();
  });

  await app.register(healthRoutes(ctx));
  await app.register(runRoutes(ctx));
  await app.register(quarantineRoutes(ctx));
  await app.register(traceRoutes(ctx, streams));
  await app.register(auditRoutes(ctx));
  await app.register(readRoutes(ctx));
  await app.register(dashboardRoutes(ctx, streams));

  return {
    app,
    close: async () => {
      await app.close();
    },
  };
}
