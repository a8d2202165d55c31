/**
 * run --once against a real temp root and a real DuckDB file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { escapingSymlinks, line, query, runOnceIn, sandbox, type Sandbox } from './helpers.js';
import { linesProcessor } from '../pipelines/lines/index.js';
import type { Processor } from '../src/pipeline/processor.js';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox();
});
afterEach(() => sb.cleanup());

const rec = (i: number, pad = 0) => line({ type: 'user', i, pad: 'x'.repeat(pad) });

/** A processor that records every line it sees, keyed by offset, so double-processing shows up as a conflict count. */
function recorder(name = 'rec', version = 1, opts: { failOn?: (l: Record<string, unknown>) => boolean } = {}): Processor {
  return {
    name,
    version,
    migrations: [
      {
        version: 1,
        description: 'seen',
        up: [`CREATE TABLE IF NOT EXISTS ${name}_seen (session_file VARCHAR, "offset" BIGINT, i BIGINT, seen INTEGER, PRIMARY KEY (session_file, "offset"))`],
      },
    ],
    tables: [
      {
        name: `${name}_seen`,
        columns: [
          { name: 'session_file', type: 'VARCHAR' },
          { name: 'offset', type: 'BIGINT' },
          { name: 'i', type: 'BIGINT' },
          { name: 'seen', type: 'INTEGER' },
        ],
        key: ['session_file', 'offset'],
        // A second delivery of the same line would bump `seen` to 2: exactly-once shows as all ones.
        onConflict: `DO UPDATE SET seen = ${name}_seen.seen + 1`,
      },
    ],
    process(batch, tx) {
      for (const l of batch.lines) {
        if (opts.failOn?.(l.value)) throw new Error(`boom at ${l.offset}`);
        tx.insert(`${name}_seen`, [batch.file.sessionFile, l.offset, Number(l.value.i ?? -1), 1]);
      }
      tx.countItems(batch.lines.length);
    },
    retract(file, tx) {
      tx.run(`DELETE FROM ${name}_seen WHERE session_file = $1`, [file]);
    },
  };
}

async function seen(name = 'rec') {
  return query<{ session_file: string; offset: number; i: number; seen: number }>(
    sb.db,
    `SELECT session_file, "offset", i, seen FROM ${name}_seen ORDER BY session_file, "offset"`,
  );
}
async function state(file: string, proc = 'rec') {
  const rows = await query<Record<string, unknown>>(
    sb.db,
    `SELECT * FROM session_processor_state WHERE processor_name = $1 AND session_file = $2`,
    [proc, file],
  );
  return rows[0];
}

describe('run --once', () => {
  it('appends in pieces; a partial line is processed only once complete', async () => {
    const f = 'alice/s1.jsonl';
    sb.write(f, rec(1) + rec(2));
    let s = await runOnceIn(sb, [recorder()]);
    expect(s.processors.rec).toMatchObject({ appended: 1, lines: 2 });
    const partial = rec(3);
    sb.append(f, partial.slice(0, 5));
    s = await runOnceIn(sb, [recorder()]);
    expect(s.processors.rec.lines).toBe(0);
    const st = await state(f);
    expect(st.offset).toBe(Buffer.byteLength(rec(1) + rec(2)));
    sb.append(f, partial.slice(5) + rec(4));
    s = await runOnceIn(sb, [recorder()]);
    expect(s.processors.rec).toMatchObject({ appended: 1, lines: 2 });
    const rows = await seen();
    expect(rows.map((r) => r.i)).toEqual([1, 2, 3, 4]);
    expect(rows.every((r) => r.seen === 1)).toBe(true);
    expect((await state(f)).offset).toBe(fs.statSync(sb.file(f)).size);
  });

  it('a second run on an unchanged tree reads nothing', async () => {
    sb.write('a/x.jsonl', rec(1) + rec(2) + '{"partial":');
    sb.write('b/y.jsonl', rec(3));
    await runOnceIn(sb, [recorder(), linesProcessor]);
    const s = await runOnceIn(sb, [recorder(), linesProcessor]);
    for (const p of Object.values(s.processors)) expect(p).toMatchObject({ scanned: 2, unchanged: 2, bytes_read: 0, lines: 0 });
  });

  it('truncation retracts and reprocesses from 0', async () => {
    const f = 'alice/t.jsonl';
    sb.write(f, rec(1) + rec(2) + rec(3));
    await runOnceIn(sb, [recorder()]);
    sb.write(f, rec(9));
    const s = await runOnceIn(sb, [recorder()]);
    expect(s.processors.rec).toMatchObject({ rewritten: 1, truncated: 1, lines: 1 });
    expect((await seen()).map((r) => [r.i, r.seen])).toEqual([[9, 1]]);
  });

  it('a rewrite at the same size retracts and reprocesses', async () => {
    const f = 'alice/r.jsonl';
    sb.write(f, rec(1) + rec(2));
    await runOnceIn(sb, [recorder()]);
    const before = fs.statSync(sb.file(f));
    sb.write(f, rec(7) + rec(8));
    fs.utimesSync(sb.file(f), before.atime, new Date(before.mtimeMs + 5000));
    expect(fs.statSync(sb.file(f)).size).toBe(before.size);
    const s = await runOnceIn(sb, [recorder()]);
    expect(s.processors.rec).toMatchObject({ rewritten: 1, lines: 2 });
    expect((await seen()).map((r) => r.i)).toEqual([7, 8]);
  });

  it('an atomic replace with the same prefix processes only the tail', async () => {
    const f = 'alice/u.jsonl';
    sb.write(f, rec(1) + rec(2));
    await runOnceIn(sb, [recorder()]);
    const tmp = path.join(sb.root, 'alice', '.u.jsonl.tmp');
    fs.writeFileSync(tmp, rec(1) + rec(2) + rec(3));
    fs.renameSync(tmp, sb.file(f));
    const s = await runOnceIn(sb, [recorder()]);
    expect(s.processors.rec).toMatchObject({ appended: 1, rewritten: 0, lines: 1 });
    expect(s.processors.rec.bytes_read).toBe(Buffer.byteLength(rec(3)));
    expect((await seen()).map((r) => [r.i, r.seen])).toEqual([[1, 1], [2, 1], [3, 1]]);
  });

  it('an atomic replace with a changed prefix retracts and reprocesses', async () => {
    const f = 'alice/v.jsonl';
    sb.write(f, rec(1) + rec(2));
    await runOnceIn(sb, [recorder()]);
    const tmp = path.join(sb.root, 'alice', '.v.tmp');
    fs.writeFileSync(tmp, rec(5) + rec(2) + rec(3));
    fs.renameSync(tmp, sb.file(f));
    const s = await runOnceIn(sb, [recorder()]);
    expect(s.processors.rec).toMatchObject({ rewritten: 1, lines: 3 });
    expect((await seen()).map((r) => [r.i, r.seen])).toEqual([[5, 1], [2, 1], [3, 1]]);
  });

  it('a deleted file keeps its outputs; it resumes if it comes back intact', async () => {
    const f = 'alice/d.jsonl';
    sb.write(f, rec(1) + rec(2));
    await runOnceIn(sb, [recorder()]);
    const saved = fs.readFileSync(sb.file(f));
    fs.rmSync(sb.file(f));
    let s = await runOnceIn(sb, [recorder()]);
    expect(s.processors.rec.deleted).toBe(1);
    expect((await state(f)).status).toBe('deleted');
    expect((await seen()).length).toBe(2);
    s = await runOnceIn(sb, [recorder()]);
    expect(s.processors.rec.deleted).toBe(0);
    fs.writeFileSync(sb.file(f), Buffer.concat([saved, Buffer.from(rec(3))]));
    s = await runOnceIn(sb, [recorder()]);
    expect(s.processors.rec).toMatchObject({ appended: 1, lines: 1 });
    expect((await state(f)).status).toBe('ok');
    expect((await seen()).map((r) => [r.i, r.seen])).toEqual([[1, 1], [2, 1], [3, 1]]);
  });

  it('a processor version bump retracts and reprocesses every file', async () => {
    sb.write('a/1.jsonl', rec(1) + rec(2));
    sb.write('a/2.jsonl', rec(3));
    await runOnceIn(sb, [recorder('rec', 1)]);
    const s = await runOnceIn(sb, [recorder('rec', 2)]);
    expect(s.processors.rec).toMatchObject({ rewritten: 2, lines: 3 });
    expect((await seen()).every((r) => r.seen === 1)).toBe(true);
    expect((await state('a/1.jsonl')).processor_version).toBe(2);
  });

  it('a throwing processor backs off, then quarantines, without blocking others', async () => {
    sb.write('a/poison.jsonl', rec(1) + line({ i: 2, poison: true }) + rec(3));
    sb.write('a/good.jsonl', rec(4));
    const bad = () => recorder('rec', 1, { failOn: (v) => v.poison === true });
    const retry = { retry: { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0 } };
    let s = await runOnceIn(sb, [bad(), linesProcessor], retry);
    expect(s.processors.rec).toMatchObject({ errors: 1, appended: 1 });
    expect(s.processors.lines).toMatchObject({ appended: 2, lines: 4, errors: 0 });
    let st = await state('a/poison.jsonl');
    expect(st).toMatchObject({ status: 'retrying', attempts: 1, offset: 0 });
    expect(String(st.last_error)).toContain('boom');
    s = await runOnceIn(sb, [bad(), linesProcessor], retry);
    expect((await state('a/poison.jsonl')).attempts).toBe(2);
    s = await runOnceIn(sb, [bad(), linesProcessor], retry);
    st = await state('a/poison.jsonl');
    expect(st).toMatchObject({ status: 'quarantined', attempts: 3 });
    s = await runOnceIn(sb, [bad(), linesProcessor], retry);
    expect(s.processors.rec.quarantined).toBe(1);
    // Other files went through; nothing of the poison file was half-committed.
    expect((await seen()).map((r) => r.session_file)).toEqual(['a/good.jsonl']);
  });

  it('backoff defers the next attempt until it is due', async () => {
    sb.write('a/p.jsonl', line({ i: 1, poison: true }));
    const bad = () => recorder('rec', 1, { failOn: (v) => v.poison === true });
    const retry = { retry: { maxAttempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 } };
    await runOnceIn(sb, [bad()], retry);
    const st = await state('a/p.jsonl');
    expect(Number(new Date(String(st.next_attempt_at)))).toBeGreaterThan(Date.now() + 30_000);
    const s = await runOnceIn(sb, [bad()], retry);
    expect(s.processors.rec).toMatchObject({ deferred: 1, errors: 0 });
    expect((await state('a/p.jsonl')).attempts).toBe(1);
  });

  it('never follows a symlink out of the root', async () => {
    escapingSymlinks(sb, rec(666), rec(1));
    const s = await runOnceIn(sb, [recorder()]);
    expect(s.files).toBe(1);
    expect((await seen()).map((r) => r.i)).toEqual([1]);
  });

  it('skips a 40 MiB single line, records it, and processes the rest', async () => {
    const f = 'alice/huge.jsonl';
    const huge = '{"big":"' + 'y'.repeat(40 * 1024 * 1024) + '"}\n';
    sb.write(f, rec(1) + huge + rec(2));
    const s = await runOnceIn(sb, [recorder()], { maxLineBytes: 32 << 20 });
    expect(s.processors.rec).toMatchObject({ lines: 2, bad_lines: 1 });
    const bad = await query<{ offset: number; length: number; kind: string }>(sb.db, 'SELECT "offset", length, kind FROM session_bad_lines');
    expect(bad).toEqual([{ offset: Buffer.byteLength(rec(1)), length: Buffer.byteLength(huge), kind: 'oversize' }]);
    expect((await state(f)).offset).toBe(fs.statSync(sb.file(f)).size);
  });

  it('malformed lines are counted with their offsets and the rest goes through', async () => {
    const f = 'alice/m.jsonl';
    const lines = [rec(1), '{not json\n', rec(2), Buffer.from([0xc3, 0x28, 0x0a]), '[1]\n', rec(3)];
    sb.write(f, Buffer.concat(lines.map((l) => (Buffer.isBuffer(l) ? l : Buffer.from(l)))));
    const s = await runOnceIn(sb, [recorder()]);
    expect(s.processors.rec).toMatchObject({ lines: 3, bad_lines: 3 });
    const kinds = await query<{ kind: string }>(sb.db, 'SELECT kind FROM session_bad_lines ORDER BY "offset"');
    expect(kinds.map((k) => k.kind)).toEqual(['invalid_json', 'invalid_utf8', 'not_object']);
  });

  it('processors keep independent offsets: a new processor catches up alone', async () => {
    sb.write('a/x.jsonl', rec(1) + rec(2));
    await runOnceIn(sb, [linesProcessor]);
    sb.append('a/x.jsonl', rec(3));
    const s = await runOnceIn(sb, [linesProcessor, recorder()]);
    expect(s.processors.lines).toMatchObject({ appended: 1, lines: 1 });
    expect(s.processors.rec).toMatchObject({ appended: 1, lines: 3 });
    const stats = await query<{ lines: number }>(sb.db, 'SELECT lines FROM lines_file_stats');
    expect(stats).toEqual([{ lines: 3 }]);
  });

  it('reads a file larger than one batch in several commits with the same result', async () => {
    const f = 'alice/big.jsonl';
    let content = '';
    for (let i = 0; i < 3000; i++) content += rec(i, 100);
    sb.write(f, content);
    const s = await runOnceIn(sb, [recorder(), linesProcessor], { read: { chunkBytes: 64 * 1024, batchBytes: 100 * 1024 } });
    expect(s.processors.rec.lines).toBe(3000);
    const rows = await seen();
    expect(rows.length).toBe(3000);
    expect(rows.every((r) => r.seen === 1)).toBe(true);
    expect(await query(sb.db, 'SELECT lines, bytes FROM lines_file_stats')).toEqual([{ lines: 3000, bytes: Buffer.byteLength(content) }]);
  });

  it('picks up subagent files in both layouts', async () => {
    sb.write('alice/sess.jsonl', rec(1));
    sb.write('alice/agent-1.jsonl', rec(2));
    sb.write('alice/sess/subagents/agent-2.jsonl', rec(3));
    sb.write('alice/sess/tool-results/x.jsonl', rec(4));
    const s = await runOnceIn(sb, [recorder()]);
    expect(s.files).toBe(3);
  });
});
