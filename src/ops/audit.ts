/**
 * The audit log: every mutating admin call (and every refused one) as one
 * row of `audit_log`: who, what, when, result. Writes (and the table's
 * migration, component `ops`) go through the committer, serialised with its
 * transactions on the single writer connection; reads run in read-only
 * snapshots beside it.
 */
import type { Db } from '../state/db.js';
import { MIGRATION_LOCK, statementsFor, type Migration } from '../state/migrations.js';
import type { Committer } from '../pipeline/commit.js';
import type { CellValue } from '../state/table.js';
import { UnitOfWork } from '../pipeline/unit.js';
import { tsFromEpochMs, tsText, type StoreKind } from '../state/dialect.js';

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

/** One audit row (its time as epoch ms in $1). */
export const auditInsertSql = (kind: StoreKind) => `INSERT INTO audit_log (called_at, actor, auth, remote, method, action, target, status, result, detail)
       VALUES (${tsFromEpochMs(kind, 'CAST($1 AS BIGINT)')}, $2, $3, $4, $5, $6, $7, $8, $9, $10)`;

/** The latest $1 rows, newest first, times as ISO 8601 in ms. */
export const auditRecentSql = (kind: StoreKind) =>
  `SELECT id, ${tsText(kind, 'called_at', 'iso')} || 'Z' AS at, actor, auth, remote, method, action, target, status, result, detail
       FROM audit_log ORDER BY id DESC LIMIT $1`;

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

const UNIT_KEY = { processor: 'ops', file: 'audit_log' };

/**
 * Writes go through the committer as statement-only units of work: they share
 * its transactions and never run on the writer connection outside them.
 * (`db.run` is not safe here: while the committer's transaction is open, the
 * Db treats every caller as re-entrant and would run the statement inside
 * that transaction.)
 */
export class AuditLog {
  private constructor(
    private readonly committer: Committer,
    private readonly db: Db,
  ) {}

  static async open(db: Db, committer: Committer): Promise<AuditLog> {
    {
      const rows = await db.snapshot({ timeoutMs: 0 }, (s) =>
        s.all<{ version: number }>('SELECT version FROM schema_version WHERE component = $1', [OPS_COMPONENT]),
      );
      const applied = new Set(rows.map((r) => Number(r.version)));
      const log = new AuditLog(committer, db);
      for (const m of [...OPS_MIGRATIONS].sort((a, b) => a.version - b.version)) {
        if (applied.has(m.version)) continue;
        // Several daemons may start at once on a shared store: they apply it one after the other
        // (PostgreSQL's migration lock), and the later ones find the version recorded.
        await log.apply([
          ...(db.kind === 'postgres' ? [{ sql: MIGRATION_LOCK, params: [] }] : []),
          ...statementsFor(m, db.kind).map((sql) => ({ sql, params: [] })),
          {
            sql: 'INSERT INTO schema_version (component, version, description) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
            params: [OPS_COMPONENT, m.version, m.description],
          },
        ]);
      }
      return log;
    }
  }

  private async apply(statements: { sql: string; params: CellValue[] }[]): Promise<void> {
    const unit = new UnitOfWork(UNIT_KEY.processor, UNIT_KEY.file, new Map());
    for (const st of statements) unit.run(st.sql, st.params);
    const { committed } = await this.committer.enqueue(unit);
    // The call's answer waits for this row: commit it now, not after the group interval.
    void this.committer.flush().catch(() => undefined); // the unit's own failure reaches `committed`
    try {
      await committed;
    } catch (err) {
      // A failed unit poisons its key for later units; audit rows are independent of each other.
      this.committer.clearPoison(unit.key);
      throw err;
    }
  }

  write(e: AuditEntry): Promise<void> {
    return this.apply([
      {
        sql: auditInsertSql(this.db.kind),
        params: [Math.round(e.at), e.actor, e.auth, e.remote, e.method, e.action, e.target, e.status, e.result, e.detail],
      },
    ]);
  }

  /** Latest rows first. */
  async recent(limit = 100): Promise<AuditRow[]> {
    const rows = await this.db.snapshot({ timeoutMs: 0 }, (s) =>
      s.all<Record<string, unknown>>(auditRecentSql(this.db.kind), [Math.max(1, Math.min(10_000, Math.trunc(limit)))]),
    );
    return rows.map((r) => ({
      ...(r as unknown as AuditRow),
      id: Number(r.id),
      status: Number(r.status),
    }));
  }

  close(): void {}
}
