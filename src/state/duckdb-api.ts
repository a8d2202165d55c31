/**
 * `@duckdb/node-api`, loaded with `require`. It is a CommonJS package of 181 files re-exported
 * through `__exportStar`; an ESM `import` of it runs Node's CommonJS export lexer over every
 * one of them. Measured here (three alternating runs each, loaded machine): `import` 511-519 ms
 * CPU, `require` 185-206 ms, paid by every command that opens a database (an empty
 * `run --once` is mostly start-up). Types still come from the package (`import type`).
 */
import { createRequire } from 'node:module';
import type * as DuckDBApi from '@duckdb/node-api';

export const duckdb: typeof DuckDBApi = createRequire(import.meta.url)('@duckdb/node-api');
