/** The secrets processor's tables: the findings (bulk-loaded, DDL derived) and its private fingerprint key. */
import type { Migration } from '../../src/state/migrations.js';
import { createTableSql, type OutputTable } from '../../src/pipeline/processor.js';

export const FINDINGS_TABLE = 'secret_findings';
export const KEY_TABLE = 'secrets_key';

export const FINDINGS_OUTPUT: OutputTable = {
  name: FINDINGS_TABLE,
  columns: [
    { name: 'session_file', type: 'VARCHAR' },
    { name: 'owner', type: 'VARCHAR', notNull: true },
    { name: 'byte_offset', type: 'BIGINT' }, // byte offset of the line in the session file
    { name: 'line_number', type: 'BIGINT', notNull: true }, // 1-based line number in the session file
    { name: 'rule', type: 'VARCHAR' },
    { name: 'match_index', type: 'INTEGER' }, // n-th finding of this rule in this line
    { name: 'location', type: 'VARCHAR', notNull: true }, // user_text | tool_input | tool_result | assistant_text
    { name: 'excerpt', type: 'VARCHAR', notNull: true }, // at most the first 4 and last 2 characters
    { name: 'fingerprint', type: 'VARCHAR', notNull: true }, // HMAC-SHA256(key, secret), 128 bits hex
    { name: 'line_ts', type: 'TIMESTAMP' }, // the line's own timestamp, if any
    { name: 'found_at', type: 'TIMESTAMP', notNull: true },
  ],
  key: ['session_file', 'byte_offset', 'rule', 'match_index'],
  prefer: '_seq',
  onConflict: 'DO NOTHING',
};

/** The fingerprint key, when --secrets-key is not set: 32 random bytes made once by the processor (both stores). */
const KEY_DDL = `CREATE TABLE IF NOT EXISTS ${KEY_TABLE} (
  id INTEGER PRIMARY KEY,
  key_hex VARCHAR NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)`;

export const SECRETS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'secret_findings, secrets_key',
    up: [createTableSql(FINDINGS_OUTPUT), KEY_DDL],
    postgres: [createTableSql(FINDINGS_OUTPUT, 'postgres'), KEY_DDL],
  },
];
