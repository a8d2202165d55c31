/**
 * Shared by the usage tests: the expected figures from the corpus README,
 * whole-table snapshots for comparing runs, and transcript line builders.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { CORPUS, query } from '../helpers.js';
import type { SessionKeys } from '../../src/discover/session-path.js';

export interface Figures {
  messages: number;
  input: number;
  output: number;
  cache_creation: number;
  cache_read: number;
}

/** The per-file table and the corpus-wide deduplicated total, read from the corpus README itself. */
export function readmeFigures(): { perFile: Map<string, Figures>; corpus: Figures } {
  const text = fs.readFileSync(path.join(CORPUS, 'README.md'), 'utf8');
  const perFile = new Map<string, Figures>();
  for (const m of text.matchAll(/^\| ([\w.-]+\/[\w.-]+\.jsonl) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$/gm)) {
    perFile.set(m[1], { messages: +m[2], input: +m[3], output: +m[4], cache_creation: +m[5], cache_read: +m[6] });
  }
  const c = /holds\s+(\d+)\s+messages:\s+input\s+(\d+),\s+output\s+(\d+),\s+cache_creation\s+(\d+),\s+cache_read\s+(\d+)/.exec(text);
  if (!c || perFile.size !== 13) throw new Error('the corpus README no longer has the expected tables');
  return { perFile, corpus: { messages: +c[1], input: +c[2], output: +c[3], cache_creation: +c[4], cache_read: +c[5] } };
}

const figures = (count = 'count(*)') => `${count} AS messages, coalesce(sum(input_tokens), 0) AS input, coalesce(sum(output_tokens), 0) AS output,
  coalesce(sum(cache_creation_tokens), 0) AS cache_creation, coalesce(sum(cache_read_tokens), 0) AS cache_read`;

/** Per-file figures (dedup within each file), every file of the root included, by relative key (`keys`: how the store holds them). */
export async function perFileFigures(db: string, keys?: SessionKeys): Promise<Map<string, Figures>> {
  const rows = await query<Figures & { session_file: string }>(
    db,
    `SELECT f.session_file, ${figures('count(m.message_key)')}
     FROM usage_files f LEFT JOIN usage_messages m USING (session_file) GROUP BY f.session_file`,
  );
  return new Map(rows.map(({ session_file, ...fig }) => [keys ? keys.local(session_file)! : session_file, fig]));
}

/** Corpus-wide figures, each message counted once across files. */
export async function dedupFigures(db: string): Promise<Figures> {
  const [row] = await query<Figures>(db, `SELECT ${figures()} FROM usage_messages_dedup`);
  return row;
}

/** Assert the README's per-file table for every copy of the corpus under `owner<suffix>` folders. */
export function expectReadmePerFile(got: Map<string, Figures>, ownerSuffixes: readonly string[] = ['']): void {
  const { perFile } = readmeFigures();
  expect(got.size).toBe(perFile.size * ownerSuffixes.length);
  for (const suffix of ownerSuffixes) {
    for (const [file, fig] of perFile) {
      const [owner, name] = file.split('/');
      const key = `${owner}${suffix}/${name}`;
      expect(got.get(key), key).toEqual(fig);
    }
  }
}

/** Every row of every usage table, in a stable order: two runs are equal iff these are. */
export async function snapshot(db: string) {
  return {
    messages: await query(db, 'SELECT * FROM usage_messages ORDER BY session_file, message_key'),
    events: await query(db, 'SELECT * FROM usage_events ORDER BY session_file, event_id'),
    results: await query(db, 'SELECT * FROM usage_tool_results ORDER BY session_file, tool_use_id'),
    files: await query(db, 'SELECT * FROM usage_files ORDER BY session_file'),
    // Without its model lists, whose order is not part of the view's contract.
    sessions: (await query(db, 'SELECT * FROM usage_sessions ORDER BY session')).map(({ models, unpriced_models, ...rest }) => rest),
  };
}

/** A deterministic PRNG (mulberry32), so a failing random chunking can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- transcript lines ----

export interface Usage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation?: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
  speed?: string;
}

export function assistant(o: {
  id: string;
  req?: string;
  ts: string;
  usage?: Usage;
  model?: string;
  content?: unknown[];
  sessionId?: string;
  extra?: Record<string, unknown>;
}): string {
  return (
    JSON.stringify({
      type: 'assistant',
      timestamp: o.ts,
      ...(o.req ? { requestId: o.req } : {}),
      ...(o.sessionId ? { sessionId: o.sessionId } : {}),
      cwd: '/work/project',
      version: '2.0.28',
      ...o.extra,
      message: {
        id: o.id,
        type: 'message',
        role: 'assistant',
        model: o.model ?? 'claude-sonnet-4-20250514',
        content: o.content ?? [{ type: 'text', text: 'ok' }],
        ...(o.usage ? { usage: o.usage } : {}),
      },
    }) + '\n'
  );
}

export function user(o: { ts: string; content: unknown; uuid?: string; sessionId?: string; extra?: Record<string, unknown> }): string {
  return (
    JSON.stringify({
      type: 'user',
      timestamp: o.ts,
      ...(o.uuid ? { uuid: o.uuid } : {}),
      ...(o.sessionId ? { sessionId: o.sessionId } : {}),
      cwd: '/work/project',
      gitBranch: 'main',
      version: '2.0.28',
      ...o.extra,
      message: { role: 'user', content: o.content },
    }) + '\n'
  );
}

export const toolUse = (id: string, name: string, input: Record<string, unknown> = {}) => ({ type: 'tool_use', id, name, input });
export const toolResult = (id: string, isError: boolean) => ({ type: 'tool_result', tool_use_id: id, content: 'r', is_error: isError });
