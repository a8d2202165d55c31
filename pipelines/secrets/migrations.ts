/** The secrets processor's tables. */
import type { Migration } from '../../src/state/migrations.js';
import type { OutputTable } from '../../src/pipeline/processor.js';

export const FINDINGS_TABLE = 'secret_findings';
export const KEY_TABLE = 'secrets_key';

export const SECRETS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'secret_findings, secrets_key',
    up: [
      `CREATE TABLE IF NOT EXISTS ${FINDINGS_TABLE} (
        session_file VARCHAR NOT NULL,
        owner VARCHAR NOT NULL,
        byte_offset BIGINT NOT NULL,   -- byte offset of the line in the session file
        line_number BIGINT NOT NULL,   -- 1-based line number in the session file
        rule VARCHAR NOT NULL,
        match_index INTEGER NOT NULL,  -- n-th finding of this rule in this line
        location VARCHAR NOT NULL,     -- user_text | tool_input | tool_result | assistant_text
        excerpt VARCHAR NOT NULL,      -- at most the first 4 and last 2 characters
        fingerprint VARCHAR NOT NULL,  -- HMAC-SHA256(key, secret), 128 bits hex
        line_ts TIMESTAMP,             -- the line's own timestamp, if any
        found_at TIMESTAMP NOT NULL,
        PRIMARY KEY (session_file, byte_offset, rule, match_index)
      )`,
      // The fingerprint key, when --secrets-key is not set: 32 random bytes made once by the processor.
      `CREATE TABLE IF NOT EXISTS ${KEY_TABLE} (
        id INTEGER PRIMARY KEY,
        key_hex VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
      )`,
    ],
  },
];

export const FINDINGS_OUTPUT: OutputTable = {
  name: FINDINGS_TABLE,
  columns: [
    { name: 'session_file', type: 'VARCHAR' },
    { name: 'owner', type: 'VARCHAR' },
    { name: 'byte_offset', type: 'BIGINT' },
    { name: 'line_number', type: 'BIGINT' },
    { name: 'rule', type: 'VARCHAR' },
    { name: 'match_index', type: 'INTEGER' },
    { name: 'location', type: 'VARCHAR' },
    { name: 'excerpt', type: 'VARCHAR' },
    { name: 'fingerprint', type: 'VARCHAR' },
    { name: 'line_ts', type: 'TIMESTAMP' },
    { name: 'found_at', type: 'TIMESTAMP' },
  ],
  key: ['session_file', 'byte_offset', 'rule', 'match_index'],
  prefer: '_seq',
  onConflict: 'DO NOTHING',
};
