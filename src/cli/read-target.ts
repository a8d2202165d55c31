/**
 * Where a read command reads: the running daemon, or the database file.
 *
 * A daemon holds DuckDB's single-writer lock (even a read-only open from
 * another process fails while it runs), so the CLI first asks the configured
 * admin address (`--admin-host/--admin-port/--admin-token`) whether a daemon
 * serves this database, and reads through it if so. Otherwise it opens the file
 * read-only: no file or directory is created, and a user who may only read the
 * file can read it. Both targets run the same report definitions, SQL checks
 * and export stream over a committed snapshot, so the output is the same bytes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CliError, EXIT } from './common.js';
import { loadConfig } from '../config/config.js';
import { AdminAuthError, AdminClient, AdminHttpError, AdminUnavailableError } from '../ops/client.js';
import { isLoopback, NOTICE_HEADER } from '../ops/wire.js';
import type { ReportDefinition, ReportOutput, ReportParams } from '../pipeline/report.js';
import { DatabaseLockedError, type Db } from '../state/db.js';
import { openStore } from '../state/open.js';
import { storeKindOf } from '../state/dialect.js';
import { withSnapshot } from '../state/read.js';
import { runSql, type SqlResult } from '../state/sql.js';
import { exportRows, presentRelations, type ExportEvent } from '../state/export-rows.js';

export const READ_SETTINGS = ['db', 'pgPoolMax', 'adminHost', 'adminPort', 'adminToken'] as const;

export interface SqlRequest {
  sql: string;
  maxRows: number;
  timeoutMs: number;
}

export interface ReadTarget {
  /** `daemon` (through the admin API) or `file` (the store opened read-only: a DuckDB file, or PostgreSQL). */
  readonly via: 'daemon' | 'file';
  report<R>(def: ReportDefinition<R>, params: ReportParams): Promise<ReportOutput<R>>;
  sql(req: SqlRequest): Promise<SqlResult>;
  export(relations: readonly string[], emit: (e: ExportEvent) => void | Promise<void>): Promise<void>;
  close(): Promise<void>;
}

class FileTarget implements ReadTarget {
  readonly via = 'file';
  constructor(private readonly db: Db) {}

  report<R>(def: ReportDefinition<R>, params: ReportParams): Promise<ReportOutput<R>> {
    return withSnapshot(this.db, { timeoutMs: 0 }, (s) => def.run(s, params));
  }

  sql(req: SqlRequest): Promise<SqlResult> {
    return withSnapshot(this.db, { timeoutMs: req.timeoutMs }, (s) => runSql(s, req.sql, { maxRows: req.maxRows }));
  }

  export(relations: readonly string[], emit: (e: ExportEvent) => void | Promise<void>): Promise<void> {
    return withSnapshot(this.db, { timeoutMs: 0 }, async (s) => exportRows(s, await presentRelations(s, relations), emit));
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/** The daemon's answers as CLI errors: 400/404 are the caller's input (exit 2), the rest failures. */
async function talk<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AdminUnavailableError) throw new CliError(err.message, EXIT.unavailable);
    if (err instanceof AdminAuthError) throw new CliError(err.message, EXIT.failure);
    if (err instanceof AdminHttpError) {
      const msg = (err.body as { message?: string } | null)?.message ?? err.message;
      throw new CliError(msg, err.status === 400 || err.status === 404 ? EXIT.usage : EXIT.failure);
    }
    throw err;
  }
}

class DaemonTarget implements ReadTarget {
  readonly via = 'daemon';
  constructor(private readonly client: AdminClient) {}

  async report<R>(def: ReportDefinition<R>, params: ReportParams): Promise<ReportOutput<R>> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
    const qs = q.toString();
    const { body, headers } = await talk(() => this.client.call<R>('GET', `/reports/${encodeURIComponent(def.name)}${qs ? `?${qs}` : ''}`));
    const notice = headers[NOTICE_HEADER];
    return { result: body, notice: typeof notice === 'string' ? notice : undefined };
  }

  async sql(req: SqlRequest): Promise<SqlResult> {
    const { body } = await talk(() => this.client.call<SqlResult>('POST', '/sql', req));
    return body;
  }

  async export(relations: readonly string[], emit: (e: ExportEvent) => void | Promise<void>): Promise<void> {
    await talk(() =>
      this.client.lines(`/export?relations=${encodeURIComponent(relations.join(','))}`, async (v) => {
        const e = v as ExportEvent | { error: string };
        if ('error' in e) throw new CliError(`the daemon stopped the export: ${e.error}`, EXIT.failure);
        await emit(e);
      }),
    );
  }

  async close(): Promise<void> {}
}

const realpath = (p: string) => {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
};

/**
 * The daemon at the configured admin address, if it serves this database. On loopback the
 * database paths must match (another daemon on this machine may hold another file); an
 * address off loopback was given on purpose and is used as is.
 */
async function findDaemon(client: AdminClient, adminHost: string, dbPath: string): Promise<boolean> {
  let body: { db?: string };
  try {
    body = (await client.call<{ db?: string }>('GET', '/reports')).body;
  } catch (err) {
    if (err instanceof AdminUnavailableError) return false;
    if (err instanceof AdminHttpError && err.status === 404) return false; // an older daemon, or not ours
    throw err;
  }
  if (!isLoopback(adminHost) && adminHost.trim() !== '0.0.0.0' && adminHost.trim() !== '::') return true;
  return typeof body?.db === 'string' && realpath(body.db) === realpath(dbPath);
}

/**
 * Open the read target for a command: the daemon if one serves the database, else the file read-only.
 * `timeoutMs` bounds each call to the daemon.
 */
export async function openReadTarget(opts: Record<string, unknown>, timeoutMs = 120_000): Promise<ReadTarget> {
  const config = loadConfig(opts, process.env, READ_SETTINGS);
  // PostgreSQL is a server: read it directly, daemon or not (there is no single-writer lock to get past).
  if (storeKindOf(config.db) === 'postgres') return new FileTarget(await openStore(config.db, { readOnly: true, pgPoolMax: config.pgPoolMax }));
  const client = new AdminClient({ host: config.adminHost, port: config.adminPort, token: config.adminToken || undefined, timeoutMs });
  let auth: AdminAuthError | null = null;
  try {
    if (await findDaemon(client, config.adminHost, config.db)) return new DaemonTarget(client);
  } catch (err) {
    // A daemon that wants a token we lack may or may not hold this file: try the file, and say so if locked.
    if (!(err instanceof AdminAuthError)) throw err;
    auth = err;
  }
  if (config.db !== ':memory:' && !fs.existsSync(config.db)) {
    throw new CliError(`no database at ${config.db} (run \`session-pipeline run --once\` first, or pass --db)`, EXIT.unavailable);
  }
  try {
    return new FileTarget(await openStore(config.db, { readOnly: true, externalAccess: false }));
  } catch (err) {
    if (err instanceof DatabaseLockedError) {
      const why = auth
        ? auth.message
        : `no daemon answers on ${client.host}:${config.adminPort} (set --admin-host/--admin-port/--admin-token to the daemon's)`;
      throw new CliError(`${err.message}\n  another process holds ${config.db}, and ${why}`, EXIT.locked);
    }
    throw err;
  }
}
