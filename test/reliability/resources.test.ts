/**
 * Resources (issue 12, section 3), on real files, real DuckDB and a real daemon process:
 * bad lines bounded in the journal, a graceful stop with a large file in flight, an mtime
 * in the future under a settle policy, and waits that a stepped-back clock does not stretch.
 */
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { line, query, runCli, runOnceIn, sandbox, silentLog, spawnCli, waitFor, type Sandbox } from '../helpers.js';
import { linesProcessor } from '../../pipelines/lines/index.js';
import { createSecretsProcessor } from '../../pipelines/secrets/index.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { startDaemon, type Daemon } from '../../src/watch/daemon.js';
import { BAD_LINES_KEPT_PER_FILE } from '../../src/state/checkpoint.js';
import { quietForMs, settleWaitMs } from '../../src/watch/settle.js';
import type { Processor } from '../../src/pipeline/processor.js';
import { fakes } from '../secrets/fakes.js';

let sb: Sandbox;
let daemon: Daemon | null = null;
const children: ChildProcess[] = [];
beforeEach(() => {
  sb = sandbox('sp-res-');
});
afterEach(async () => {
  await daemon?.stop();
  daemon = null;
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  sb.cleanup();
});

function config(over: Partial<Config> = {}): Config {
  return { ...loadConfig({}, { SESSION_ROOT: sb.root, SESSION_PIPELINE_DB: sb.db }), quietMs: 50, maxWaitMs: 300, rescanIntervalMs: 600_000, ...over };
}

describe('bad lines', () => {
  it('keep the first N in session_bad_lines with their offsets, and count them all', async () => {
    const n = 5000;
    sb.write('a/x.jsonl', line({ n: 0 }) + 'x\n'.repeat(n) + line({ n: 1 }));
    const s = await runOnceIn(sb);
    expect(s.processors.lines).toMatchObject({ lines: 2, bad_lines: n });
    const rows = await query<{ offset: number }>(sb.db, `SELECT "offset" FROM session_bad_lines ORDER BY "offset"`);
    expect(rows).toHaveLength(BAD_LINES_KEPT_PER_FILE);
    const first = Buffer.byteLength(line({ n: 0 }));
    expect(rows.map((r) => r.offset)).toEqual(Array.from({ length: BAD_LINES_KEPT_PER_FILE }, (_, i) => first + 2 * i));
    const [cp] = await query<{ bad_lines: number }>(sb.db, 'SELECT bad_lines FROM session_processor_state');
    expect(cp.bad_lines).toBe(n);
    // More bad lines appended later add to the count, not to the journal.
    sb.append('a/x.jsonl', 'y\n'.repeat(10));
    await runOnceIn(sb);
    expect(await query(sb.db, 'SELECT * FROM session_bad_lines')).toHaveLength(BAD_LINES_KEPT_PER_FILE);
    expect((await query<{ bad_lines: number }>(sb.db, 'SELECT bad_lines FROM session_processor_state'))[0].bad_lines).toBe(n + 10);
  });
});

describe('a graceful stop with a large file in flight', () => {
  it('stops between batches, commits what is done and exits well inside pm2 kill_timeout (5 s)', async () => {
    // ~160 MB of usage lines: reading it all takes far longer than the drain deadline.
    const rec = (i: number) =>
      line({ type: 'assistant', timestamp: '2025-10-01T10:00:00.000Z', requestId: `r${i}`, message: { id: `m${i}`, role: 'assistant', model: 'claude-sonnet-4-20250514', content: [{ type: 'text', text: 'x'.repeat(300) }], usage: { input_tokens: 1, output_tokens: 1 } } });
    const chunk = Array.from({ length: 10_000 }, (_, i) => rec(i)).join('');
    const fd = fs.openSync(sb.write('a/big.jsonl', ''), 'a');
    for (let i = 0; i < 320; i++) fs.writeSync(fd, chunk);
    fs.closeSync(fd);
    const size = fs.statSync(sb.file('a/big.jsonl')).size;
    const d = spawnCli(['watch', '--root', sb.root, '--db', sb.db, '--admin-port', '0', '--processors', 'lines,usage', '--watcher', 'off']);
    children.push(d);
    let err = '';
    d.stderr!.on('data', (b) => (err += b));
    // Well into the file: batches are being committed.
    await waitFor(() => (err.match(/"msg":"committed"/g) ?? []).length >= 3, 60_000, 20);
    const exited = new Promise<{ code: number | null; signal: string | null }>((res) => d.on('exit', (code, signal) => res({ code, signal })));
    const t0 = Date.now();
    d.kill('SIGTERM');
    const end = await exited;
    const ms = Date.now() - t0;
    expect(end.code).toBe(0);
    expect(ms).toBeLessThan(5000);
    const [cp] = await query<{ offset: number; size: number }>(sb.db, `SELECT "offset", size FROM session_processor_state WHERE processor_name = 'lines'`);
    expect(cp.offset).toBeGreaterThan(0);
    expect(cp.offset).toBeLessThan(size);
    // The next start resumes from there and ends exact.
    const again = await runCli(['run', '--once', '--json', '--root', sb.root, '--db', sb.db, '--processors', 'lines']);
    expect(again.code).toBe(0);
    const [stats] = await query<{ lines: number; bytes: number }>(sb.db, 'SELECT lines, bytes FROM lines_file_stats');
    expect(stats).toEqual({ lines: 3_200_000, bytes: size });
  }, 180_000);
});

describe('settle', () => {
  it('waits are bounded by the settle period, and an mtime in the future is measured from when it was seen', () => {
    expect(settleWaitMs(30_000, 40_000)).toBe(0);
    expect(settleWaitMs(30_000, 10_000)).toBe(20_005);
    // An mtime 75 years ahead: the wait is still at most the period (it overflowed setTimeout).
    const future = Date.parse('2100-01-01T00:00:00Z');
    const quiet = quietForMs(future, Date.now(), 0);
    expect(quiet).toBe(0);
    expect(settleWaitMs(30_000, quiet)).toBe(30_005);
    expect(quietForMs(future, Date.now(), 31_000)).toBe(31_000);
  });

  it('a file with an mtime in the future is scanned by secrets, without TimeoutOverflowWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const cfg = config({ secretsSettleMs: 500, watcher: 'off', rescanIntervalMs: 200 });
      const abs = sb.write('a/future.jsonl', line({ type: 'user', message: { role: 'user', content: `use ${fakes(3).ghp}` } }));
      const future = new Date('2100-01-01T00:00:00Z');
      fs.utimesSync(abs, future, future);
      daemon = await startDaemon({ config: cfg, processors: [createSecretsProcessor(cfg)], log: silentLog });
      await waitFor(async () => (await daemon!.pipeline.db.all('SELECT * FROM secret_findings')).length === 1, 10_000);
      expect(warnings).not.toContain('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('a wall clock stepped back', () => {
  it('does not stretch a retry backoff: it is judged on the monotonic clock', async () => {
    let failures = 1;
    const flaky: Processor = {
      ...linesProcessor,
      name: 'flaky',
      async process(batch, tx) {
        if (failures-- > 0) throw new Error('transient');
        return linesProcessor.process(batch, tx);
      },
    } as Processor;
    sb.write('a/s.jsonl', line({ n: 1 }));
    const realNow = Date.now;
    try {
      daemon = await startDaemon({ config: config({ retryBaseMs: 300, watcher: 'off', rescanIntervalMs: 200 }), processors: [flaky], log: silentLog });
      await waitFor(() => daemon!.pipeline.checkpoints.get('flaky', 'a/s.jsonl')?.status === 'retrying', 10_000);
      // The system clock steps back a day.
      Date.now = () => realNow() - 86_400_000;
      await waitFor(() => daemon!.pipeline.checkpoints.get('flaky', 'a/s.jsonl')?.status === 'ok', 10_000);
    } finally {
      Date.now = realNow;
    }
  });
});
