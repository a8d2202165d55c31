/**
 * The usage processor over the real corpus (test/fixtures/corpus, vendored with its LICENSE files; copied),
 * on each store (STORES): every per-file figure of the corpus README and the corpus-wide
 * deduplicated total, reached (a) by one `run --once` and (b) by feeding the
 * files in random chunks that split lines, one pass per append. Both must
 * leave identical tables. (c) `daily` costs equal ccusage 20's to 6 decimals.
 * SIGKILL and restart is in crash.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS, STORES, copyCorpus, openPipeline, query, runCli, runOnceIn, sandboxOn, type Sandbox } from '../helpers.js';
import { runOnce } from '../../src/pipeline/once.js';
import { createUsageProcessor } from '../../pipelines/usage/index.js';
import { dedupFigures, expectReadmePerFile, perFileFigures, prng, readmeFigures, snapshot } from './support.js';
import { ccusageJson, dailyRow, haveCcusage, writeCompactCorpus } from './ccusage.js';

describe.each(STORES)('usage over the real corpus on %s', (store) => {
  let a: Sandbox;
  let clean: Awaited<ReturnType<typeof snapshot>>;

  beforeAll(async () => {
    a = await sandboxOn(store, 'sp-usage-a-');
    copyCorpus(a);
    const summary = await runOnceIn(a, [createUsageProcessor()]);
    expect(summary.processors.usage).toMatchObject({ scanned: 13, errors: 0 });
    clean = await snapshot(a.db);
  });
  afterAll(() => a.cleanup());

  describe('(a) run --once over the real corpus', () => {
    it('matches every per-file figure of the corpus README', async () => {
      expectReadmePerFile(await perFileFigures(a.db, a.keys));
    });

    it('matches the corpus-wide deduplicated total', async () => {
      expect(await dedupFigures(a.db)).toEqual(readmeFigures().corpus);
    });

    it('attributes the message shared by two files to the first one only', async () => {
      const rows = await query(a.db, `SELECT session_file, copies FROM usage_messages_dedup WHERE message_key = 'msg_004:req_004'`);
      // Same timestamp in both files: the tie goes to the first file name.
      expect(rows).toEqual([{ session_file: a.keys.stored('claude-code-log/edge_cases.jsonl'), copies: 2 }]);
    });

    it('joins the 2.0 flat agent files to their parent session', async () => {
      const parent = clean.sessions.find((s) => s.session === 'claude-code-viewer/5c0375b4-57a5-4f26-b12d-d022ee4e51b7.jsonl');
      expect(parent).toMatchObject({ files: 3, messages: 20 + 1 + 1 });
      expect(clean.sessions.some((s) => String(s.session).includes('agent-test-hash'))).toBe(false);
    });
  });

  describe('(b) random chunks with partial lines, one pass per append', () => {
    it('ends in exactly the tables of one run --once', async () => {
      const b = await sandboxOn(store, 'sp-usage-b-');
      try {
        const rnd = prng(20251128);
        const files = fs
          .readdirSync(CORPUS, { recursive: true, encoding: 'utf8' })
          .filter((f) => f.endsWith('.jsonl'))
          .map((f) => ({ rel: f.split(path.sep).join('/'), bytes: fs.readFileSync(path.join(CORPUS, f)), at: 0 }));
        // Small read batches: one pass stages several batches of a file, so one commit sees a key twice.
        const pipeline = await openPipeline(b, [createUsageProcessor()], { read: { batchBytes: 4096 } });
        let passes = 0;
        let splitLines = 0;
        try {
          for (let pending = files; pending.length > 0; pending = pending.filter((f) => f.at < f.bytes.length)) {
            const f = pending[Math.floor(rnd() * pending.length)];
            const r = rnd();
            const size = r < 0.2 ? 1 + Math.floor(rnd() * 200) : r < 0.35 ? 200 + Math.floor(rnd() * 8000) : 8000 + Math.floor(rnd() * 300_000);
            const end = Math.min(f.bytes.length, f.at + size);
            b.append(f.rel, f.bytes.subarray(f.at, end));
            if (f.bytes[end - 1] !== 0x0a) splitLines++;
            f.at = end;
            await runOnce(pipeline);
            passes++;
          }
        } finally {
          await pipeline.close();
        }
        expect(passes).toBeGreaterThan(20);
        expect(splitLines).toBeGreaterThan(10);
        expectReadmePerFile(await perFileFigures(b.db, b.keys));
        expect(await dedupFigures(b.db)).toEqual(readmeFigures().corpus);
        expect(await snapshot(b.db)).toEqual(clean);
      } finally {
        await b.cleanup();
      }
    }, 180_000);
  });

  describe.skipIf(!haveCcusage)('(c) cost equals ccusage 20', () => {
    it('daily --json: per day the four token counts equal and the cost to 6 decimals (lines re-serialized compactly, as ccusage reads them)', async () => {
      const c = await sandboxOn(store, 'sp-usage-c-');
      try {
        expect(writeCompactCorpus(c)).toBeGreaterThan(0);
        await runOnceIn(c, [createUsageProcessor()]);
        const cc = (await ccusageJson(c.root, path.join(c.dir, 'claude'), ['daily', '-z', 'UTC'])).daily as Record<string, unknown>[];
        const r = await runCli(['daily', '--json', '-z', 'UTC', '--db', c.db]);
        expect(r.code, r.stderr).toBe(0);
        const ours = JSON.parse(r.stdout).rows as Record<string, unknown>[];
        expect(cc.length).toBe(5);
        expect(ours.map(dailyRow)).toEqual(cc.map(dailyRow));
      } finally {
        await c.cleanup();
      }
    }, 120_000);
  });
});
