/**
 * The core's own tables. Column names of `session_processor_state` are part
 * of the operator interface (they are queried by hand), so they change only
 * through a new migration.
 */
import type { Migration } from './migrations.js';

export const CORE_COMPONENT = 'core';

export const CORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'session_processor_state and bad-line journal',
    up: [
      `CREATE TABLE IF NOT EXISTS session_processor_state (
        processor_name VARCHAR NOT NULL,
        session_file VARCHAR NOT NULL,
        owner VARCHAR NOT NULL,
        "offset" BIGINT NOT NULL DEFAULT 0,
        head_hash VARCHAR NOT NULL DEFAULT '',
        tail_hash VARCHAR NOT NULL DEFAULT '',
        size BIGINT NOT NULL DEFAULT 0,
        mtime_ms DOUBLE NOT NULL DEFAULT 0,
        inode BIGINT NOT NULL DEFAULT 0,
        lines_processed BIGINT NOT NULL DEFAULT 0,
        items_processed BIGINT NOT NULL DEFAULT 0,
        bad_lines BIGINT NOT NULL DEFAULT 0,
        processor_version INTEGER NOT NULL,
        processed_at TIMESTAMP,
        status VARCHAR NOT NULL DEFAULT 'ok',
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error VARCHAR,
        next_attempt_at TIMESTAMP,
        carry VARCHAR,
        PRIMARY KEY (processor_name, session_file)
      )`,
      `CREATE TABLE IF NOT EXISTS session_bad_lines (
        processor_name VARCHAR NOT NULL,
        session_file VARCHAR NOT NULL,
        "offset" BIGINT NOT NULL,
        length BIGINT NOT NULL,
        kind VARCHAR NOT NULL,
        detail VARCHAR,
        seen_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (processor_name, session_file, "offset")
      )`,
    ],
  },
  {
    version: 2,
    description: 'session_processor_state.key_hash for cheap set-wise checkpoint replacement',
    up: [
      'ALTER TABLE session_processor_state ADD COLUMN IF NOT EXISTS key_hash UBIGINT',
      'UPDATE session_processor_state SET key_hash = hash(processor_name, session_file)',
    ],
  },
];
