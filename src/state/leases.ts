/**
 * Leases: which node may process a session file, when several daemons share
 * one PostgreSQL store (and one root). One row per session file (its stored
 * key) in `session_leases`, with the node holding it, a fencing token and an
 * expiry judged on the store's clock (`clock_timestamp()`), so the nodes'
 * clocks never matter.
 *
 * - take: an upsert that succeeds only when the row is free (released or
 *   expired) or already ours; a node that takes a file from another gets a new
 *   token from one sequence, so tokens only grow;
 * - renew: the holder's heartbeat pushes the expiry of the files it holds;
 * - release: a file whose run is done and has nothing pending is handed back
 *   (expiry = now), so the nodes divide the work file by file;
 * - fence: a commit locks the lease rows of its files (`FOR UPDATE`) and checks
 *   its tokens in the same transaction; a node taking the file over waits for
 *   that lock, so a commit can never land after another node took the file.
 *
 * PostgreSQL only: an embedded DuckDB store has one process, and no leases.
 */
import { createRequire } from 'node:module';
import type { Params } from './db.js';

/** What this module needs of a store: statements with `$n` parameters (inside a transaction when the caller is in one). */
export interface SqlRunner {
  all<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]>;
}

/**
 * A small pool of its own for take, renew and release: on the store's writer connection they
 * queued behind the commits, and a heartbeat waiting out a long commit let leases lapse under
 * a node that was alive. The fence still runs in the commit's own transaction.
 */
export function leaseConnection(url: string, node: string): SqlRunner & { close(): Promise<void> } {
  // Required here, on a shared store only: every embedded run paid ~110 ms CPU loading pg for nothing.
  const pg = createRequire(import.meta.url)('pg') as typeof import('pg');
  const pool = new pg.Pool({
    connectionString: url,
    max: 2,
    application_name: `session-pipeline leases ${node}`.slice(0, 63),
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
  });
  // A dropped idle connection emits here; the next statement gets a new one (or fails, and the caller retries).
  pool.on('error', () => undefined);
  return {
    all: async <T,>(sql: string, params?: Params) => (await pool.query(sql, params as unknown[] | undefined)).rows as T[],
    close: () => pool.end(),
  };
}

/** The lease tables, in PostgreSQL's dialect (core migration 4; a DuckDB store has none). */
export const LEASE_DDL: readonly string[] = [
  'CREATE SEQUENCE IF NOT EXISTS session_lease_tokens',
  `CREATE TABLE IF NOT EXISTS session_leases (
    session_file VARCHAR PRIMARY KEY,
    node VARCHAR NOT NULL,
    token BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    released_at TIMESTAMPTZ
  )`,
  'CREATE INDEX IF NOT EXISTS session_leases_node ON session_leases (node, expires_at)',
  // A node taking a file over reads its checkpoints, and every commit's fence their offsets, by
  // file: the primary key leads with the processor, so without this each was a scan of the table.
  'CREATE INDEX IF NOT EXISTS session_processor_state_file ON session_processor_state (session_file)',
];

/** `$n` milliseconds as an interval. */
const ms = (n: number) => `($${n}::bigint * interval '1 millisecond')`;
/** A JSON array parameter as a set of strings (a list of any length in one parameter, in both drivers). */
const fileSet = (n: number) => `(SELECT jsonb_array_elements_text($${n}::jsonb))`;

/** A lease taken: its token, who held the row before (null: nobody yet), and whether that holder's lease had lapsed unreleased. */
export interface TakenLease {
  token: number;
  from: string | null;
  lapsed: boolean;
}

/**
 * Take a file's lease for `node`, or keep it. The token stays the same while the same node
 * takes it again (released or lapsed, nobody else held it in between: nobody else committed),
 * and is new when the file comes from another node. Returns null while another node holds it.
 */
export async function takeLease(db: SqlRunner, file: string, node: string, ttlMs: number): Promise<TakenLease | null> {
  const rows = await db.all<{ token: string | number | bigint; from_node: string | null; lapsed: boolean | null }>(
    `WITH prev AS (
       SELECT node, released_at IS NULL AND expires_at <= clock_timestamp() AS lapsed FROM session_leases WHERE session_file = $1
     )
     INSERT INTO session_leases AS l (session_file, node, token, acquired_at, expires_at)
     VALUES ($1, $2, nextval('session_lease_tokens'), clock_timestamp(), clock_timestamp() + ${ms(3)})
     ON CONFLICT (session_file) DO UPDATE SET
       token = CASE WHEN l.node = EXCLUDED.node THEN l.token ELSE EXCLUDED.token END,
       acquired_at = CASE WHEN l.node = EXCLUDED.node THEN l.acquired_at ELSE EXCLUDED.acquired_at END,
       node = EXCLUDED.node,
       expires_at = EXCLUDED.expires_at,
       released_at = NULL
     WHERE l.node = EXCLUDED.node OR l.expires_at <= clock_timestamp()
     RETURNING token, (SELECT node FROM prev) AS from_node, (SELECT lapsed FROM prev) AS lapsed`,
    [file, node, ttlMs],
  );
  if (rows.length === 0) return null;
  const r = rows[0];
  return { token: Number(r.token), from: r.from_node ?? null, lapsed: r.lapsed === true };
}

/**
 * Push the expiry of the files this node holds under these tokens; returns the files still
 * held. A lease that lapsed while this node stalled, and that no other node took since (the
 * row still names this node and token), is renewed too: nobody can have committed the file
 * in between. One that another node took is not (its row names that node now).
 */
export async function renewLeases(db: SqlRunner, node: string, held: ReadonlyMap<string, number>, ttlMs: number): Promise<Set<string>> {
  if (held.size === 0) return new Set();
  const rows = await db.all<{ session_file: string }>(
    `UPDATE session_leases SET expires_at = clock_timestamp() + ${ms(2)}
     WHERE node = $1 AND released_at IS NULL
       AND (session_file, token) IN (SELECT x->>0, (x->>1)::bigint FROM jsonb_array_elements($3::jsonb) x)
     RETURNING session_file`,
    [node, ttlMs, JSON.stringify([...held].map(([f, t]) => [f, String(t)]))],
  );
  return new Set(rows.map((r) => r.session_file));
}

/** Hand a file back: free for any node at once. Only the holder's own token releases it. */
export async function releaseLease(db: SqlRunner, file: string, node: string, token: number): Promise<boolean> {
  const rows = await db.all(
    `UPDATE session_leases SET expires_at = clock_timestamp(), released_at = clock_timestamp()
     WHERE session_file = $1 AND node = $2 AND token = $3 AND released_at IS NULL RETURNING session_file`,
    [file, node, token],
  );
  return rows.length > 0;
}

/**
 * In a commit's transaction: lock the lease rows of `files` that `node` validly holds, and
 * return their tokens. A node taking one of them over waits until this transaction ends.
 */
export async function lockLeases(db: SqlRunner, files: readonly string[], node: string): Promise<Map<string, number>> {
  const rows = await db.all<{ session_file: string; token: string | number | bigint }>(
    `SELECT session_file, token FROM session_leases
     WHERE session_file IN ${fileSet(1)} AND node = $2 AND expires_at > clock_timestamp()
     ORDER BY session_file FOR UPDATE`,
    [JSON.stringify(files), node],
  );
  return new Map(rows.map((r) => [r.session_file, Number(r.token)]));
}

/** The committed offsets of `files` (stored keys), keyed `processor \0 file`: the checkpoint guard. */
export async function committedOffsets(db: SqlRunner, files: readonly string[]): Promise<Map<string, number>> {
  const rows = await db.all<{ processor_name: string; session_file: string; offset: string | number | bigint }>(
    `SELECT processor_name, session_file, "offset" FROM session_processor_state WHERE session_file IN ${fileSet(1)}`,
    [JSON.stringify(files)],
  );
  return new Map(rows.map((r) => [`${r.processor_name}\u0000${r.session_file}`, Number(r.offset)]));
}

/**
 * Lapse, now, the leases of this host's earlier processes that are gone. A node named by default
 * (`<hostname>:<pid>`) whose pid no longer runs on this host cannot renew: waiting out its TTL
 * (30 s) only stalls the files it had in flight when it was killed, and a `run --once` rerun
 * would skip them as "leased elsewhere" (the chaos test's restarted daemon did not catch up).
 * A wrong guess (a reused pid, a hostname shared by two machines) is safe: the fence refuses the
 * other node's commits on its old token, so at worst work is repeated. Returns the nodes lapsed.
 */
export async function lapseDeadLocalNodes(db: SqlRunner, host: string, alive: (pid: number) => boolean): Promise<string[]> {
  const prefix = `${host}:`;
  const rows = await db.all<{ node: string }>(
    `SELECT DISTINCT node FROM session_leases
     WHERE released_at IS NULL AND expires_at > clock_timestamp() AND starts_with(node, $1)`,
    [prefix],
  );
  const dead = rows
    .map((r) => r.node)
    .filter((n) => /^\d+$/.test(n.slice(prefix.length)) && !alive(Number(n.slice(prefix.length))));
  if (dead.length === 0) return [];
  await db.all(
    `UPDATE session_leases SET expires_at = clock_timestamp()
     WHERE released_at IS NULL AND node IN (${dead.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING node`,
    dead,
  );
  return dead;
}

/** Whether a pid runs on this host (EPERM: it runs, as another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Leases whose holder stopped renewing them without releasing them (a dead or stalled node), oldest
 * first; with `prefix`, only files whose stored key starts with it (one source's: another source's
 * dead laptops must not crowd out this one's files).
 */
export async function lapsedLeases(db: SqlRunner, limit = 1000, prefix = ''): Promise<{ sessionFile: string; node: string }[]> {
  const rows = await db.all<{ session_file: string; node: string }>(
    `SELECT session_file, node FROM session_leases
     WHERE expires_at <= clock_timestamp() AND released_at IS NULL AND starts_with(session_file, $2)
     ORDER BY expires_at LIMIT $1`,
    [limit, prefix],
  );
  return rows.map((r) => ({ sessionFile: r.session_file, node: r.node }));
}

export interface LeaseCounts {
  /** Valid leases held by this node. */
  held: number;
  /** Valid leases held by any node. */
  active: number;
  /** Lapsed: not renewed in time and not released (their node died or stalled; another takes them over). */
  expired: number;
  /** Rows in the table (released ones included). */
  total: number;
  /** Nodes holding a valid lease. */
  nodes: number;
}

export async function leaseCounts(db: SqlRunner, node: string): Promise<LeaseCounts> {
  const [r] = await db.all<Record<keyof LeaseCounts, string | number | bigint>>(
    `SELECT count(*) FILTER (WHERE node = $1 AND expires_at > clock_timestamp()) AS held,
            count(*) FILTER (WHERE expires_at > clock_timestamp()) AS active,
            count(*) FILTER (WHERE expires_at <= clock_timestamp() AND released_at IS NULL) AS expired,
            count(*) AS total,
            count(DISTINCT node) FILTER (WHERE expires_at > clock_timestamp()) AS nodes
     FROM session_leases`,
    [node],
  );
  return { held: Number(r.held), active: Number(r.active), expired: Number(r.expired), total: Number(r.total), nodes: Number(r.nodes) };
}
