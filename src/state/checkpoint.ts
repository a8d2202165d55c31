/**
 * A checkpoint is one row of `session_processor_state`: how far one processor
 * got in one session file, and the evidence (size, mtime, inode,
 * fingerprints) needed to decide next time whether that prefix still stands.
 */
import type { Db } from './db.js';
import type { CellValue, OutputTable } from './table.js';
import { sessionKeys, type SessionKeys } from '../discover/session-path.js';
import { epochMsOf, type StoreKind } from './dialect.js';

const UNQUALIFIED = sessionKeys(null);

export type CheckpointStatus = 'ok' | 'retrying' | 'quarantined' | 'deleted';

export interface Checkpoint {
  processorName: string;
  sessionFile: string;
  owner: string;
  offset: number;
  headHash: string;
  tailHash: string;
  size: number;
  mtimeMs: number;
  /** The file's ctime as last seen (0: recorded before ctime was kept, so probed once). */
  ctimeMs: number;
  inode: number;
  linesProcessed: number;
  itemsProcessed: number;
  badLines: number;
  processorVersion: number;
  /** Epoch ms. */
  processedAt: number | null;
  status: CheckpointStatus;
  attempts: number;
  lastError: string | null;
  /** Epoch ms. */
  nextAttemptAt: number | null;
  carry: unknown;
}

/**
 * The state table, declared once: the committer loads it set-wise like any
 * output, and its DDL is derived from this (state/schema.ts). Column names are
 * part of the operator interface (they are queried by hand).
 */
export const CHECKPOINT_TABLE: OutputTable = {
  name: 'session_processor_state',
  columns: [
    { name: 'processor_name', type: 'VARCHAR' },
    { name: 'session_file', type: 'VARCHAR' },
    { name: 'owner', type: 'VARCHAR', notNull: true },
    { name: 'offset', type: 'BIGINT', notNull: true, default: '0' },
    { name: 'head_hash', type: 'VARCHAR', notNull: true, default: "''" },
    { name: 'tail_hash', type: 'VARCHAR', notNull: true, default: "''" },
    { name: 'size', type: 'BIGINT', notNull: true, default: '0' },
    { name: 'mtime_ms', type: 'DOUBLE', notNull: true, default: '0' },
    { name: 'ctime_ms', type: 'DOUBLE', default: '0' },
    { name: 'inode', type: 'BIGINT', notNull: true, default: '0' },
    { name: 'lines_processed', type: 'BIGINT', notNull: true, default: '0' },
    { name: 'items_processed', type: 'BIGINT', notNull: true, default: '0' },
    { name: 'bad_lines', type: 'BIGINT', notNull: true, default: '0' },
    { name: 'processor_version', type: 'INTEGER', notNull: true },
    { name: 'processed_at', type: 'TIMESTAMP' },
    { name: 'status', type: 'VARCHAR', notNull: true, default: "'ok'" },
    { name: 'attempts', type: 'INTEGER', notNull: true, default: '0' },
    { name: 'last_error', type: 'VARCHAR' },
    { name: 'next_attempt_at', type: 'TIMESTAMP' },
    { name: 'carry', type: 'VARCHAR' },
  ],
  key: ['processor_name', 'session_file'],
  // Every commit rewrites checkpoints of a table with a row per (processor, file): 150k rows
  // for 50k files. DELETE + INSERT narrowed by a hash column costs a third of ON CONFLICT here.
  replace: { hashColumn: 'key_hash' },
};

/**
 * Rows kept in session_bad_lines per (processor, file): the first ones, with their offsets.
 * The checkpoint's bad_lines counts them all. One row per bad line made a 2 MB file of 1M
 * lines of `x` cost 1.1 GB and minutes (3 processors x 1M rows through the appender).
 */
export const BAD_LINES_KEPT_PER_FILE = 100;

/** The bad-line journal: one row per skipped line, with its offset (committed with the checkpoint). */
export const BAD_LINES_TABLE: OutputTable = {
  name: 'session_bad_lines',
  columns: [
    { name: 'processor_name', type: 'VARCHAR' },
    { name: 'session_file', type: 'VARCHAR' },
    { name: 'offset', type: 'BIGINT' },
    { name: 'length', type: 'BIGINT', notNull: true },
    { name: 'kind', type: 'VARCHAR', notNull: true },
    { name: 'detail', type: 'VARCHAR' },
    { name: 'seen_at', type: 'TIMESTAMP', notNull: true, default: 'current_timestamp', generated: true },
  ],
  key: ['processor_name', 'session_file', 'offset'],
  onConflict: 'DO NOTHING',
};

/** A checkpoint's row; `keys` qualifies its (relative) session key for a shared store. */
export function checkpointRow(c: Checkpoint, keys: SessionKeys = UNQUALIFIED): CellValue[] {
  return [
    c.processorName,
    keys.stored(c.sessionFile),
    c.owner,
    c.offset,
    c.headHash,
    c.tailHash,
    c.size,
    c.mtimeMs,
    c.ctimeMs,
    c.inode,
    c.linesProcessed,
    c.itemsProcessed,
    c.badLines,
    c.processorVersion,
    c.processedAt,
    c.status,
    c.attempts,
    c.lastError,
    c.nextAttemptAt,
    c.carry === undefined ? null : JSON.stringify(c.carry),
  ];
}

interface RawRow {
  processor_name: string;
  session_file: string;
  owner: string;
  offset: bigint | number;
  head_hash: string;
  tail_hash: string;
  size: bigint | number;
  mtime_ms: number;
  ctime_ms: number | null;
  inode: bigint | number;
  lines_processed: bigint | number;
  items_processed: bigint | number;
  bad_lines: bigint | number;
  processor_version: number;
  processed_at_ms: number | null;
  status: CheckpointStatus;
  attempts: number;
  last_error: string | null;
  next_attempt_at_ms: number | null;
  carry: string | null;
}

/** Every checkpoint, timestamps as epoch ms. */
export const checkpointsSql = (kind: StoreKind) => `SELECT processor_name, session_file, owner, "offset", head_hash, tail_hash, size, mtime_ms, ctime_ms, inode,
  lines_processed, items_processed, bad_lines, processor_version, ${epochMsOf(kind, 'processed_at')} AS processed_at_ms, status,
  attempts, last_error, ${epochMsOf(kind, 'next_attempt_at')} AS next_attempt_at_ms, carry FROM session_processor_state`;

/**
 * One string instance per distinct value: a file's name, owner, status and fingerprints repeat
 * across its processors, and a carry's strings (a cwd, a version) across files. Each string
 * read from the store is a copy of its own: at 20k files the three processors' hashes alone
 * were 3 x 56 bytes a file, and the carries' cwd and version strings as much again.
 */
class Interner {
  private readonly seen = new Map<string, string>();
  of<S extends string | null>(s: S): S {
    if (s === null) return s;
    const v = this.seen.get(s);
    if (v !== undefined) return v as S;
    this.seen.set(s, s);
    return s;
  }
  /** JSON.parse with every string value interned. */
  readonly revive = (_key: string, v: unknown): unknown => (typeof v === 'string' ? this.of(v) : v);
}

function fromRaw(r: RawRow, intern: Interner, sessionFile: string): Checkpoint {
  return {
    processorName: intern.of(r.processor_name),
    sessionFile: intern.of(sessionFile),
    owner: intern.of(r.owner),
    offset: Number(r.offset),
    headHash: intern.of(r.head_hash),
    // Equal for every file of at most 4 KiB: keep one copy.
    tailHash: intern.of(r.tail_hash),
    size: Number(r.size),
    mtimeMs: Number(r.mtime_ms),
    ctimeMs: Number(r.ctime_ms ?? 0),
    inode: Number(r.inode),
    linesProcessed: Number(r.lines_processed),
    itemsProcessed: Number(r.items_processed),
    badLines: Number(r.bad_lines),
    processorVersion: Number(r.processor_version),
    processedAt: r.processed_at_ms == null ? null : Number(r.processed_at_ms),
    status: intern.of(r.status),
    attempts: Number(r.attempts),
    lastError: intern.of(r.last_error),
    nextAttemptAt: r.next_attempt_at_ms == null ? null : Number(r.next_attempt_at_ms),
    carry: r.carry == null ? undefined : JSON.parse(r.carry, intern.revive),
  };
}

/**
 * All checkpoints, keyed processor -> session file: one query per run, not per file. With
 * qualified `keys` (a shared store), only this source's, under their relative keys. Given a
 * `sink`, each checkpoint goes there as it is read instead (the daemon's cache), and the map
 * stays empty.
 */
export async function loadCheckpoints(
  db: Db,
  keys: SessionKeys = UNQUALIFIED,
  sink?: (cp: Checkpoint) => void,
): Promise<Map<string, Map<string, Checkpoint>>> {
  const out = new Map<string, Map<string, Checkpoint>>();
  const keep = sink ?? ((c: Checkpoint) => {
    let m = out.get(c.processorName);
    if (!m) out.set(c.processorName, (m = new Map()));
    m.set(c.sessionFile, c);
  });
  // Streamed and interned, because a daemon keeps these for its whole life (150k of them for 50k files).
  const intern = new Interner();
  const mine = keys.source === null ? '' : ' WHERE starts_with(session_file, $1)';
  await db.each<RawRow>(checkpointsSql(db.kind) + mine, (rows) => {
    for (const r of rows) {
      const local = keys.local(r.session_file);
      if (local !== null) keep(fromRaw(r, intern, local));
    }
  }, keys.source === null ? undefined : [keys.stored('')]);
  return out;
}

/**
 * One file's checkpoints as the store has them now (`sessionFile` relative). A node that takes
 * a file's lease from another reads them again: its cache is stale by whatever the other committed.
 */
export async function loadFileCheckpoints(db: Pick<Db, 'all' | 'kind'>, sessionFile: string, keys: SessionKeys = UNQUALIFIED): Promise<Checkpoint[]> {
  const rows = await db.all<RawRow>(`${checkpointsSql(db.kind)} WHERE session_file = $1`, [keys.stored(sessionFile)]);
  const intern = new Interner();
  return rows.map((r) => fromRaw(r, intern, sessionFile));
}
