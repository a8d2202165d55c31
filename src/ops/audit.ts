/**
 * The audit log: every mutating admin call (and every refused one) as one
 * row of `audit_log`: who, what, when, result. Writes go through `db.run`,
 * so they are serialised with the committer's transactions on the single
 * writer connection; reads use a separate reader connection.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Db } from '../state/db.js';
import { migrate, type Migration } from '../state/migrations.js';

export const OPS_COMPONENT = 'ops';

export const OPS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'admin API audit_log',
    up: [
      'CREATE SEQUENCE IF NOT EXISTS audit_log_id_seq',
      `CREATE TABLE IF NOT EXISTS audit_log (
        id BIGINT PRIMARY KEY DEFAULT nextval('audit_log_id_seq'),
        called_at TIMESTAMP NOT NULL,
        actor VARCHAR NOT NULL,
        auth VARCHAR NOT NULL,
        remote VARCHAR,
        method VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        target VARCHAR,
        status INTEGER NOT NULL,
        result VARCHAR NOT NULL,
        detail VARCHAR
      )`,
    ],
  },
];

export interface AuditEntry {
  at: number;
  /** Who says they are calling (the CLI sends user@host), or 'unknown'. */
  actor: string;
  /** 'token' (a valid token was presented), 'none' (no token configured), 'missing' / 'wrong'. */
  auth: string;
  remote: string | null;
  method: string;
  /** What: the route, e.g. `POST /quarantine/requeue`. */
  action: string;
  /** Parameters: processor, file, body (JSON). */
  target: string | null;
  status: number;
  /** ok / accepted / denied / conflict / not-found / bad-request / error */
  result: string;
  detail: string | null;
}

export interface AuditRow extends Omit<AuditEntry, 'at'> {
  id: number;
  at: string;
}

export function resultOf(status: number): string {
  if (status === 202) return 'accepted';
  if (status < 300) return 'ok';
  if (status === 401 || status === 403) return 'denied';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  if (status < 500) return 'bad-request';
  return 'error';
}

export class AuditLog {
  private constructor(
    private readonly db: Db,
    private readonly reader: DuckDBConnection,
  ) {}

  static async open(db: Db): Promise<AuditLog> {
    await migrate(db, OPS_COMPONENT, OPS_MIGRATIONS);
    return new AuditLog(db, await db.readerConnection());
  }

  write(e: AuditEntry): Promise<void> {
    return this.db.run(
      `INSERT INTO audit_log (called_at, actor, auth, remote, method, action, target, status, result, detail)
       VALUES (epoch_ms($1::BIGINT), $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [Math.round(e.at), e.actor, e.auth, e.remote, e.method, e.action, e.target, e.status, e.result, e.detail],
    );
  }

  /** Latest rows first. */
  async recent(limit = 100): Promise<AuditRow[]> {
    const reader = await this.reader.runAndReadAll(
      `SELECT id, strftime(called_at, '%Y-%m-%dT%H:%M:%S.%g') || 'Z' AS at, actor, auth, remote, method, action, target, status, result, detail
       FROM audit_log ORDER BY id DESC LIMIT $1`,
      [Math.max(1, Math.min(10_000, Math.trunc(limit)))],
    );
    return (reader.getRowObjectsJS() as Record<string, unknown>[]).map((r) => ({
      ...(r as unknown as AuditRow),
      id: Number(r.id),
      status: Number(r.status),
    }));
  }

  close(): void {
    this.reader.closeSync();
  }
}
