/**
 * The core's own tables, created from their declarations in checkpoint.ts.
 * Column names of `session_processor_state` are part of the operator
 * interface (they are queried by hand), so they change only through a new
 * migration, which must also hold on a database that version 1 created from
 * today's declaration (as version 2 does: `ADD COLUMN IF NOT EXISTS`).
 */
import type { Migration } from './migrations.js';
import { createTableSql } from './table.js';
import { BAD_LINES_TABLE, CHECKPOINT_TABLE } from './checkpoint.js';
import { LEASE_DDL } from './leases.js';

export const CORE_COMPONENT = 'core';

export const CORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'session_processor_state and bad-line journal',
    up: [createTableSql(CHECKPOINT_TABLE), createTableSql(BAD_LINES_TABLE)],
    postgres: [createTableSql(CHECKPOINT_TABLE, 'postgres'), createTableSql(BAD_LINES_TABLE, 'postgres')],
  },
  {
    version: 2,
    description: 'session_processor_state.key_hash for cheap set-wise checkpoint replacement',
    up: [
      'ALTER TABLE session_processor_state ADD COLUMN IF NOT EXISTS key_hash UBIGINT',
      'UPDATE session_processor_state SET key_hash = hash(processor_name, session_file)',
    ],
    // PostgreSQL upserts on the primary key's index: no hash column (state/table.ts).
    postgres: [],
  },
  {
    version: 3,
    description: 'session_processor_state.ctime_ms: a rewrite that restores size, mtime and inode still changes it',
    // 0 for existing rows: each file is probed once (fingerprints, no re-read) and its ctime recorded.
    up: ['ALTER TABLE session_processor_state ADD COLUMN IF NOT EXISTS ctime_ms DOUBLE DEFAULT 0'],
    // Version 1 on PostgreSQL already has it.
    postgres: [],
  },
  {
    version: 4,
    description: 'session_leases: which node processes a file (a shared store; an embedded one has one process)',
    up: [],
    postgres: LEASE_DDL,
  },
];
