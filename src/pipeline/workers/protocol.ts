/**
 * Messages between the main thread and the backfill workers. A job is one
 * pass over one file for some processors; the worker answers with one
 * message per read batch (in file order) and then `done` or `failed`.
 * Everything here survives structured cloning: rows, statements and carry
 * state travel, parsed lines never do (cloning them costs about what parsing
 * them does).
 */
import type { SessionFileRef } from '../../discover/session-path.js';
import type { FsPath } from '../../discover/names.js';
import type { CellValue, ProcessorRecipe } from '../processor.js';
import type { Statement } from '../unit.js';
import type { ReadOptions } from '../../read/reader.js';
import type { BadLine } from '../../read/parse.js';
import type { Fingerprints } from '../../read/fingerprint.js';

export interface WorkerSetup {
  recipes: ProcessorRecipe[];
}

export interface JobCursor {
  name: string;
  from: number;
  carry: unknown;
  retract: boolean;
  /** Bad lines counted before the pass (journal rows are kept for the first ones only). */
  badLines?: number;
}

export interface FileJob {
  type: 'job';
  id: number;
  ref: SessionFileRef;
  /** A string, or the raw bytes of a name that is not UTF-8 (a Uint8Array once cloned). */
  absPath: FsPath;
  from: number;
  until: number;
  read: ReadOptions;
  /** The number of the first line read (lines before it, good and bad, as checkpointed). */
  firstLine: number;
  cursors: JobCursor[];
}

/** One processor's unit for one batch, as data. */
export interface UnitData {
  name: string;
  /** The batch was before this processor's offset: no unit. */
  skipped?: true;
  /** The processor threw (message); it gets no further batches of this file. */
  error?: string;
  retracts: boolean;
  statements: Statement[];
  rows: [table: string, rows: CellValue[][]][];
  carry: unknown;
  carrySet: boolean;
  items: number;
  lines: number;
  bad: number;
  offset: number;
  bytes: number;
}

export interface BatchMessage {
  type: 'batch';
  job: number;
  fromOffset: number;
  toOffset: number;
  bytesRead: number;
  lines: number;
  bad: BadLine[];
  fingerprints: Fingerprints;
  last: boolean;
  units: UnitData[];
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'setup-failed'; message: string }
  | BatchMessage
  | { type: 'done'; job: number }
  | { type: 'failed'; job: number; message: string; code?: string };
