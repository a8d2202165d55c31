/**
 * (c) The usage processor under SIGKILL: `run --once` (a real child process,
 * dist/ built by `npm test`'s pretest) over many copies of the real corpus,
 * killed part-way several times, then rerun to completion, must leave
 * exactly the tables of a clean run, with the corpus README's figures for
 * every copy and its deduplicated total for the whole root (every copy
 * repeats the same message keys, so they count once).
 * Also covers the CLI surface: `report usage --json` and `export`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS, runCli, sandbox, spawnCli, type Sandbox } from '../helpers.js';
import { dedupFigures, expectReadmePerFile, perFileFigures, readmeFigures, snapshot } from './support.js';

const COPIES = 6;
const SUFFIXES = Array.from({ length: COPIES }, (_, i) => `-${i}`);

let sb: Sandbox;
beforeAll(() => {
  sb = sandbox('sp-usage-kill-');
  for (const suffix of SUFFIXES) {
    for (const owner of fs.readdirSync(CORPUS)) {
      if (!fs.statSync(path.join(CORPUS, owner)).isDirectory()) continue; // README.md
      const dir = path.join(sb.root, `${owner}${suffix}`);
      fs.mkdirSync(dir, { recursive: true });
      for (const f of fs.readdirSync(path.join(CORPUS, owner))) {
        if (f.endsWith('.jsonl')) fs.copyFileSync(path.join(CORPUS, owner, f), path.join(dir, f));
      }
    }
  }
});
afterAll(() => sb.cleanup());

const runArgs = (db: string) => ['run', '--once', '--json', '--root', sb.root, '--db', db, '--processors', 'usage', '--log-level', 'silent'];

describe('(c) run --once killed and restarted', () => {
  it('equals a clean run, and the README figures for every copy', async () => {
    const cleanDb = path.join(sb.dir, 'clean.duckdb');
    const t0 = Date.now();
    const first = await runCli(runArgs(cleanDb));
    const cleanMs = Date.now() - t0;
    expect(first.code, first.stderr).toBe(0);
    const clean = await snapshot(cleanDb);

    const db = path.join(sb.dir, 'killed.duckdb');
    let kills = 0;
    for (const fraction of [0.35, 0.65]) {
      const child = spawnCli(runArgs(db));
      const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_c, sig) => res(sig)));
      await new Promise((res) => setTimeout(res, Math.round(cleanMs * fraction)));
      child.kill('SIGKILL');
      if ((await exited) === 'SIGKILL') kills++;
    }
    expect(kills).toBeGreaterThan(0);

    const again = await runCli(runArgs(db));
    expect(again.code, again.stderr).toBe(0);
    expect(await snapshot(db)).toEqual(clean);
    expectReadmePerFile(await perFileFigures(db), SUFFIXES);
    expect(await dedupFigures(db)).toEqual(readmeFigures().corpus);

    // The checkpoints agree with the outputs: one more run has nothing to do.
    const third = await runCli(runArgs(db));
    expect(JSON.parse(third.stdout).processors.usage).toMatchObject({ unchanged: 13 * COPIES, bytes_read: 0 });

    // The CLI report: the documented JSON shape, each message once across all copies.
    const report = await runCli(['report', 'usage', '--by', 'owner', '--json', '--db', db]);
    expect(report.code, report.stderr).toBe(0);
    const json = JSON.parse(report.stdout);
    const corpus = readmeFigures().corpus;
    expect(json.totals).toEqual({
      key: 'total',
      messages: corpus.messages,
      input_tokens: corpus.input,
      output_tokens: corpus.output,
      cache_creation_tokens: corpus.cache_creation,
      cache_read_tokens: corpus.cache_read,
      total_tokens: corpus.input + corpus.output + corpus.cache_creation + corpus.cache_read,
      cost_usd: expect.any(Number),
      models: ['claude-3-sonnet-20240229', 'claude-sonnet-4', 'claude-sonnet-4-20250514'],
      // The complete bundled table prices claude-3-sonnet-20240229 (the 21-entry one did not).
      unpriced_models: [],
    });
    // Every message is attributed to the first copy it appeared in (same timestamps: the first file name).
    expect(json.rows.map((r: { key: string }) => r.key)).toEqual(['claude-code-log-0', 'claude-code-viewer-0', 'sniffly-0']);
    expect(Object.keys(json.rows[0])).toEqual([
      'key',
      'messages',
      'input_tokens',
      'output_tokens',
      'cache_creation_tokens',
      'cache_read_tokens',
      'total_tokens',
      'cost_usd',
      'unpriced_models',
      'models',
    ]);

    const out = path.join(sb.dir, 'export');
    const exp = await runCli(['export', '--format', 'parquet', '--out', out, '--json', '--db', db]);
    expect(exp.code, exp.stderr).toBe(0);
    const files = JSON.parse(exp.stdout).files as { relation: string; rows: number }[];
    expect(files.find((f) => f.relation === 'usage_messages_dedup')?.rows).toBe(corpus.messages);
    expect(fs.existsSync(path.join(out, 'usage_daily.parquet'))).toBe(true);
  }, 240_000); // child processes: generous on a loaded machine, a few seconds on an idle one
});
