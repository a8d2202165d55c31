/**
 * Reading the data through the running daemon: the daemon holds DuckDB's
 * single-writer lock, so while it runs every read command comes here.
 *
 *   GET  /reports                  {db, reports: [{name, description, formats, json, params}]}
 *   GET  /reports/:name?<params>   the report's JSON result (what `report <name> --json` prints);
 *                                  a notice, if any, in the `x-session-pipeline-notice` header
 *   POST /sql {sql, maxRows?, timeoutMs?}   {"columns": [...], "rows": [...]}; 400 refused, 422 limit or failure
 *   GET  /export?relations=a,b     NDJSON: {relation, columns}, {rows}, ..., {end, rows} per relation
 *
 * The reports are whatever the daemon's processors declare (`Processor.reports`):
 * no report logic lives here. Each read runs on its own connection in a read-only
 * transaction (`withSnapshot`), at most two at a time, so it never queues behind
 * a commit, nor a commit behind it. Large bodies go out in slices with a turn
 * of the event loop between them, so `/health` keeps answering.
 *
 * These routes are registered on the admin app, behind the same hooks as the
 * other endpoints (the token when one is set; the audit log for POST).
 */
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { describeReport, reportRegistry, resolveParams, ReportParamError } from '../pipeline/report.js';
import { ReadAbortedError, ReadGate, ReadLimitError, withSnapshot, type ReadOptions, type ReadSnapshot } from '../state/read.js';
import { displayLocation, storeKindOf } from '../state/dialect.js';
import { runSql, SqlFailedError, SqlRefusedError, SQL_DEFAULTS, type SqlResult } from '../state/sql.js';
import { exportRows, presentRelations } from '../state/export-rows.js';
import type { AdminContext } from './admin.js';
import { NOTICE_HEADER } from './wire.js';

/** Reports are small aggregates: 30 s is generous, and stops a runaway one. */
const REPORT_TIMEOUT_MS = 30_000;
/** Bounds a client may ask for. */
const MAX_ROWS_CEILING = 10_000_000;
const MAX_TIMEOUT_MS = 10 * 60_000;

const yieldTurn = () => new Promise<void>((r) => setImmediate(r));

/**
 * Aborts when the client goes away before its answer is sent: a page navigated away or
 * refreshed. Its reads then leave the queue, or stop, instead of holding the two read slots
 * for a page that is gone (bench:dashboard: a page the commit event made refetch its view,
 * then left, kept the next view's reports waiting 150-400 ms).
 */
function abandonedBy(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  return ac.signal;
}

/** The answer to a client that went away: nobody reads it. */
const GONE = 499;

/** Write `text`, waiting for the socket to drain when its buffer is full. */
async function write(res: ServerResponse, text: string): Promise<void> {
  if (res.destroyed) throw new Error('client went away');
  if (!res.write(text)) {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        res.off('drain', done);
        res.off('close', closed);
        if (err) reject(err);
        else resolve();
      };
      const closed = () => done(new Error('client went away'));
      res.on('drain', done);
      res.on('close', closed);
    });
  }
}

/**
 * `JSON.stringify(value)` for a JSON result, with a turn of the event loop every 2,000
 * elements of a long array: one stringify of a 20,000-row report (5 MB) holds the
 * daemon's loop for tens of ms, and `/health` with it. Same text as JSON.stringify
 * for plain JSON data (undefined members left out, undefined elements as null).
 */
export async function stringifyInSlices(value: unknown): Promise<string> {
  if (Array.isArray(value) && value.length > 2000) {
    const parts: string[] = [];
    for (let i = 0; i < value.length; i += 2000) {
      parts.push(value.slice(i, i + 2000).map((v) => JSON.stringify(v) ?? 'null').join(','));
      await yieldTurn();
    }
    return `[${parts.join(',')}]`;
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.values(value).some((v) => Array.isArray(v) && v.length > 2000)) {
    const members: string[] = [];
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined || typeof v === 'function') continue;
      members.push(`${JSON.stringify(k)}:${await stringifyInSlices(v)}`);
    }
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

const clamp = (v: unknown, dflt: number, max: number, name: string): number => {
  if (v === undefined || v === null) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ReportParamError(`invalid ${name} ${JSON.stringify(v)}: expected a whole number >= 0`);
  // Said, not silently lowered: a caller asking for 20 minutes must not see a query stopped at 10.
  if (n > max) throw new ReportParamError(`${name} must be <= ${max} (this daemon's ceiling); 0 means the ceiling`);
  return n === 0 ? max : n;
};

export const readRoutes =
  (ctx: AdminContext): FastifyPluginAsync =>
  async (app) => {
    const { pipeline } = ctx.daemon;
    const reports = reportRegistry(pipeline.processors);
    const gate = new ReadGate(2);
    /** A read for the client of `res`: its turn at the gate, then a snapshot; dropped if the client goes away first. */
    const readFor = <T>(res: ServerResponse, opts: Omit<ReadOptions, 'signal'>, fn: (s: ReadSnapshot) => Promise<T>): Promise<T> => {
      const signal = abandonedBy(res);
      return gate.run(() => withSnapshot(pipeline.db, { ...opts, signal }, fn), signal);
    };

    const badRequest = (reply: FastifyReply, err: Error, error = 'bad-request') => reply.code(400).send({ error, message: err.message });

    app.get('/reports', async () => ({
      db: ctx.config.db === ':memory:' ? ':memory:' : storeKindOf(ctx.config.db) === 'postgres' ? displayLocation(ctx.config.db) : path.resolve(ctx.config.db),
      reports: [...reports.values()].map(describeReport),
    }));

    app.get<{ Params: { name: string }; Querystring: Record<string, string> }>('/reports/:name', async (req, reply) => {
      const def = reports.get(req.params.name);
      if (!def) {
        return reply.code(404).send({ error: 'not-found', message: `unknown report "${req.params.name}" (this daemon has: ${[...reports.keys()].join(', ') || 'none'})` });
      }
      let params;
      try {
        params = resolveParams(def, req.query ?? {});
      } catch (err) {
        if (err instanceof ReportParamError) return badRequest(reply, err);
        throw err;
      }
      try {
        const out = await readFor(reply.raw, { timeoutMs: REPORT_TIMEOUT_MS, limitName: 'the report time limit' }, (s) => def.run(s, params));
        if (out.notice) reply.header(NOTICE_HEADER, out.notice);
        return reply.header('content-type', 'application/json; charset=utf-8').send(await stringifyInSlices(out.result));
      } catch (err) {
        if (err instanceof ReadLimitError) return reply.code(422).send({ error: 'limit', message: err.message });
        if (err instanceof ReadAbortedError) return reply.code(GONE).send({ error: 'gone', message: err.message });
        throw err;
      }
    });

    app.post('/sql', async (req, reply) => {
      const body = (req.body ?? {}) as { sql?: unknown; maxRows?: unknown; timeoutMs?: unknown };
      if (typeof body.sql !== 'string' || body.sql.trim() === '') {
        return reply.code(400).send({ error: 'bad-request', message: 'give the query as {"sql": "SELECT ..."}' });
      }
      let maxRows: number;
      let timeoutMs: number;
      try {
        maxRows = clamp(body.maxRows, SQL_DEFAULTS.maxRows, MAX_ROWS_CEILING, 'maxRows');
        timeoutMs = clamp(body.timeoutMs, SQL_DEFAULTS.timeoutMs, MAX_TIMEOUT_MS, 'timeoutMs');
      } catch (err) {
        return badRequest(reply, err as Error);
      }
      const text = body.sql;
      req.auditTarget = JSON.stringify({ sql: text.slice(0, 400) });
      let result: SqlResult;
      try {
        result = await readFor(reply.raw, { timeoutMs, limitName: '--timeout-ms' }, (s) => runSql(s, text, { maxRows }));
      } catch (err) {
        if (err instanceof SqlRefusedError) return badRequest(reply, err, 'refused');
        if (err instanceof ReadLimitError) return reply.code(422).send({ error: 'limit', message: err.message });
        if (err instanceof SqlFailedError) return reply.code(422).send({ error: 'query-failed', message: err.message });
        if (err instanceof ReadAbortedError) return reply.code(GONE).send({ error: 'gone', message: err.message });
        throw err;
      }
      req.auditDetail = `${result.rows.length} rows`;
      return reply.header('content-type', 'application/json; charset=utf-8').send(await stringifyInSlices(result));
    });

    app.get<{ Querystring: { relations?: string } }>('/export', async (req, reply) => {
      const wanted = (req.query.relations ?? '').split(',').filter(Boolean);
      if (wanted.length === 0) return reply.code(400).send({ error: 'bad-request', message: 'give ?relations=a,b' });
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8' });
      try {
        await readFor(res, { timeoutMs: MAX_TIMEOUT_MS, limitName: 'the export time limit' }, async (s) => {
          const relations = await presentRelations(s, wanted);
          await exportRows(s, relations, async (e) => {
            await write(res, JSON.stringify(e) + '\n');
            await yieldTurn();
          });
        });
        res.end();
      } catch (err) {
        // Headers are gone: the error travels as the stream's last line.
        if (!res.destroyed) res.end(JSON.stringify({ error: (err as Error).message.split('\n')[0] }) + '\n');
      }
    });
  };
